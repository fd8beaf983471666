"""Partitioned delivery, on one redis-server and on the tests' Redis Cluster: a
worker reads every partition, settles each entry in its own partition, and dead
letters are kept per partition, listed and replayed across them."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence

import pytest
from shared.delivery import Done, Failed, Result, StreamWorker, ensure_groups
from shared.delivery.deadletter import list_dead_letters, partition_of, replay_dead_letter
from shared.events import Event, decode, encode
from shared.partitions import Partitions
from shared.redis_client import Client
from shared.settings import DeliverySettings
from shared.streams import DEAD_LETTER, ENRICHED, INGESTED, ROUTES, Route

from tests.support.builders import event_for, news_item
from tests.support.waiting import until

FOUR = Partitions(4)
ROUTE = Route(INGESTED, "enrichment")
SETTINGS = DeliverySettings(
    partitions=4, batch_size=10, block_ms=50, claim_idle_ms=300, retry_delay_ms=20, max_deliveries=2
)


class Relay:
    """Emits every event as it came; fails entries whose uri says poison until fixed."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.fixed = False

    async def __call__(self, events: Sequence[Event]) -> list[Result]:
        self.seen.update(event.subject for event in events)
        return [
            Failed("poison") if "poison" in e.subject and not self.fixed else Done(emit=(e,))
            for e in events
        ]


async def _outputs(redis: Client) -> dict[int, list[str]]:
    return {
        p: [decode(fields).subject for _, fields in await redis.xrange(FOUR.key(ENRICHED, p))]
        for p in FOUR.indexes
    }


async def test_every_partition_is_read_and_each_entry_settles_in_its_own(
    any_redis: Client,
) -> None:
    redis = any_redis
    await ensure_groups(redis, ROUTES, FOUR)
    uris = [f"urn:t:{i}" for i in range(40)] + ["urn:t:poison"]
    for uri in uris:
        await redis.xadd(FOUR.key_for(INGESTED, uri), encode(event_for(news_item(uri))))
    assert len({FOUR.of(uri) for uri in uris}) == 4, "the test needs every partition used"
    relay = Relay()
    worker = StreamWorker(redis, ROUTE, relay, SETTINGS, consumer="w", output_stream=ENRICHED)
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: worker.stats.processed == 40 and worker.stats.dead_lettered == 1)
        outputs = await _outputs(redis)
        for uri in uris[:-1]:
            assert outputs[FOUR.of(uri)].count(uri) == 1, uri
        assert sum(len(subjects) for subjects in outputs.values()) == 40

        [letter] = await list_dead_letters(redis, FOUR)
        poison_partition = FOUR.of("urn:t:poison")
        assert partition_of(FOUR, letter.id) == poison_partition
        assert letter.stream == FOUR.key(INGESTED, poison_partition)
        assert await redis.xlen(FOUR.key(DEAD_LETTER, poison_partition)) == 1

        relay.fixed = True
        assert await replay_dead_letter(redis, FOUR, letter.id) is not None
        await until(lambda: worker.stats.processed == 41)
        assert await list_dead_letters(redis, FOUR) == []
        for stream in FOUR.keys(INGESTED):
            assert int((await redis.xpending(stream, "enrichment"))["pending"]) == 0
    finally:
        worker.stop()
        await asyncio.wait_for(task, 10)


async def test_dead_letter_ids_are_unique_and_in_time_order_across_partitions(
    any_redis: Client,
) -> None:
    """Many poison entries at once in every partition: no two letters share an
    id, each id names its partition, and the list comes oldest first."""
    redis = any_redis
    await ensure_groups(redis, ROUTES, FOUR)
    uris = [f"urn:t:poison:{i}" for i in range(24)]
    for uri in uris:
        await redis.xadd(FOUR.key_for(INGESTED, uri), encode(event_for(news_item(uri))))
    worker = StreamWorker(redis, ROUTE, Relay(), SETTINGS, consumer="w", output_stream=ENRICHED)
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: worker.stats.dead_lettered == 24)
    finally:
        worker.stop()
        await asyncio.wait_for(task, 10)
    letters = await list_dead_letters(redis, FOUR, count=100)
    ids = [letter.id for letter in letters]
    assert len(set(ids)) == 24
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    for letter in letters:
        subject = letter.original["subject"]
        assert partition_of(FOUR, letter.id) == FOUR.of(subject)


async def test_a_cluster_with_primaries_left_without_a_partition_is_told_at_start(
    cluster_redis: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """N = 1 on the tests' three primaries puts every stream on one of them: the
    services start (N is the operator's choice) but say so. N = 4 does too (its
    slots 1449, 4827, 11209, 15547 skip the middle third); N = 16 reaches all three."""
    with caplog.at_level(logging.WARNING, logger="newsfeed.delivery"):
        await ensure_groups(cluster_redis, ROUTES, Partitions(1))
    [warning] = [r.getMessage() for r in caplog.records if "NEWSFEED_PARTITIONS" in r.getMessage()]
    assert "NEWSFEED_PARTITIONS=1 leaves 2 primaries" in warning

    for n, expected in ((4, ["NEWSFEED_PARTITIONS=4 leaves 1 primaries"]), (16, [])):
        await cluster_redis.flushall()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="newsfeed.delivery"):
            await ensure_groups(cluster_redis, ROUTES, Partitions(n))
        said = [r.getMessage() for r in caplog.records if "NEWSFEED_PARTITIONS" in r.getMessage()]
        assert [m[: len(e)] for m, e in zip(said, expected, strict=False)] == expected
        assert len(said) == len(expected)
