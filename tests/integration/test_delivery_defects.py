"""Delivery defects found on one node (issue 13.6), each shown on a real redis-server."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
import redis.asyncio as aioredis
from shared.delivery import Done, Result, StreamWorker, ensure_groups
from shared.delivery.groups import PartitionsChanged
from shared.delivery.trimming import trim_stream
from shared.events import Event, encode
from shared.partitions import Partitions
from shared.redis_client import connect
from shared.settings import DeliverySettings
from shared.streams import ENRICHED, PUBLICATION_IN, ROUTES

from tests.support.builders import event_for, news_item
from tests.support.streams import ONE, stream
from tests.support.waiting import until
from tools.devstack import RedisServer, free_port

ENRICHED_0 = stream(ENRICHED)
FAST = DeliverySettings(
    batch_size=10, block_ms=50, claim_idle_ms=300, retry_delay_ms=20, max_deliveries=3
)


class AckedInBetween:
    """A client on which the group's last pending entry is acknowledged right
    after XINFO GROUPS answered: the interleaving of a worker's XACK with a
    producer's trim that made `XTRIM MINID None` fail."""

    def __init__(self, redis: aioredis.Redis, stream_name: str, entry_id: str) -> None:
        self._redis = redis
        self._stream = stream_name
        self._entry_id = entry_id

    async def xinfo_groups(self, name: str) -> Any:
        groups = await self._redis.xinfo_groups(name)
        await self._redis.xack(self._stream, PUBLICATION_IN.group, self._entry_id)
        return groups

    def __getattr__(self, name: str) -> Any:
        return getattr(self._redis, name)


async def test_a_trim_racing_the_last_acknowledgement_trims_instead_of_failing(
    redis: aioredis.Redis,
) -> None:
    """XINFO GROUPS says one entry is pending, it is acked before XPENDING: the
    trim goes on from what the group was delivered, never `XTRIM MINID None`."""
    await ensure_groups(redis, ROUTES, ONE)
    ids = [
        await redis.xadd(ENRICHED_0, encode(event_for(news_item(f"urn:t:{i}")))) for i in range(300)
    ]
    await redis.xreadgroup(PUBLICATION_IN.group, "c", {ENRICHED_0: ">"}, count=300)
    await redis.xack(ENRICHED_0, PUBLICATION_IN.group, *ids[:-1])
    racing = AckedInBetween(redis, ENRICHED_0, ids[-1])
    await trim_stream(racing, ENRICHED_0, max_len=100)
    assert await redis.xlen(ENRICHED_0) < 300
    assert int((await redis.xpending(ENRICHED_0, PUBLICATION_IN.group))["pending"]) == 0


async def _all_done(events: Sequence[Event]) -> list[Result]:
    return [Done()] * len(events)


async def test_a_worker_started_before_redis_waits_and_then_delivers(tmp_path: Any) -> None:
    """Redis unreachable at start: the worker backs off and stays not running
    (the service unready) instead of failing; once Redis is up it delivers."""
    port = free_port()
    redis = connect(f"redis://127.0.0.1:{port}/0")
    worker = StreamWorker(
        redis, PUBLICATION_IN, _all_done, FAST, consumer="early", routes_to_ensure=ROUTES
    )
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(1.0)  # a second of Redis being away: the worker must still be there
    assert not task.done()
    assert not worker.stats.running
    server = RedisServer(workdir=tmp_path / "redis", port=port).start()
    try:
        await redis.xadd(ENRICHED_0, encode(event_for(news_item("urn:t:late"))))
        await until(lambda: worker.stats.processed == 1, timeout=20)
        assert worker.stats.running
    finally:
        worker.stop()
        await asyncio.wait_for(task, 10)
        await redis.aclose()
        server.stop()


async def test_consumers_idle_far_beyond_the_claim_time_with_nothing_pending_are_removed(
    redis: aioredis.Redis,
) -> None:
    """Replicas that died leave consumers behind: the group forgets those idle
    for 20 claim times (here 2 s) holding nothing. (Redis 7.0 refreshes a
    consumer's idle time only when it is delivered something, so a quiet live
    one may go too; it is made again by its next delivery, holding nothing lost.)"""
    await ensure_groups(redis, ROUTES, ONE)
    for name in ("dead-1", "dead-2"):
        await redis.xgroup_createconsumer(ENRICHED_0, PUBLICATION_IN.group, name)
    settings = FAST.model_copy(update={"claim_idle_ms": 100})
    worker = StreamWorker(
        redis, PUBLICATION_IN, _all_done, settings, consumer="alive", routes_to_ensure=ROUTES
    )
    task = asyncio.create_task(worker.run())

    async def names() -> set[str]:
        return {c["name"] for c in await redis.xinfo_consumers(ENRICHED_0, PUBLICATION_IN.group)}

    try:
        assert {"dead-1", "dead-2"} <= await names()
        await until(lambda: _without(names(), {"dead-1", "dead-2"}), timeout=20)
    finally:
        worker.stop()
        await asyncio.wait_for(task, 10)
    assert worker.stats.forgotten_consumers == 2


async def _without(names: Any, gone: set[str]) -> bool:
    return not (await names) & gone


async def test_a_partition_count_other_than_the_datas_is_refused_at_start(
    redis: aioredis.Redis,
) -> None:
    """N is fixed for the life of the data: a service started with another N
    stops with an error that names both and says what to do."""
    await ensure_groups(redis, ROUTES, Partitions(4))
    with pytest.raises(PartitionsChanged, match=r"NEWSFEED_PARTITIONS=8.*written with 4"):
        await ensure_groups(redis, ROUTES, Partitions(8))
    await ensure_groups(redis, ROUTES, Partitions(4))  # the same N starts fine
