"""Read cost of a partitioned read model: N = 1 against N = 16, in the same run.

    python -m bench.partitions [--items 20000] [--requests 300] [--cluster]

Both layouts are filled with the same items (bench.fill: publication's own
script and documents) side by side in one Redis — their keys carry different
hash tags — or, with --cluster, in a Redis Cluster of three primaries and
three replicas (tools.devstack.RedisCluster). Then the same pages are read
from both, one call of each in turn so that both see the same machine:

  first       ReadModelReader.page(20): the newest page, documents validated
  deep        the same from a cursor half-way down the feed
  first_raw   page_members + get_many: what Redis is asked (the gateway's
  deep_raw    byte-level fast path), without building models

and each kind is reported as p50/p90/p99 (ms) per layout and as the ratio of
the N = 16 median to the N = 1 median. The cursor is the same member for
both (members name time and uri, not a partition). Figures go to stdout as
JSON; docs/scaling.md quotes them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from shared.partitions import Partitions
from shared.readmodel import (
    FEED_ALL,
    ReadModelKeys,
    ReadModelReader,
    encode_cursor,
    member_uri,
    page_members,
)
from shared.redis_client import Client, connect, get_many

from bench.fill import Filler, templates
from bench.stats import distribution, ratio
from tools.devstack import RedisCluster, RedisServer

LAYOUTS = (1, 16)
PAGE = 20
Call = Callable[[], Awaitable[object]]


async def _middle_cursor(client: Client, keys: ReadModelKeys) -> str:
    size = int(await client.zcard(keys.feed(FEED_ALL, 0)))
    [member] = await client.zrange(
        keys.feed(FEED_ALL, 0), "+", "-", desc=True, bylex=True, offset=size // 2, num=1
    )
    return encode_cursor(member)


def _calls(client: Client, keys: ReadModelKeys, cursor: str) -> dict[str, Call]:
    reader = ReadModelReader(client, keys)

    async def raw(at: str | None) -> None:
        found = await page_members(client, keys, PAGE, at)
        await get_many(client, [keys.item(member_uri(m)) for m in found.members])

    return {
        "first": lambda: reader.page(PAGE),
        "deep": lambda: reader.page(PAGE, cursor),
        "first_raw": lambda: raw(None),
        "deep_raw": lambda: raw(cursor),
    }


async def measure(url: str, items: int, requests: int) -> dict[str, Any]:
    client = connect(url)
    try:
        made, how = templates()
        layouts = {n: ReadModelKeys(Partitions(n)) for n in LAYOUTS}
        started = time.monotonic()
        for keys in layouts.values():
            await Filler(client, made, batch=500, keys=keys).fill_to(items)
        fill_s = time.monotonic() - started
        cursor = await _middle_cursor(client, layouts[1])
        calls = {n: _calls(client, keys, cursor) for n, keys in layouts.items()}
        for n in LAYOUTS:  # warm connections and caches
            for call in calls[n].values():
                await call()
        out: dict[str, Any] = {"items": items, "templates": how, "fill_s": round(fill_s, 1)}
        for name in calls[1]:
            samples: dict[int, list[float]] = {n: [] for n in LAYOUTS}
            for _ in range(requests):
                for n in LAYOUTS:
                    begun = time.perf_counter()
                    await calls[n][name]()
                    samples[n].append((time.perf_counter() - begun) * 1000)
            per = {f"N={n}": distribution(samples[n]) for n in LAYOUTS}
            out[name] = {
                **per,
                "ratio_p50": ratio(per["N=16"]["p50"], per["N=1"]["p50"]),
            }
        return out
    finally:
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--cluster", action="store_true", help="on a 3-shard Redis Cluster")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-partitions-") as tmp:
        workdir = Path(tmp)
        if args.cluster:
            cluster = RedisCluster(workdir=workdir).start()
            try:
                result = asyncio.run(measure(cluster.url, args.items, args.requests))
            finally:
                cluster.stop()
            result["redis"] = "cluster: 3 primaries + 3 replicas, AOF on"
        else:
            server = RedisServer(workdir=workdir, appendonly=False).start()
            try:
                result = asyncio.run(measure(server.url, args.items, args.requests))
            finally:
                server.stop()
            result["redis"] = "one redis-server, no AOF"
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
