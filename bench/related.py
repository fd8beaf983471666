"""CPU per item of enrichment's related-stories stage at a full window.

    .venv/bin/python -m bench.related                      # 5,000 window, batches of 100
    .venv/bin/python -m bench.related --code /tmp/nf-base  # the stage of another checkout

A redis-server of its own (no persistence; never the machine's 6379), a
window filled to `--window` signatures by one replica, then a second replica
(a fresh process's stage: its first batch is the cold start, reported apart)
clusters `--batches` batches of `--batch` new items, `--runs` times. Per
batch this process's CPU (`time.process_time`: the stage and redis-py) and
the redis-server's (/proc) are taken around `stage.run` alone; the items are
enriched beforehand, untimed. While the window is full every batch also
trims, as in the service. Figures are medians over the rounds.
"""

from __future__ import annotations

import sys

from bench.code import code_arg, use_code

# Before anything imports the project: --code decides where it comes from.
_code = code_arg(sys.argv[1:])
if _code is not None:
    use_code(_code)

import argparse  # noqa: E402
import asyncio  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import orjson  # noqa: E402
from enrichment.stages import related  # noqa: E402
from shared.items import NewsItem, utcnow  # noqa: E402
from shared.redis_client import connect  # noqa: E402

from bench.fill import enrichment_pipeline  # noqa: E402
from bench.items import corpus, news_item  # noqa: E402
from bench.procs import cpu_seconds  # noqa: E402
from bench.stats import median  # noqa: E402
from tools.devstack import RedisServer  # noqa: E402


def enriched_items(count: int) -> list[NewsItem]:
    """`count` distinct bench items as the stage sees them: after the pure enrichers."""
    enrichers, run_pipeline = enrichment_pipeline()
    now = utcnow()
    return [
        run_pipeline(news_item(sub, now), enrichers)
        for sub in corpus(count, prefix="urn:bench:related")
    ]


def batches(items: Sequence[NewsItem], size: int) -> list[Sequence[NewsItem]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


async def measure(
    server: RedisServer, items: Sequence[NewsItem], window: int, batch: int, rounds: int
) -> dict[str, Any]:
    assert server.process is not None
    redis_pid = server.process.pid
    redis = connect(server.url)
    settings = related.ClusterSettings(window_size=window)
    try:
        await redis.flushdb()
        filler = related.RelatedStories(redis, settings)
        for chunk in batches(items[:window], 200):
            await filler.run(chunk)
        measured = batches(items[window:], batch)
        replica = related.RelatedStories(redis, settings)
        started = time.perf_counter()
        await replica.run(measured[0])
        cold_ms = (time.perf_counter() - started) * 1000
        per_round = len(measured[1:]) // rounds
        stage_us: list[float] = []
        redis_us: list[float] = []
        wall_ms: list[float] = []
        for round_ in range(rounds):
            chunks = measured[1 + round_ * per_round : 1 + (round_ + 1) * per_round]
            cpu = server_cpu = wall = 0.0
            count = 0
            for chunk in chunks:
                cpu_before, redis_before = time.process_time(), cpu_seconds(redis_pid)
                wall_before = time.perf_counter()
                await replica.run(chunk)
                wall += time.perf_counter() - wall_before
                cpu += time.process_time() - cpu_before
                server_cpu += cpu_seconds(redis_pid) - redis_before
                count += len(chunk)
            stage_us.append(cpu * 1e6 / count)
            redis_us.append(server_cpu * 1e6 / count)
            wall_ms.append(wall * 1000 / len(chunks))
        return {
            "window": window,
            "window_in_redis": int(await redis.zcard(related.WINDOW)),
            "batch": batch,
            "batches_per_round": per_round,
            "stage_cpu_us_per_item": median(stage_us),
            "redis_cpu_us_per_item": median(redis_us),
            "wall_ms_per_batch": median(wall_ms),
            "cold_start_batch_ms": cold_ms,
            "rounds": {"stage_cpu_us_per_item": stage_us, "redis_cpu_us_per_item": redis_us},
        }
    finally:
        await redis.aclose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.related", description=__doc__)
    parser.add_argument("--window", type=int, default=5000, help="signatures in the window")
    parser.add_argument("--batch", type=int, default=100, help="items per batch")
    parser.add_argument("--batches", type=int, default=10, help="measured batches per round")
    parser.add_argument("--runs", type=int, default=3, help="rounds")
    parser.add_argument("--code", type=Path, help="run the stage of another checkout")
    args = parser.parse_args(argv)
    items = enriched_items(args.window + args.batch * (1 + args.batches * args.runs))
    with tempfile.TemporaryDirectory(prefix="bench-related-") as workdir:
        server = RedisServer(workdir=Path(workdir), appendonly=False).start()
        try:
            result = asyncio.run(measure(server, items, args.window, args.batch, args.runs))
        finally:
            server.stop()
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
