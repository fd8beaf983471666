"""Latency at a steady rate: ingest's 202 -> the item announced by the gateway.

The four services run as processes on a fresh redis-server. The harness
holds one Server-Sent Events connection to the gateway's /v1/stream (the
gateway's tail announces an item once publication has written it to the read
model: from then on /v1/feed and /v1/items show it) and POSTs items to
ingest at a fixed rate, open loop: item i is sent at start + i / rate on a
free keep-alive connection, however long earlier ones take. For each item,
latency = (time its SSE event arrived) - (time its 202 arrived). A warm-up
at the same rate comes first and is not counted.

`entity_model` says where enrichment's entity model runs: "inline" (every
item waits for it) or "second_pass" (the default deployment: items are
announced without its names, and its process adds them as a refinement; the
refined_* figures are 202 -> that refinement announced, over the items it
changed).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from bench.httpload import SseReader, post_paced, post_requests
from bench.pipeline import start_workers, stream_health
from bench.procs import TOKEN, Stack
from bench.stats import distribution


async def _until_steady(count: Callable[[], int], timeout_s: float, quiet_s: float = 2.0) -> None:
    """Until `count()` has not grown for `quiet_s` (refinements stop coming),
    at most `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    last, since = count(), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < quiet_s:
        await asyncio.sleep(0.1)
        if count() != last:
            last, since = count(), time.monotonic()


async def _measure(
    ingest: str,
    gateway: str,
    warmup: Sequence[bytes],
    measured: Sequence[bytes],
    uris: Sequence[str],
    rate: float,
    connections: int,
    settle_s: float,
    refinements: bool = False,
) -> dict[str, Any]:
    sse = SseReader(f"{gateway}/v1/stream", expect=set(uris))
    reader = asyncio.create_task(sse.run())
    await asyncio.wait_for(sse.connected.wait(), 10)
    try:
        if warmup:
            await post_paced(f"{ingest}/v1/items", warmup, rate, connections)
        started = time.monotonic()
        sent = await post_paced(f"{ingest}/v1/items", measured, rate, connections)
        submit_s = time.monotonic() - started
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sse.complete.wait(), settle_s)
        if refinements:
            await _until_steady(lambda: len(sse.refined), settle_s)
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    latencies = [
        (sse.seen[uri] - sent.acked_at[i]) * 1000
        for i, uri in enumerate(uris)
        if i in sent.acked_at and uri in sse.seen
    ]
    from_send = distribution(
        [(sse.seen[uri] - sent.sent_at[i]) * 1000 for i, uri in enumerate(uris) if uri in sse.seen]
    )
    dist = distribution(latencies)
    late = distribution([x * 1000 for x in sent.late])
    refined = distribution(
        [
            (sse.refined[uri] - sent.acked_at[i]) * 1000
            for i, uri in enumerate(uris)
            if i in sent.acked_at and uri in sse.refined
        ]
    )
    return {
        "items": len(uris),
        "rate_per_s": rate,
        "achieved_rate_per_s": len(uris) / submit_s if submit_s > 0 else float("nan"),
        "acked": len(sent.acked_at),
        "failures": len(sent.failures),
        "missing": sum(1 for uri in uris if uri not in sse.seen),
        "p50_ms": dist["p50"],
        "p90_ms": dist["p90"],
        "p99_ms": dist["p99"],
        "max_ms": dist["max"],
        "min_ms": dist["min"],
        "from_send_p50_ms": from_send["p50"],
        "from_send_p99_ms": from_send["p99"],
        "send_late_p99_ms": late["p99"],
        "send_late_max_ms": late["max"],
        "refined": sum(1 for uri in uris if uri in sse.refined),
        "refined_p50_ms": refined["p50"],
        "refined_p99_ms": refined["p99"],
        "refined_max_ms": refined["max"],
    }


def latency_run(
    workdir: Path,
    warmup: Sequence[dict[str, Any]],
    measured: Sequence[dict[str, Any]],
    *,
    rate: float,
    aof: bool,
    connections: int = 64,
    entity_model: str = "second_pass",
) -> dict[str, Any]:
    with Stack(workdir, aof=aof).start_redis() as stack:
        start_workers(stack, "configured", entity_model)
        ingest = stack.spawn("ingest")
        ingest.wait_ready()
        time.sleep(1.0)
        url = f"{ingest.url}/v1/items"
        result = asyncio.run(
            _measure(
                ingest.url,
                stack.procs["gateway"].url,
                post_requests(url, TOKEN, [orjson.dumps(s) for s in warmup]),
                post_requests(url, TOKEN, [orjson.dumps(s) for s in measured]),
                [s["uri"] for s in measured],
                rate,
                connections,
                settle_s=30.0,
                refinements=entity_model == "second_pass",
            )
        )
        result["entity_model"] = entity_model
        stack.check_alive()
        result.update(stream_health(stack.redis))
        return result
