"""The scheduler on a real Redis and a real feed server: due sources, leases, Retry-After."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis
from ingest.accept import Acceptor
from ingest.fetch import Fetcher, FetchPolicy
from ingest.netguard import AddressPolicy
from ingest.poller import Poller, PollPolicy, PollResult
from ingest.scheduler import Scheduler
from ingest.source_state import Registered, SourceStore, StateChange, lease_key
from ingest.sources import SourceConfig
from shared.redis_client import Client

from tests.support.streams import ONE
from tests.support.waiting import until
from tools.devstack.feed_server import FeedServer, Item, Route, rss

FETCH = FetchPolicy(timeout_s=2.0, connect_timeout_s=1.0)
EAGER = PollPolicy(min_interval_s=0)


@pytest.fixture(scope="module")
def server() -> Iterator[FeedServer]:
    running = FeedServer().start()
    yield running
    running.stop()


def replica(redis: aioredis.Redis, poller_class: type[Poller] = Poller) -> Scheduler:
    store = SourceStore(redis)
    fetcher = Fetcher(FETCH, AddressPolicy.from_setting("127.0.0.1"))
    poller = poller_class(store, fetcher, Acceptor(redis, ONE), EAGER)
    return Scheduler(store, poller, tick_s=0.02, concurrency=4, lease_s=10)


@contextlib.asynccontextmanager
async def running(*schedulers: Scheduler) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(s.run()) for s in schedulers]
    try:
        yield
    finally:
        for scheduler in schedulers:
            await scheduler.stop(grace_s=1)
        await asyncio.gather(*tasks)
        for scheduler in schedulers:
            await scheduler.poller.fetcher.aclose()


async def register(
    redis: aioredis.Redis, server: FeedServer, source_id: str, path: str, interval: int = 60
) -> SourceConfig:
    config = SourceConfig.model_validate(
        {"id": source_id, "url": server.url(path), "poll_interval_seconds": interval}
    )
    await SourceStore(redis).create(Registered(config, "api"), datetime.now(UTC))
    return config


async def test_due_sources_are_polled_and_rescheduled(
    redis: aioredis.Redis, server: FeedServer
) -> None:
    server.serve("/s/a", Route(body=rss([Item("A", guid="a")])))
    server.serve("/s/b", Route(body=rss([Item("B", guid="b")])))
    await register(redis, server, "a", "/s/a")
    await register(redis, server, "b", "/s/b")
    store = SourceStore(redis)
    scheduler = replica(redis)
    async with running(scheduler):
        await until(lambda: server.count("/s/a") == 1 and server.count("/s/b") == 1)
        await until(lambda: _outcome(store, "b"))
        await asyncio.sleep(0.2)  # a few more ticks: nothing is due again for a minute
    assert (server.count("/s/a"), server.count("/s/b")) == (1, 1)
    due = await store.due_at("a")
    assert due is not None
    assert due > datetime.now(UTC) + timedelta(seconds=50)


async def _outcome(store: SourceStore, source_id: str) -> str | None:
    return (await store.state(source_id)).last_outcome


async def test_replicas_never_fetch_the_same_source_at_the_same_time(
    redis: aioredis.Redis, server: FeedServer
) -> None:
    """Three replicas, one slow source made due again and again: one fetch at a time."""
    server.serve("/s/contended", Route(body=rss([Item("C", guid="c")]), delay_s=0.1))
    await register(redis, server, "contended", "/s/contended", interval=1)
    store = SourceStore(redis)

    async def always_due() -> None:
        while True:
            await store.schedule("contended", datetime.now(UTC))
            await asyncio.sleep(0.005)  # due again every few milliseconds, on purpose

    replicas = [replica(redis) for _ in range(3)]
    pusher = asyncio.create_task(always_due())
    try:
        async with running(*replicas):
            await until(lambda: server.count("/s/contended") >= 6)
    finally:
        pusher.cancel()
    assert server.max_inflight["/s/contended"] == 1
    assert sum(r.polls_started for r in replicas) == server.count("/s/contended")


async def test_retry_after_is_respected_by_the_scheduler(
    redis: aioredis.Redis, server: FeedServer
) -> None:
    server.serve("/s/busy", Route(status=503, headers={"Retry-After": "2"}))
    await register(redis, server, "busy", "/s/busy", interval=1)
    async with running(replica(redis)):
        await until(lambda: server.count("/s/busy") == 1)
        server.serve("/s/busy", Route(body=rss([Item("Back", guid="k")])))
        await until(lambda: server.count("/s/busy") == 2, timeout=5)
    first, second = server.seen("/s/busy")
    assert second.at - first.at >= 1.95


async def test_a_lease_is_released_only_by_its_holder(redis: aioredis.Redis) -> None:
    store = SourceStore(redis)
    now = datetime.now(UTC)
    await store.schedule("wire", now)
    token, claimed = await store.claim(now, 1, 5_000)
    assert claimed == ["wire"]
    assert (await store.claim(now + timedelta(seconds=10), 1, 5_000))[1] == []  # still held
    assert not await store.release("wire", "not-the-token")
    assert await redis.exists(lease_key("wire"))
    assert await store.release("wire", token)
    assert (await store.claim(now + timedelta(seconds=10), 1, 5_000))[1] == ["wire"]


async def test_a_claim_moves_the_source_out_of_the_due_range_for_its_lease(
    any_redis: Client,
) -> None:
    store = SourceStore(any_redis)
    now = datetime.now(UTC).replace(microsecond=0)
    for n in range(6):
        await store.schedule(f"s{n}", now - timedelta(seconds=6 - n))
    first = (await store.claim(now, 4, 60_000))[1]
    second = (await store.claim(now, 4, 60_000))[1]
    assert first == ["s0", "s1", "s2", "s3"]
    assert second == ["s4", "s5"]  # the next replica reads past the claimed ones
    assert await store.due_at("s0") == now + timedelta(seconds=60)
    assert await any_redis.exists(*(lease_key(f"s{n}") for n in range(6))) == 6


async def test_source_states_count_the_items_seen(any_redis: Client) -> None:
    store = SourceStore(any_redis)
    await store.saw("a", ["urn:1", "urn:2", "urn:2"])
    await store.saw("b", ["urn:3"])
    await store.record("a", StateChange.model_construct(last_outcome="ok"))
    states = await store.states(["a", "b", "c"])
    assert [state.items_seen for state in states] == [2, 1, 0]
    assert states[0].last_outcome == "ok"


async def test_a_lease_expires_when_its_holder_dies(redis: aioredis.Redis) -> None:
    store = SourceStore(redis)
    await store.schedule("wire", datetime.now(UTC))
    assert (await store.claim(datetime.now(UTC), 1, 100))[1] == ["wire"]

    async def claimed_again() -> bool:
        return (await store.claim(datetime.now(UTC), 1, 100))[1] == ["wire"]

    await until(claimed_again, timeout=2)


class Exploding(Poller):
    async def poll(self, source: SourceConfig) -> PollResult:
        if source.id == "broken":
            raise RuntimeError("a bug in one source's handling")
        return await super().poll(source)


async def test_an_unexpected_error_is_recorded_and_other_sources_go_on(
    redis: aioredis.Redis, server: FeedServer
) -> None:
    server.serve("/s/fine", Route(body=rss([Item("Fine", guid="f")])))
    await register(redis, server, "broken", "/s/fine")
    await register(redis, server, "fine", "/s/fine")
    store = SourceStore(redis)
    scheduler = replica(redis, Exploding)
    async with running(scheduler):
        await until(lambda: _outcome(store, "broken"))
        await until(lambda: _outcome(store, "fine"))
    broken = await store.state("broken")
    assert broken.last_error == "internal error: RuntimeError: a bug in one source's handling"
    assert broken.consecutive_failures == 1
    assert (await store.state("fine")).last_outcome == "ok"
    assert not await redis.exists(lease_key("broken"))


async def test_stopping_cancels_polls_in_flight_and_gives_leases_back(
    redis: aioredis.Redis, server: FeedServer
) -> None:
    server.serve("/s/slow", Route(body=rss([Item("S", guid="s")]) * 50, trickle_s=0.01))
    await register(redis, server, "slow", "/s/slow")
    scheduler = replica(redis)
    task = asyncio.create_task(scheduler.run())
    await until(lambda: server.count("/s/slow") == 1)
    assert await redis.exists(lease_key("slow"))
    started = time.monotonic()
    await scheduler.stop(grace_s=0.1)
    await task
    await scheduler.poller.fetcher.aclose()
    assert time.monotonic() - started < 1
    assert not await redis.exists(lease_key("slow"))


async def test_disabled_and_deleted_sources_are_not_polled(
    redis: aioredis.Redis, server: FeedServer
) -> None:
    server.serve("/s/off", Route(body=rss([Item("Off", guid="o")])))
    store = SourceStore(redis)
    config = await register(redis, server, "off", "/s/off")
    await store.put(
        Registered(config.model_copy(update={"enabled": False}), "api"), datetime.now(UTC)
    )
    await register(redis, server, "gone", "/s/off")
    await store.delete("gone")
    async with running(replica(redis)):
        await asyncio.sleep(0.2)  # a few ticks, in which neither may be fetched
    assert server.count("/s/off") == 0


async def test_an_enabled_source_missing_from_the_schedule_is_put_back(
    redis: aioredis.Redis, server: FeedServer
) -> None:
    server.serve("/s/lost", Route(body=rss([Item("L", guid="l")])))
    await register(redis, server, "lost", "/s/lost")
    store = SourceStore(redis)
    await store.unschedule("lost")
    async with running(replica(redis)):
        await until(lambda: server.count("/s/lost") == 1)


# -- scaling out ------------------------------------------------------------------------

SLOW_SOURCES = 64
PER_REPLICA = 8


async def peak_fetches(redis: aioredis.Redis, server: FeedServer, replicas: int) -> int:
    """The most fetches in flight at once while `replicas` schedulers (8 polls
    each) work through 64 due sources that take 2 s to answer."""
    store = SourceStore(redis)
    for n in range(SLOW_SOURCES):
        await store.schedule(f"slow{n}", datetime.now(UTC))
    server.reset()
    assert server.inflight_total == 0
    fetch = FetchPolicy(timeout_s=8.0, connect_timeout_s=5.0, per_host=SLOW_SOURCES)
    schedulers = [
        Scheduler(
            store,
            Poller(
                store,
                Fetcher(fetch, AddressPolicy.from_setting("127.0.0.1")),
                Acceptor(redis, ONE),
                EAGER,
            ),
            tick_s=0.02,
            concurrency=PER_REPLICA,
            lease_s=10,
        )
        for _ in range(replicas)
    ]
    async with running(*schedulers):
        # Each replica claims its 8 at once; wait until all of them reached the server.
        await until(lambda: len(server.requests) >= replicas * PER_REPLICA, timeout=5)
    peak = server.max_inflight_total
    await until(lambda: server.inflight_total == 0, timeout=5)  # the server's side ends too
    return peak


async def test_three_replicas_fetch_about_three_times_as_much_at_once_as_one(
    redis: aioredis.Redis, server: FeedServer
) -> None:
    """Issue 13.5: every replica used to read the same head of the due set and
    queue on its leases, so three ran no more fetches than one."""
    for n in range(SLOW_SOURCES):
        server.serve(f"/s/slow{n}", Route(body=rss([Item("S", guid=f"s{n}")]), delay_s=2.0))
        await register(redis, server, f"slow{n}", f"/s/slow{n}", interval=3600)

    one = await peak_fetches(redis, server, 1)
    three = await peak_fetches(redis, server, 3)

    assert one == PER_REPLICA
    # 24 on a quiet machine; on a loaded one a few of the first fetches may end
    # before the last ones start. Before claims, three replicas reached 8.
    assert three >= 2 * PER_REPLICA
    assert len({seen.path for seen in server.requests}) == len(server.requests)  # none twice
