"""Gateway: requests/s and p99 under load, against bare Starlette in the same run.

A fresh redis-server is filled with `items` enriched items (bench.fill:
publication's own script and keys). The gateway runs as a process (one
uvicorn worker, as deployed), and beside it bench.bare_app (the same
runtime) serving the captured bytes of the gateway's hot first page, and a
two-round-trip page. Each endpoint is loaded in turn with wrk (`connections`
connections, `threads` threads, `seconds` each; the Python load generator if
wrk is missing), `runs` rounds, alternating gateway and baselines within a
round so drift hits both alike.

Endpoints:
- hot: /v1/feed (the first page: the gateway's page cache answers it);
- deep: /v1/feed?cursor=<half-way down the feed> (one page, again and again);
- deep_varied: 200 different cursors from 10% to 90% down the feed, in turn (a
  wrk Lua script): the figure for "deep pages". The gateway keeps older pages
  in memory until an event (NEWSFEED_OLDER_CACHE_*), so after the first 200
  requests these are answered from memory, as they are in service between
  events;
- deep_varied_uncached: the same against a second gateway process with the
  older-page cache off (NEWSFEED_OLDER_CACHE_ENTRIES=0): every request reads
  Redis, the path a page takes the first time after an event;
- filtered: /v1/feed?<facet>=<value> (the first page of the largest tag's feed, cached);
- filtered_deep: the same filter with a cursor half-way down it;
- bare_hot: the bare app's copy of the hot page (same body, same headers);
- bare_redis2: ZRANGE + MGET (replies as bytes), documents joined, no validation:
  the floor for deep_varied_uncached.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from shared.readmodel import FEED_ALL, ReadModelKeys, decode_cursor, encode_cursor
from shared.redis_client import connect

from bench.fill import Filler, templates
from bench.procs import Stack
from bench.stats import figure, median, paired_ratios
from bench.wrk import load, wrk_path

# The bench's read model has one partition (the default): its sets are plain keys.
KEYS = ReadModelKeys()
SKIP_HEADERS = {"date", "server", "content-length", "transfer-encoding", "connection"}


async def _fill(url: str, items: int) -> dict[str, Any]:
    client = connect(url)
    try:
        made, how = templates()
        await Filler(client, made).fill_to(items)
        prefix = KEYS.feed("feed:tag:", 0)
        best, best_size = "", 0
        async for key in client.scan_iter(match=prefix + "*", count=1000):
            size = int(await client.zcard(key))
            if size > best_size:
                best, best_size = key, size
        info: dict[str, Any] = {"templates": how, "items": items}
        if best:
            info["filter"] = ("tag", best.removeprefix(prefix), best_size)
        return info
    finally:
        await client.aclose()


async def _cursors(url: str, key: str, count: int) -> list[str]:
    """`count` cursors spread from 10% to 90% of the way down the feed `key`."""
    client = connect(url)
    try:
        size = int(await client.zcard(key))
        out = []
        for k in range(count):
            offset = int(size * (0.1 + 0.8 * k / max(count - 1, 1)))
            members = await client.zrange(
                key, "+", "-", desc=True, bylex=True, offset=offset, num=1
            )
            out.append(encode_cursor(members[0]))
        return out
    finally:
        await client.aclose()


async def _cursor(url: str, key: str) -> str:
    client = connect(url)
    try:
        size = int(await client.zcard(key))
        members = await client.zrange(key, "+", "-", desc=True, bylex=True, offset=size // 2, num=1)
        return encode_cursor(members[0])
    finally:
        await client.aclose()


def gateway_run(
    workdir: Path, *, items: int, runs: int, seconds: float, connections: int, threads: int
) -> dict[str, Any]:
    with Stack(workdir, aof=False).start_redis() as stack:
        info = asyncio.run(_fill(stack.redis_url, items))
        gateway = stack.spawn("gateway")
        gateway.wait_ready()
        uncached = stack.spawn(
            "gateway_uncached", "gateway", env={"NEWSFEED_OLDER_CACHE_ENTRIES": "0"}
        )
        uncached.wait_ready()
        deep = asyncio.run(_cursor(stack.redis_url, KEYS.feed(FEED_ALL, 0)))
        endpoints = {
            "hot": f"{gateway.url}/v1/feed",
            "deep": f"{gateway.url}/v1/feed?cursor={deep}",
            "deep_varied": f"{gateway.url}/v1/feed",
            "deep_varied_uncached": f"{uncached.url}/v1/feed",
        }
        varied = workdir / "deep_paths.txt"
        varied.write_text(
            "".join(
                f"/v1/feed?cursor={c}\n"
                for c in asyncio.run(_cursors(stack.redis_url, KEYS.feed(FEED_ALL, 0), 200))
            )
        )
        paths_files = {"deep_varied": varied, "deep_varied_uncached": varied}
        if "filter" in info:
            facet, value, _ = info["filter"]
            key = KEYS.feed(f"feed:{facet}:{value}", 0)
            filtered_deep = asyncio.run(_cursor(stack.redis_url, key))
            endpoints["filtered"] = f"{gateway.url}/v1/feed?{facet}={quote(value)}"
            endpoints["filtered_deep"] = (
                f"{gateway.url}/v1/feed?{facet}={quote(value)}&cursor={filtered_deep}"
            )
        # As wrk asks: no Accept-Encoding, so the identity representation.
        plain = {"Accept-Encoding": "identity"}
        hot = httpx.get(endpoints["hot"], headers=plain, timeout=10)
        hot.raise_for_status()
        body_file, headers_file = workdir / "hot.body", workdir / "hot.headers.json"
        body_file.write_bytes(hot.content)
        headers = {k: v for k, v in hot.headers.items() if k.lower() not in SKIP_HEADERS}
        headers_file.write_text(json.dumps(headers))
        bare = stack.spawn(
            "bare",
            "bench.bare_app",
            args=(
                "--body",
                str(body_file),
                "--headers",
                str(headers_file),
                "--redis-url",
                stack.redis_url,
            ),
        )
        bare.wait_ready("/healthz")
        endpoints["bare_hot"] = f"{bare.url}/page"
        endpoints["bare_redis2"] = f"{bare.url}/redis2?cursor={quote(decode_cursor(deep))}"
        for url in endpoints.values():  # every one answers, and the caches are warm
            httpx.get(url, headers=plain, timeout=10).raise_for_status()
        rounds: list[dict[str, dict[str, Any]]] = []
        for _ in range(runs):
            round_: dict[str, dict[str, Any]] = {}
            for name, url in endpoints.items():
                round_[name] = load(
                    url,
                    connections=connections,
                    threads=threads,
                    seconds=seconds,
                    paths_file=paths_files.get(name),
                )
                time.sleep(0.5)
            rounds.append(round_)
        stack.check_alive()
    per_endpoint: dict[str, Any] = {}
    for name, url in endpoints.items():
        results = [r[name] for r in rounds]
        per_endpoint[name] = {
            "url": url.split("/", 3)[-1],
            "rps": figure([r["rps"] for r in results], "req/s"),
            "p99_ms": figure([r.get("p99_ms", float("nan")) for r in results], "ms"),
            "p50_ms": figure([r.get("p50_ms", float("nan")) for r in results], "ms"),
            "errors": sum(int(r.get("errors", 0)) + int(r.get("non_2xx", 0)) for r in results),
        }
    hot_ratios = paired_ratios(
        [r["hot"]["rps"] for r in rounds], [r["bare_hot"]["rps"] for r in rounds]
    )
    deep_ratios = paired_ratios(
        [r["deep_varied_uncached"]["rps"] for r in rounds],
        [r["bare_redis2"]["rps"] for r in rounds],
    )
    return {
        "tool": "wrk" if wrk_path() else "python-loadgen (wrk not installed)",
        "connections": connections,
        "threads": threads,
        "seconds": seconds,
        "fill": info,
        "page_bytes": len(hot.content),
        "endpoints": per_endpoint,
        "hot_page_ratio": figure(hot_ratios, "x", of="hot / bare_hot, per round"),
        "deep_vs_redis2_ratio": figure(
            deep_ratios, "x", of="deep_varied_uncached / bare_redis2, per round"
        ),
        "hot_page_ratio_of_medians": median([r["hot"]["rps"] for r in rounds])
        / median([r["bare_hot"]["rps"] for r in rounds]),
    }
