"""The shared delivery layer against a real redis-server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Sequence
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from publication.handler import make_handler as publication_handler
from redis.exceptions import ResponseError
from shared.delivery import Done, Failed, GroupLost, Result, StreamWorker, ensure_groups
from shared.delivery.deadletter import list_dead_letters, replay_dead_letter
from shared.delivery.trimming import trim_stream
from shared.events import Event, EventType, decode, encode, follow
from shared.readmodel import ReadModelReader, ReadModelWriter
from shared.settings import DeliverySettings
from shared.streams import (
    DEAD_LETTER,
    ENRICHED,
    ENRICHMENT_IN,
    INGESTED,
    PUBLICATION_IN,
    PUBLISHED,
    ROUTES,
    Route,
)

from tests.support.builders import event_for, news_item
from tests.support.streams import ONE, stream
from tests.support.waiting import until
from tools.devstack import RedisServer

REPO = Path(__file__).resolve().parents[2]
# With one partition (the default), each stage's stream is its partition 0.
ENRICHED_0 = stream(ENRICHED)
PUBLISHED_0 = stream(PUBLISHED)
DEAD_LETTER_0 = stream(DEAD_LETTER)
FAST = DeliverySettings(
    batch_size=10, block_ms=50, claim_idle_ms=300, retry_delay_ms=20, max_deliveries=3
)


async def append(redis: aioredis.Redis, stream: str, events: Sequence[Event]) -> list[str]:
    return [await redis.xadd(stream, encode(event)) for event in events]


@contextlib.asynccontextmanager
async def running(worker: StreamWorker) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(worker.run())
    try:
        yield task
    finally:
        worker.stop()
        await asyncio.wait_for(task, 10)


async def pending_count(redis: aioredis.Redis, route: Route) -> int:
    return int((await redis.xpending(stream(route.stream), route.group))["pending"])


async def published_per_uri(redis: aioredis.Redis) -> Counter[str]:
    entries = await redis.xrange(PUBLISHED_0)
    return Counter(decode(fields).subject for _, fields in entries)


class Recorder:
    """A handler that records every batch it saw; fails entries whose uri says poison."""

    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[list[str]] = []
        self.delay = delay
        self.poison_fixed = False

    async def __call__(self, events: Sequence[Event]) -> list[Result]:
        self.batches.append([event.subject for event in events])
        if self.delay:
            await asyncio.sleep(self.delay)
        return [
            Failed("poison: cannot enrich")
            if "poison" in event.subject and not self.poison_fixed
            else Done()
            for event in events
        ]

    @property
    def seen(self) -> Counter[str]:
        return Counter(uri for batch in self.batches for uri in batch)


def worker_for(redis: aioredis.Redis, handler: Recorder, name: str = "w1") -> StreamWorker:
    return StreamWorker(
        redis, PUBLICATION_IN, handler, FAST, consumer=name, routes_to_ensure=ROUTES
    )


async def test_entries_written_before_the_first_consumer_started_are_delivered(
    redis: aioredis.Redis,
) -> None:
    """Groups are created at id 0, so a backlog from before start-up is not skipped."""
    await ensure_groups(redis, ROUTES, ONE)
    await append(redis, ENRICHED_0, [event_for(news_item(f"urn:t:{i}")) for i in range(25)])
    recorder = Recorder()
    async with running(worker_for(redis, recorder)):
        await until(lambda: len(recorder.seen) == 25)
    assert await pending_count(redis, PUBLICATION_IN) == 0


async def test_backlog_in_a_stream_that_existed_before_any_group_is_delivered(
    redis: aioredis.Redis,
) -> None:
    """Even when the stream existed with entries and no group, the group starts at 0."""
    await append(redis, ENRICHED_0, [event_for(news_item(f"urn:t:{i}")) for i in range(5)])
    recorder = Recorder()
    async with running(worker_for(redis, recorder)):
        await until(lambda: len(recorder.seen) == 5)


async def test_reads_are_bounded_by_the_batch_size(redis: aioredis.Redis) -> None:
    """No handler call ever receives more than COUNT entries, however deep the backlog."""
    await ensure_groups(redis, ROUTES, ONE)
    await append(redis, ENRICHED_0, [event_for(news_item(f"urn:t:{i}")) for i in range(95)])
    recorder = Recorder()
    async with running(worker_for(redis, recorder)):
        await until(lambda: len(recorder.seen) == 95)
    assert max(len(batch) for batch in recorder.batches) <= FAST.batch_size
    assert len(recorder.batches) >= 10


async def test_entries_are_acknowledged_only_after_the_handler_returns(
    redis: aioredis.Redis,
) -> None:
    """While the handler is still working, its entries are pending, not acknowledged."""
    await ensure_groups(redis, ROUTES, ONE)
    await append(redis, ENRICHED_0, [event_for(news_item("urn:t:slow"))])
    recorder = Recorder(delay=0.5)
    async with running(worker_for(redis, recorder)):
        await until(lambda: recorder.batches)
        assert await pending_count(redis, PUBLICATION_IN) == 1
        await until(lambda: _is_zero(pending_count(redis, PUBLICATION_IN)))


async def _is_zero(count: Awaitable[int]) -> bool:
    return await count == 0


async def test_a_consumer_killed_mid_batch_loses_nothing_and_publishes_nothing_twice(
    redis_server: RedisServer, redis: aioredis.Redis
) -> None:
    """SIGKILL a publisher mid-batch; a replica claims its entries after the idle
    time; every item is published exactly once and nothing stays pending."""
    await ensure_groups(redis, ROUTES, ONE)
    items = [news_item(f"urn:kill:{i}", minute=i) for i in range(120)]
    await append(redis, ENRICHED_0, [event_for(item) for item in items])
    victim = subprocess.Popen(
        [sys.executable, "-m", "tests.support.slow_publisher", redis_server.url, "victim"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        # Let it take a batch of 50 and apply part of it.
        await until(lambda: _published_at_least(redis, 20), timeout=30)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
    finally:
        if victim.poll() is None:
            victim.kill()
    applied_by_victim = await redis.xlen(PUBLISHED_0)
    assert 0 < applied_by_victim < 120
    assert await pending_count(redis, PUBLICATION_IN) > 0  # it died holding entries

    rescuer = StreamWorker(
        redis,
        PUBLICATION_IN,
        publication_handler(ReadModelWriter(redis)),
        FAST,
        consumer="rescuer",
        routes_to_ensure=ROUTES,
        writes_to=(PUBLISHED,),
    )
    async with running(rescuer):
        await until(lambda: _published_at_least(redis, 120), timeout=30)
        await until(lambda: _is_zero(pending_count(redis, PUBLICATION_IN)))
    per_uri = await published_per_uri(redis)
    assert set(per_uri) == {item.uri for item in items}
    assert max(per_uri.values()) == 1, "an item was published twice"
    page = await ReadModelReader(redis).page(100)
    assert len(page.items) == 100
    assert page.next_cursor is not None
    assert rescuer.stats.recovered > 0


async def _published_at_least(redis: aioredis.Redis, n: int) -> bool:
    return int(await redis.xlen(PUBLISHED_0)) >= n


async def test_a_poison_entry_is_dead_lettered_after_the_cap_while_good_ones_flow(
    redis: aioredis.Redis,
) -> None:
    """An entry failing every time goes to the dead-letter stream after exactly
    max_deliveries attempts, with its error and original fields; the rest pass."""
    await ensure_groups(redis, ROUTES, ONE)
    events = [event_for(news_item(f"urn:t:{i}")) for i in range(30)]
    events.insert(7, event_for(news_item("urn:t:poison")))
    ids = await append(redis, ENRICHED_0, events)
    recorder = Recorder()
    async with running(worker_for(redis, recorder)):
        await until(lambda: _dead_letters(redis, 1))
        await until(lambda: _is_zero(pending_count(redis, PUBLICATION_IN)))
    assert recorder.seen["urn:t:poison"] == FAST.max_deliveries
    assert all(recorder.seen[f"urn:t:{i}"] == 1 for i in range(30))
    [letter] = await list_dead_letters(redis, ONE)
    assert letter.stream == ENRICHED_0
    assert letter.group == PUBLICATION_IN.group
    assert letter.entry_id == ids[7]
    assert letter.error == "poison: cannot enrich"
    assert letter.deliveries == FAST.max_deliveries
    assert decode(letter.original).subject == "urn:t:poison"


async def _dead_letters(redis: aioredis.Redis, n: int) -> bool:
    return int(await redis.xlen(DEAD_LETTER_0)) >= n


async def test_a_replayed_dead_letter_is_processed_after_the_fix(redis: aioredis.Redis) -> None:
    """`replay` puts the original back on its stream; once fixed it succeeds."""
    await ensure_groups(redis, ROUTES, ONE)
    await append(redis, ENRICHED_0, [event_for(news_item("urn:t:poison"))])
    recorder = Recorder()
    async with running(worker_for(redis, recorder)):
        await until(lambda: _dead_letters(redis, 1))
        recorder.poison_fixed = True
        [letter] = await list_dead_letters(redis, ONE)
        assert await replay_dead_letter(redis, ONE, letter.id) is not None
        await until(lambda: recorder.seen["urn:t:poison"] == FAST.max_deliveries + 1)
        await until(lambda: _is_zero(pending_count(redis, PUBLICATION_IN)))
    assert await redis.xlen(DEAD_LETTER_0) == 0


async def test_an_undecodable_entry_goes_straight_to_dead_letters(redis: aioredis.Redis) -> None:
    """Retrying cannot fix an entry that is not an event: it is dead-lettered at once."""
    await ensure_groups(redis, ROUTES, ONE)
    await redis.xadd(ENRICHED_0, {"hello": "world"})
    await append(redis, ENRICHED_0, [event_for(news_item("urn:t:fine"))])
    recorder = Recorder()
    async with running(worker_for(redis, recorder)):
        await until(lambda: _dead_letters(redis, 1))
        await until(lambda: recorder.seen["urn:t:fine"] == 1)
    [letter] = await list_dead_letters(redis, ONE)
    assert "undecodable" in letter.error
    assert letter.original == {"hello": "world"}
    assert await pending_count(redis, PUBLICATION_IN) == 0


async def test_a_whole_batch_failure_is_retried_not_lost(redis: aioredis.Redis) -> None:
    """A handler raising for the whole batch leaves entries pending and retries them."""
    await ensure_groups(redis, ROUTES, ONE)
    await append(redis, ENRICHED_0, [event_for(news_item(f"urn:t:{i}")) for i in range(3)])
    calls = 0

    async def flaky(events: Sequence[Event]) -> list[Result]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database hiccup")
        return [Done()] * len(events)

    worker = StreamWorker(redis, PUBLICATION_IN, flaky, FAST, consumer="w", routes_to_ensure=ROUTES)
    async with running(worker):
        await until(lambda: worker.stats.processed == 3)
    assert await pending_count(redis, PUBLICATION_IN) == 0
    assert await redis.xlen(DEAD_LETTER_0) == 0


async def test_replaying_the_same_event_changes_nothing(redis: aioredis.Redis) -> None:
    """Effects are keyed by (uri, version): a redelivered event is a no-op."""
    publish = publication_handler(ReadModelWriter(redis))
    event = event_for(news_item("urn:t:once"))
    assert await publish([event]) == [Done()]
    assert await publish([event]) == [Done()]
    assert (await published_per_uri(redis))["urn:t:once"] == 1
    assert len((await ReadModelReader(redis).page(10)).items) == 1


async def test_stop_finishes_the_batch_in_hand_and_leaves_nothing_pending(
    redis: aioredis.Redis,
) -> None:
    """Graceful stop (SIGTERM path): the batch being handled is finished and
    acknowledged, and the consumer leaves the group."""
    await ensure_groups(redis, ROUTES, ONE)
    await append(redis, ENRICHED_0, [event_for(news_item(f"urn:t:{i}")) for i in range(5)])
    recorder = Recorder(delay=0.5)
    worker = worker_for(redis, recorder, name="stopping")
    task = asyncio.create_task(worker.run())
    await until(lambda: recorder.batches)
    worker.stop()
    await asyncio.wait_for(task, 10)
    assert worker.stats.processed == 5
    assert await pending_count(redis, PUBLICATION_IN) == 0
    consumers = await redis.xinfo_consumers(ENRICHED_0, PUBLICATION_IN.group)
    assert all(c["name"] != "stopping" for c in consumers)


async def test_a_lost_group_stops_the_worker_with_a_clear_error(redis: aioredis.Redis) -> None:
    """If Redis loses the stream and group (restart without persistence), the
    worker raises GroupLost instead of hanging or silently starting over."""
    recorder = Recorder()
    worker = worker_for(redis, recorder)
    task = asyncio.create_task(worker.run())
    await until(lambda: worker.stats.running)
    await redis.flushdb()
    with pytest.raises(GroupLost):
        await asyncio.wait_for(task, 10)


async def test_trimming_never_drops_an_entry_a_group_has_not_acknowledged(
    redis: aioredis.Redis,
) -> None:
    """Over the cap, a stream is trimmed only below what every group still needs."""
    await ensure_groups(redis, ROUTES, ONE)
    ids = await append(redis, ENRICHED_0, [event_for(news_item(f"urn:t:{i}")) for i in range(300)])
    # The group has read the first 150 and acknowledged only the first 100.
    await redis.xreadgroup(PUBLICATION_IN.group, "c", {ENRICHED_0: ">"}, count=150)
    await redis.xack(ENRICHED_0, PUBLICATION_IN.group, *ids[:100])
    await trim_stream(redis, ENRICHED_0, max_len=100)
    remaining = [entry_id for entry_id, _ in await redis.xrange(ENRICHED_0)]
    assert set(ids[100:]) <= set(remaining), "an unacknowledged entry was trimmed"
    assert len(remaining) < 300
    pending = await redis.xpending_range(ENRICHED_0, PUBLICATION_IN.group, "-", "+", 100)
    assert len(pending) == 50


async def test_a_stream_without_groups_is_trimmed_to_its_cap(redis: aioredis.Redis) -> None:
    """news.published has no group of ours: it is simply kept near its cap."""
    await append(redis, PUBLISHED_0, [event_for(news_item(f"urn:t:{i}")) for i in range(500)])
    await trim_stream(redis, PUBLISHED_0, max_len=100)
    assert 100 <= await redis.xlen(PUBLISHED_0) < 500


async def test_injected_poison_fails_before_the_handler_sees_it(redis: aioredis.Redis) -> None:
    """NEWSFEED_FAULT_POISON_PATTERN: matching entries are dead-lettered without
    their effect ever happening; the others pass."""
    await ensure_groups(redis, ROUTES, ONE)
    await append(redis, ENRICHED_0, [event_for(news_item(u)) for u in ("urn:t:ok", "urn:t:bad")])
    settings = FAST.model_copy(update={"fault_poison_pattern": ":bad$"})
    recorder = Recorder()
    worker = StreamWorker(
        redis, PUBLICATION_IN, recorder, settings, consumer="p", routes_to_ensure=ROUTES
    )
    async with running(worker):
        await until(lambda: _dead_letters(redis, 1))
    assert recorder.seen == Counter({"urn:t:ok": 1})
    [letter] = await list_dead_letters(redis, ONE)
    assert "injected fault" in letter.error


async def test_entries_stranded_on_this_consumer_by_a_redis_failure_are_retried(
    redis: aioredis.Redis,
) -> None:
    """If Redis fails after a read and before the acknowledgement, the entries
    stay pending on this very consumer; with no other replica around, the
    worker itself takes them back after the idle time."""
    await ensure_groups(redis, ROUTES, ONE)
    await append(redis, ENRICHED_0, [event_for(news_item(f"urn:t:{i}")) for i in range(3)])
    # A read whose settle never happened, under the worker's own name.
    await redis.xreadgroup(PUBLICATION_IN.group, "only-replica", {ENRICHED_0: ">"}, count=3)
    recorder = Recorder()
    async with running(worker_for(redis, recorder, name="only-replica")):
        await until(lambda: len(recorder.seen) == 3)
        await until(lambda: _is_zero(pending_count(redis, PUBLICATION_IN)))


async def test_an_output_that_cannot_be_written_leaves_its_entry_pending_not_lost(
    redis: aioredis.Redis,
) -> None:
    """The settle writes the output before it acknowledges (a script is not rolled
    back when a command fails): while the output stream's key holds something
    else, the worker stops with the error and the entry stays pending; once the
    key is fixed, a restarted worker puts the item through, once."""
    await ensure_groups(redis, ROUTES, ONE)
    await append(redis, stream(INGESTED), [event_for(news_item("urn:t:blocked"))])
    await redis.delete(ENRICHED_0)
    await redis.set(ENRICHED_0, "not a stream")  # what an operator's mistake could leave

    async def forward(events: Sequence[Event]) -> list[Result]:
        return [Done(emit=(follow(e, EventType.enriched, "/t", e.data),)) for e in events]

    # Each failed settle counts a delivery: room for them below the dead-letter cap.
    patient = FAST.model_copy(update={"max_deliveries": 10})

    def worker() -> StreamWorker:
        return StreamWorker(
            redis, ENRICHMENT_IN, forward, patient, consumer="w", output_stream=ENRICHED
        )

    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await asyncio.wait_for(worker().run(), 15)
    assert await pending_count(redis, ENRICHMENT_IN) == 1
    await redis.delete(ENRICHED_0)
    async with running(worker()):
        await until(lambda: _is_zero(pending_count(redis, ENRICHMENT_IN)))
    assert [decode(f).subject for _, f in await redis.xrange(ENRICHED_0)] == ["urn:t:blocked"]
    assert await redis.xlen(DEAD_LETTER_0) == 0
