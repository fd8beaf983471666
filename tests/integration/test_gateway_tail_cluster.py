"""The tail on a Redis Cluster: the partitions' streams live in different slots, which
one XREAD cannot span, so each is read on its own; every entry of every partition is
dispatched once, in its partition's order, and a position past each is handed out."""

from __future__ import annotations

import asyncio

from gateway.positions import format_position
from gateway.tail import Change, Tail
from shared.events import EventType, encode
from shared.partitions import Partitions
from shared.redis_client import Client
from shared.streams import PUBLISHED

from tests.support.builders import event_for, news_item
from tests.support.waiting import until


async def test_every_partition_is_followed_on_a_cluster(cluster_redis: Client) -> None:
    partitions = Partitions(3)
    keys = partitions.keys(PUBLISHED)
    assert len({partitions.slot(p) for p in partitions.indexes}) == 3
    heard: list[Change] = []
    tail = Tail(cluster_redis, streams=keys, invalidate=lambda _: None, block_ms=100)
    tail.listeners.append(heard.append)
    running = asyncio.create_task(tail.run())
    try:
        await until(lambda: tail.ready, timeout=10, interval=0.02)
        uris = [f"urn:c:{i}" for i in range(12)]
        added = {}
        for uri in uris:
            fields = encode(event_for(news_item(uri), EventType.published))
            added[uri] = await cluster_redis.xadd(partitions.key_for(PUBLISHED, uri), fields)
        await until(
            lambda: len(heard) >= len(uris),
            timeout=10,
            interval=0.02,
            failure=lambda: f"heard only {[c.uri for c in heard]}",
        )
        assert sorted(c.uri for c in heard) == sorted(uris)
        for p in partitions.indexes:  # each partition in its own order
            mine = [c.entry_id for c in heard if c.partition == p]
            assert mine == sorted(mine, key=lambda e: tuple(map(int, e.split("-"))))
        last = heard[-1].position
        assert format_position(last).count(".") == 2
        assert all(str(added[c.uri]) == c.entry_id for c in heard)
    finally:
        tail.stop()
        await asyncio.wait_for(running, 5)
