"""Ingest's scheduler scaled out: 64 sources answering in 2 s, 1 replica against 3.

    python -m bench.scheduler [--sources 64] [--delay 2.0] [--concurrency 8]

A local feed server (tools.devstack.feed_server) answers every source after
`delay` seconds; k schedulers (k = 1, then 3), each with its own fetcher and
`concurrency` polls at most, share one redis-server, as k ingest replicas
would. Reported per k: the most fetches in flight at once, and the seconds
until every source was polled once. Figures go to stdout as JSON;
docs/scaling.md quotes them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.accept import Acceptor
from ingest.fetch import Fetcher, FetchPolicy
from ingest.netguard import AddressPolicy
from ingest.poller import Poller, PollPolicy
from ingest.scheduler import Scheduler
from ingest.source_state import Registered, SourceStore
from ingest.sources import SourceConfig
from shared.partitions import Partitions
from shared.redis_client import connect

from tools.devstack import RedisServer
from tools.devstack.feed_server import FeedServer, Item, Route, rss
from tools.devstack.waiting import until


async def _run(
    url: str, server: FeedServer, args: argparse.Namespace, replicas: int
) -> dict[str, Any]:
    redis = connect(url)
    try:
        await redis.flushdb()
        store = SourceStore(redis)
        for n in range(args.sources):
            config = SourceConfig.model_validate(
                {"id": f"s{n}", "url": server.url(f"/s/{n}"), "poll_interval_seconds": 3600}
            )
            await store.create(Registered(config, "api"), datetime.now(UTC))
        server.reset()
        fetch = FetchPolicy(timeout_s=args.delay * 4, per_host=args.sources)
        schedulers = [
            Scheduler(
                store,
                Poller(
                    store,
                    Fetcher(fetch, AddressPolicy.from_setting("127.0.0.1")),
                    Acceptor(redis, Partitions(1)),
                    PollPolicy(min_interval_s=0),
                ),
                tick_s=0.05,
                concurrency=args.concurrency,
                lease_s=60,
            )
            for _ in range(replicas)
        ]
        started = time.monotonic()
        tasks = [asyncio.create_task(s.run()) for s in schedulers]
        await until(
            lambda: (
                len({seen.path for seen in server.requests}) >= args.sources
                and not server.inflight_total
            ),
            timeout=args.sources * args.delay * 2,
            interval=0.02,
        )
        elapsed = time.monotonic() - started
        for scheduler in schedulers:
            await scheduler.stop(grace_s=1)
        await asyncio.gather(*tasks)
        for scheduler in schedulers:
            await scheduler.poller.fetcher.aclose()
        return {
            "replicas": replicas,
            "max_fetches_in_flight": server.max_inflight_total,
            "seconds_to_poll_every_source": round(elapsed, 2),
            "fetches": len(server.requests),
        }
    finally:
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=int, default=64)
    parser.add_argument("--delay", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    server = FeedServer().start()
    for n in range(args.sources):
        server.serve(f"/s/{n}", Route(body=rss([Item("S", guid=f"s{n}")]), delay_s=args.delay))
    with tempfile.TemporaryDirectory(prefix="bench-scheduler-") as tmp:
        redis = RedisServer(workdir=Path(tmp), appendonly=False).start()
        try:
            runs = [asyncio.run(_run(redis.url, server, args, k)) for k in (1, 3)]
        finally:
            redis.stop()
            server.stop()
    print(json.dumps({"sources": args.sources, "delay_s": args.delay, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
