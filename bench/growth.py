"""Growth: page latency and Redis memory as the read model holds more items.

One redis-server (no persistence: memory, not disk, is measured): database 1
holds a reference read model of the smallest size, database 0 is filled step
by step to each size (bench.fill: publication's own script and keys). At
each size, in rounds alternating the reference and the grown read model (so
the ratio is against a baseline measured at the same moment):

- page latency through `shared.readmodel.ReadModelReader.page` — what the
  gateway's HTML page, JSON Feed, RSS and Atom call for a page the cache does
  not hold: ZRANGE BYLEX + MGET + 20 NewsItem validations — for the first
  page and for a deep page (a cursor half-way down the feed), `requests`
  sequential calls each; and the two Redis round trips alone (no
  validation: close to the JSON API's path, which splices the stored
  documents), to separate Redis's growth from Python's constant cost;
- memory: (INFO used_memory now - before the first item) / items, against
  the mean byte length of the stored JSON documents (STRLEN of a sample).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from shared.items import NewsItem
from shared.readmodel import (
    FEED_ALL,
    ReadModelKeys,
    ReadModelReader,
    decode_cursor,
    encode_cursor,
    facet_keys,
    member_uri,
)
from shared.redis_client import connect

from bench.fill import Filler, templates
from bench.procs import Stack
from bench.stats import distribution, median, ratio

# The bench's read model has one partition (the default).
KEYS = ReadModelKeys()
ALL_ITEMS = KEYS.feed(FEED_ALL, 0)


async def mid_cursor(client: aioredis.Redis, key: str = ALL_ITEMS) -> str:
    size = int(await client.zcard(key))
    members = await client.zrange(key, "+", "-", desc=True, bylex=True, offset=size // 2, num=1)
    return encode_cursor(members[0])


Call = Callable[[], Awaitable[object]]


async def _calls(client: aioredis.Redis) -> dict[str, Call]:
    reader = ReadModelReader(client)
    cursor = await mid_cursor(client)
    deep_member = "(" + decode_cursor(cursor)

    async def raw(upper: str) -> None:
        members = await client.zrange(
            ALL_ITEMS, upper, "-", desc=True, bylex=True, offset=0, num=21
        )
        await client.mget([KEYS.item(member_uri(m)) for m in members[:20]])

    for _ in range(20):  # warm the connection and the caches
        await reader.page(20)
    return {
        "first": lambda: reader.page(20),
        "deep": lambda: reader.page(20, cursor),
        "first_redis_only": lambda: raw("+"),
        "deep_redis_only": lambda: raw(deep_member),
    }


async def paired_latencies(
    reference: aioredis.Redis, grown: aioredis.Redis, requests: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Latency distributions of each kind of page on both read models, the calls
    alternating one by one (reference, grown, reference, ...)."""
    calls = (await _calls(reference), await _calls(grown))
    out: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
    for name in calls[0]:
        samples: tuple[list[float], list[float]] = ([], [])
        for _ in range(requests):
            for side in (0, 1):
                started = time.perf_counter()
                await calls[side][name]()
                samples[side].append((time.perf_counter() - started) * 1000)
        for side in (0, 1):
            out[side][name] = distribution(samples[side])
    return out


async def memory_used(client: aioredis.Redis) -> int:
    return int((await client.info("memory"))["used_memory"])


async def mean_doc_bytes(client: aioredis.Redis, count: int, sample: int = 2000) -> float:
    rng = random.Random(count)
    picks = [rng.randrange(count) for _ in range(min(sample, count))]
    async with client.pipeline(transaction=False) as pipe:
        for index in picks:
            pipe.strlen(KEYS.item(f"urn:bench:stored:{index:08d}"))
        lengths = await pipe.execute()
    return sum(int(n) for n in lengths) / len(lengths)


async def memory_breakdown(
    client: aioredis.Redis, count: int, sample: int = 500
) -> dict[str, float]:
    """Bytes per item by kind of key (MEMORY USAGE): document, state hash, feed sets."""
    rng = random.Random(count + 1)
    picks = [f"urn:bench:stored:{rng.randrange(count):08d}" for _ in range(min(sample, count))]
    async with client.pipeline(transaction=False) as pipe:
        for uri in picks:
            pipe.memory_usage(KEYS.item(uri), samples=0)
            pipe.memory_usage(KEYS.state(uri), samples=0)
        usage = await pipe.execute()
    # The feed sets an item is in follow from its document (facet_keys).
    docs = await client.mget([KEYS.item(uri) for uri in picks[:100]])
    memberships = [len(facet_keys(NewsItem.model_validate_json(doc))) for doc in docs if doc]
    feeds = 0
    feed_keys = 0
    async for key in client.scan_iter(match=KEYS.feed("feed:*", 0), count=1000):
        feeds += int(await client.memory_usage(key, samples=0) or 0)
        feed_keys += 1
    return {
        "document": sum(int(u or 0) for u in usage[::2]) / len(picks),
        "state": sum(int(u or 0) for u in usage[1::2]) / len(picks),
        "feed_sets": feeds / count,
        "feed_set_keys": feed_keys,
        "index_memberships": sum(memberships) / len(memberships),
    }


async def _growth(url: str, sizes: Sequence[int], requests: int, rounds: int) -> dict[str, Any]:
    # Database 1 holds a reference read model of the smallest size for the whole
    # run; database 0 grows. Each size's latencies are measured with calls that
    # alternate between the two, so the ratio is taken against a baseline
    # measured at the same moment (drift and a busy machine hit both alike).
    sizes = sorted(sizes)
    client = connect(url)
    reference = connect(url.rsplit("/", 1)[0] + "/1")
    try:
        items, made_by = templates()
        await Filler(reference, items).fill_to(sizes[0])
        filler = Filler(client, items)
        await client.script_load("return 1")  # script cache and client buffers exist before
        empty = await memory_used(client)
        steps = []
        for size in sizes:
            started = time.monotonic()
            await filler.fill_to(size)
            fill_s = time.monotonic() - started
            used = await memory_used(client)
            per_item = (used - empty) / size
            doc = await mean_doc_bytes(client, size)
            runs, refs = [], []
            for _ in range(rounds):
                ref, run = await paired_latencies(reference, client, requests)
                refs.append(ref)
                runs.append(run)
            step: dict[str, Any] = {
                "items": size,
                "fill_seconds": fill_s,
                "memory_bytes_per_item": per_item,
                "json_bytes_per_item": doc,
                "memory_ratio": ratio(per_item, doc),
                "keys": int(await client.dbsize()),
                "memory_breakdown_bytes_per_item": await memory_breakdown(client, size),
            }
            for name in runs[0]:
                for stat in ("p50", "p99"):
                    step[f"{name}_{stat}_ms"] = median(run[name][stat] for run in runs)
                step[f"{name}_p50_vs_reference"] = median(
                    ratio(run[name]["p50"], ref[name]["p50"])
                    for run, ref in zip(runs, refs, strict=True)
                )
            steps.append(step)
        return {"templates": made_by, "reference_items": sizes[0], "steps": steps}
    finally:
        await client.aclose()
        await reference.aclose()


def growth_run(workdir: Path, sizes: Sequence[int], requests: int, rounds: int) -> dict[str, Any]:
    with Stack(workdir, aof=False).start_redis() as stack:
        result = asyncio.run(_growth(stack.redis_url, sizes, requests, rounds))
    large = result["steps"][-1]
    # p50 at the largest size over p50 at the smallest, measured in alternation.
    result["first_page_ratio"] = large["first_p50_vs_reference"]
    result["deep_page_ratio"] = large["deep_p50_vs_reference"]
    result["page_ratio"] = max(result["first_page_ratio"], result["deep_page_ratio"])
    result["redis_only_page_ratio"] = max(
        large["first_redis_only_p50_vs_reference"], large["deep_redis_only_p50_vs_reference"]
    )
    result["memory_ratio"] = large["memory_ratio"]
    return result
