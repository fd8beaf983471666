"""Live readers through the fault suite's faults: gateway SIGKILLs, Redis killed
and restarted on its AOF, both at once, a stream trimmed past a reader's
position, and Redis restarted with no data.

Each reader follows the gateway's live stream as a browser's `EventSource`
does (tests/support/event_source.py: reconnect after the `retry` delay with
`Last-Event-ID`; a non-200 answer makes it give up) while items are published,
updated and killed through the real services. Checked from the reader's side:
it never gave up; no event id came twice and ids never went back; each item's
versions came in order; every event on `news.published` reached it, unless it
was told to reload (`reset`), which is allowed only where the stream no longer
held its position; and the page it would show, applying each event and
reloading on `reset`, is the feed.

The faults follow one another on one pipeline (starting it is most of the
cost). `make test` runs them with 3 partitions (composite ids); `make chaos`
with 1 and 3, and more rounds of the restarts (`--chaos-items` / 2,500).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis as sync_redis
from shared.partitions import Partitions
from shared.streams import PUBLISHED

from tests.support.event_source import EventSource, PageReader
from tests.support.live import Publisher, Reader, Readers, View, feed_versions, published
from tests.support.services import Pipeline
from tests.support.waiting import poll
from tools.devstack import RedisServer, ServiceProcess

FAST = {
    "NEWSFEED_CLAIM_IDLE_MS": "1500",
    "NEWSFEED_RETRY_DELAY_MS": "100",
    "NEWSFEED_BLOCK_MS": "100",
}
LIVE = {"NEWSFEED_SSE_RETRY_MS": "200", "NEWSFEED_SSE_HEARTBEAT_S": "2"}


@pytest.fixture
def redis_aof(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of the test's own, with AOF everysec as the fault suite runs it."""
    server = RedisServer(workdir=tmp_path / "redis", appendonly=True).start()
    yield server
    server.stop()


@pytest.fixture
def readers() -> Iterator[Readers]:
    running = Readers()
    yield running
    running.close()


def start(redis: RedisServer, tmp_path: Path, partitions: int) -> Pipeline:
    return Pipeline(
        redis.url,
        tmp_path / "logs",
        extra_env={**FAST, "NEWSFEED_PARTITIONS": str(partitions)},
        service_env={"gateway": LIVE},
    ).start()


def open_readers(readers: Readers, gateway: str, prefix: str) -> list[Reader]:
    """A reader of /v1/stream and one of the HTML page (its stream URL names the
    position the page was rendered at)."""
    page = asyncio.run(PageReader(gateway).open())
    followed = [
        readers.follow(Reader(EventSource(f"{gateway}/v1/stream", "stream"), gateway, prefix)),
        readers.follow(Reader(page, gateway, prefix)),
    ]
    poll(lambda: all(reader.source.connections for reader in followed))
    return followed


def more_events(followed: list[Reader], count: int = 4, timeout: float = 30) -> None:
    """Wait until every reader has `count` events more than now."""
    marks = [len(reader.source.events) for reader in followed]
    poll(
        lambda: all(
            len(r.source.events) >= mark + count for r, mark in zip(followed, marks, strict=True)
        ),
        timeout,
    )


def up(service: ServiceProcess) -> bool:
    """Whether the process answers HTTP (ready or not)."""
    try:
        return httpx.get(f"{service.url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def tried_again(followed: list[Reader]) -> Callable[[], bool]:
    """A check: every reader tried to connect twice more (or gave up) since now."""
    since = [reader.source.attempts for reader in followed]

    def check() -> bool:
        return all(
            r.source.failed is not None or r.source.attempts > mark + 1
            for r, mark in zip(followed, since, strict=True)
        )

    return check


def kill_gateway(gateway: ServiceProcess) -> None:
    gateway.signal(signal.SIGKILL)
    assert gateway.process is not None
    gateway.process.wait(10)


def settled(pipeline: Pipeline, publisher: Publisher) -> View:
    """The feed once everything ingest acknowledged went through."""
    assert not publisher.failures, publisher.failures
    expected = publisher.expected()
    poll(lambda: feed_versions(pipeline.gateway, publisher.prefix) == expected, 90, 0.5)
    return expected


def check_readers(
    followed: list[Reader],
    pipeline: Pipeline,
    partitions: int,
    truth: View,
    resets_after: dict[str, int],
) -> None:
    """What each reader got, against what was published; `resets_after`: a reset
    since the last check is allowed only on connections after that many (before
    it, the stream held everything the reader had)."""
    every = {key for _, _, key in published(pipeline.redis_url, partitions, followed[0].prefix)}

    def complete(reader: Reader) -> bool:
        return reader.view() == truth and (bool(reader.source.resets) or every <= reader.keys())

    with contextlib.suppress(AssertionError):  # the assertions below say what is missing
        poll(lambda: all(complete(reader) for reader in followed), 30)
    for reader in followed:
        source = reader.source
        name = source.name
        print(
            f"[live] {name}: {len(source.events)} events, {len(reader.keys())} distinct, "
            f"{len(every)} published, {source.connections} connections, "
            f"resets at {source.resets}, {len(source.errors)} connection errors"
        )
        assert source.failed is None, f"{name} gave up: {source.failed}"
        assert not reader.duplicate_ids(), f"{name} got ids twice: {reader.duplicate_ids()[:5]}"
        assert not reader.ids_going_back(), f"{name}: ids went back {reader.ids_going_back()[:3]}"
        assert not reader.out_of_order(), f"{name}: {reader.out_of_order()[:5]}"
        early = [
            i
            for i in source.resets
            if i >= reader.checked and source.events[i].connection <= resets_after[name]
        ]
        assert not early, f"{name} was told to reload though the stream held its position"
        if not source.resets:
            missing = sorted(every - reader.keys())
            assert not missing, f"{name} missed {len(missing)} events: {missing[:5]}"
        view = reader.view()
        wrong = {
            u: (view.get(u), truth.get(u))
            for u in view.keys() | truth
            if view.get(u) != truth.get(u)
        }
        assert not wrong, (
            f"{name}'s page differs from the feed (page, feed): {list(wrong.items())[:5]}"
        )
        reader.checked = len(source.events)


def stream_reader(gateway: str, prefix: str, name: str) -> Reader:
    return Reader(EventSource(f"{gateway}/v1/stream", name), gateway, prefix)


def connections(followed: list[Reader]) -> dict[str, int]:
    return {reader.source.name: reader.source.connections for reader in followed}


def reset_since(reader: Reader, connections: int) -> bool:
    return any(reader.source.events[i].connection > connections for i in reader.source.resets)


@pytest.mark.parametrize("partitions", [1, 3])
def test_live_readers_through_the_fault_suite(
    partitions: int,
    redis_aof: RedisServer,
    readers: Readers,
    tmp_path: Path,
    chaos_items: int,
) -> None:
    """(a) gateway SIGKILL and restart, (b) Redis kill -9 and restart on its AOF,
    then both at once, while items are published: readers resume where they
    were and see every event once and in order. (c) A reader and a page away
    while the stream is trimmed past their positions and the gateway restarts
    (its memory gone too): `reset` first on coming back, then every live event.
    (d) Redis back with no data: every reader is told to reload, also one that
    comes back later. After each, every reader's page equals the feed."""
    if partitions == 1 and chaos_items < 10_000:
        pytest.skip("make chaos runs this with one partition too")
    prefix = f"urn:live:p{partitions}:"
    pipeline = start(redis_aof, tmp_path, partitions)
    gateway = pipeline.services["gateway"]
    publisher = Publisher(pipeline.ingest, prefix, rate_per_s=8)
    try:
        followed = open_readers(readers, pipeline.gateway, prefix)
        away = readers.follow(stream_reader(pipeline.gateway, prefix, "away"))
        followed.append(away)
        publisher.start()
        resets_after: dict[str, int] = {}
        for _ in range(max(1, chaos_items // 2500)):
            more_events(followed)
            kill_gateway(gateway)  # (a)
            gateway.restart()
            gateway.wait_ready()
            more_events(followed)
            resets_after = {**connections(followed), **resets_after}
            redis_aof.kill()  # (b), on its AOF
            redis_aof.start()
            more_events(followed)
            redis_aof.kill()  # both: the gateway back first, its Redis still away
            kill_gateway(gateway)
            gateway.restart()
            poll(lambda: up(gateway), 60)
            poll(tried_again(followed))  # while Redis is away
            redis_aof.start()
            gateway.wait_ready()
            more_events(followed)
        publisher.stop()
        truth = settled(pipeline, publisher)
        check_readers(followed, pipeline, partitions, truth, resets_after)
        assert all(reader.source.connections >= 3 for reader in followed)

        # (c) trimmed past a reader's position and a page's
        readers.pause(away)
        page = Reader(asyncio.run(PageReader(pipeline.gateway).open()), pipeline.gateway, prefix)
        page.source.name = "page rendered before trimming"
        publisher.publish(10)
        settled(pipeline, publisher)
        client = sync_redis.Redis.from_url(pipeline.redis_url, decode_responses=True)
        for name in Partitions(partitions).keys(PUBLISHED):
            client.xtrim(name, maxlen=1, approximate=False)  # as retention would, further
        client.close()
        before = {**connections(followed), page.source.name: 0}
        kill_gateway(gateway)
        gateway.restart()
        gateway.wait_ready()
        readers.follow(away)
        followed.append(readers.follow(page))
        poll(lambda: reset_since(away, before["away"]) and page.source.resets)
        publisher.publish(3)
        check_readers(followed, pipeline, partitions, settled(pipeline, publisher), before)
        for reader in (away, page):
            source = reader.source
            first = next(e for e in source.events if e.connection == source.connections)
            assert first.type == "reset", f"{source.name}: {first}"

        # (d) Redis back with no data: what the readers were shown is gone
        readers.pause(away)
        before = connections(followed)
        redis_aof.kill()
        shutil.rmtree(redis_aof.workdir)
        redis_aof.start()
        for name in ("enrichment", "publication"):  # they exit on finding their groups gone
            service = pipeline.services[name]
            assert service.process is not None
            service.process.wait(30)
            service.restart()
            service.wait_ready()
        publisher.versions.clear()
        live = [reader for reader in followed if reader is not away]
        poll(lambda: all(reset_since(reader, before[reader.source.name]) for reader in live))
        readers.follow(away)
        publisher.publish(4)
        check_readers(followed, pipeline, partitions, settled(pipeline, publisher), before)
        assert reset_since(away, before["away"])
    finally:
        publisher.stop()
        pipeline.stop()
