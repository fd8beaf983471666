"""Live updates over a real socket: the gateway under uvicorn in this process, a real
Redis, publication's handler writing news.published, SSE clients reading it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import uvicorn
from gateway.app import Settings, build
from gateway.web import Gateway
from prometheus_client import REGISTRY
from publication.handler import make_handler
from shared.delivery import Handler
from shared.events import EventType, encode
from shared.items import Entity, NewsItem, PubStatus
from shared.partitions import Partitions
from shared.readmodel import ReadModelWriter
from shared.readmodel.feeds import FIELD as FEEDS
from shared.readmodel.feeds import feeds_field
from shared.service import Lifecycle
from shared.streams import PUBLISHED
from starlette.applications import Starlette

from tests.support.builders import event_for, news_item
from tests.support.redis_stats import redis_calls
from tests.support.sse import sse
from tests.support.streams import stream
from tests.support.waiting import until
from tools.devstack import RedisServer, free_port

PUBLISHED_0 = stream(PUBLISHED)


@dataclass
class Live:
    url: str
    app: Starlette
    server: uvicorn.Server
    redis: aioredis.Redis
    handle: Handler

    @property
    def gateway(self) -> Gateway:
        gateway: Gateway = self.app.state.gateway
        return gateway

    async def publish(self, *items: NewsItem) -> None:
        await self.handle([event_for(item) for item in items])

    async def stream_ids(self) -> list[str]:
        return [entry_id for entry_id, _ in await self.redis.xrange(stream(PUBLISHED))]


@contextlib.asynccontextmanager
async def live_gateway(
    redis: aioredis.Redis,
    redis_server: RedisServer,
    streams: tuple[str, ...] | None = None,
    http: str = "httptools",
    **settings: Any,
) -> AsyncIterator[Live]:
    lifecycle = Lifecycle()
    app = build(
        Settings(redis_url=redis_server.url, tail_block_ms=50, **settings), lifecycle, streams
    )
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="on",
        log_config=None,
        access_log=False,
        http=http,
    )
    server = uvicorn.Server(config)
    lifecycle.server = server
    task = asyncio.create_task(server.serve())
    gateway: Gateway = app.state.gateway

    def serving() -> bool:
        assert not task.done(), task
        return bool(server.started and gateway.tail.ready)

    await until(serving, timeout=30, interval=0.01)
    try:
        yield Live(
            f"http://127.0.0.1:{port}", app, server, redis, make_handler(ReadModelWriter(redis))
        )
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


async def subscribed(live: Live, count: int) -> None:
    """`count` clients are open and hearing live events (past their backlog)."""
    hub = live.gateway.hub
    await until(lambda: hub.clients == count and not hub.joining, timeout=5)


async def test_published_updated_and_killed_arrive_with_their_stream_ids(
    redis: aioredis.Redis, redis_server: RedisServer
) -> None:
    async with live_gateway(redis, redis_server) as live, sse(live.url) as stream:
        await subscribed(live, 1)
        await live.publish(news_item("urn:a", headline="First"))
        published = await stream.next_named()
        assert published.event == "published"
        assert published.id == (await live.stream_ids())[-1]
        assert published.data["uri"] == "urn:a"
        assert published.data["item"]["headline"] == "First"
        await live.publish(news_item("urn:a", version=2, headline="First, updated"))
        updated = await stream.next_named()
        assert (updated.event, updated.data["item"]["headline"]) == ("updated", "First, updated")
        await live.publish(
            news_item("urn:a", version=3, pubstatus=PubStatus.canceled, ednote="Withdrawn.")
        )
        killed = await stream.next_named()
        assert killed.event == "killed"
        assert killed.data["ednote"] == "Withdrawn."
        assert "item" not in killed.data  # a killed item's content is not sent again
        assert [published.id, updated.id, killed.id] == await live.stream_ids()
        assert live.gateway.hub.direct == 1  # written straight to the transport


async def test_a_lone_event_waits_for_no_tick_and_a_burst_after_it_is_one_write_a_tick_later(
    redis: aioredis.Redis, redis_server: RedisServer
) -> None:
    """At most one write per client per tick, and no tick's wait for an event that
    comes when nothing was written for a tick (a 1 s tick, to tell them apart)."""
    async with (
        live_gateway(redis, redis_server, sse_tick_ms=1000) as live,
        sse(live.url) as stream,
    ):
        await subscribed(live, 1)
        began = time.monotonic()
        await live.publish(news_item("urn:lone", minute=1))
        assert (await stream.next_named()).data["uri"] == "urn:lone"
        lone = time.monotonic()
        await live.publish(news_item("urn:b", minute=2))
        await live.publish(news_item("urn:c", minute=3))
        assert [(await stream.next_named()).data["uri"] for _ in range(2)] == ["urn:b", "urn:c"]
        burst = time.monotonic()
    assert lone - began < 0.7  # not held for the tick
    assert burst - lone > 0.8  # held until a tick after the lone event's write


async def test_a_client_resuming_while_events_wait_for_their_tick_gets_each_once(
    redis: aioredis.Redis, redis_server: RedisServer
) -> None:
    """An event held for its tick is already in the backlog of a client that
    resumes meanwhile: the client gets it from the backlog, and not again from the
    tick's write once it is live."""
    async with (
        live_gateway(redis, redis_server, sse_tick_ms=1000) as live,
        sse(live.url) as first,
    ):
        await subscribed(live, 1)
        await live.publish(news_item("urn:a", minute=1))
        a = await first.next_named()
        await live.publish(news_item("urn:b", minute=2))  # held for the tick
        assert a.id is not None
        async with sse(live.url, headers={"Last-Event-ID": a.id}) as resumed:
            assert (await resumed.next_named()).data["uri"] == "urn:b"
            await subscribed(live, 2)
            await live.publish(news_item("urn:c", minute=3))
            after = await resumed.next_named()
            assert after.data["uri"] == "urn:c", "urn:b came twice"
        assert [(await first.next_named()).data["uri"] for _ in range(2)] == ["urn:b", "urn:c"]


async def test_a_client_that_reconnects_with_last_event_id_gets_what_it_missed(
    redis: aioredis.Redis, redis_server: RedisServer
) -> None:
    async with live_gateway(redis, redis_server) as live:
        async with sse(live.url) as stream:
            await subscribed(live, 1)
            await live.publish(news_item("urn:1", minute=1))
            seen = await stream.next_named()
        await subscribed(live, 0)
        await live.publish(news_item("urn:2", minute=2), news_item("urn:3", minute=3))
        assert seen.id is not None
        expected = ["urn:2", "urn:3"]
        for headers, path in (
            ({"Last-Event-ID": seen.id}, "/v1/stream"),
            ({}, f"/v1/stream?last_event_id={seen.id}"),  # a first connection, from the page
        ):
            async with sse(live.url, path, headers) as resumed:
                missed = [(await resumed.next_named()).data["uri"] for _ in expected]
                assert missed == expected
                await subscribed(live, 1)
                uri = f"urn:live:{len(expected)}"
                await live.publish(news_item(uri, minute=10 + len(expected)))
                nxt = await resumed.next_named()
                assert nxt.data["uri"] == uri  # live after the backlog, nothing twice
                expected.append(uri)
            await subscribed(live, 0)


async def test_a_backlog_too_long_or_trimmed_away_gets_a_reset(
    redis: aioredis.Redis, redis_server: RedisServer
) -> None:
    async with live_gateway(redis, redis_server, sse_resume_max=2) as live:
        await live.publish(*(news_item(f"urn:r:{i}", minute=i) for i in range(5)))
        ids = await live.stream_ids()
        async with sse(live.url, headers={"Last-Event-ID": ids[0]}) as stream:
            assert (await stream.next_named()).event == "reset"
        async with sse(live.url, headers={"Last-Event-ID": ids[2]}) as stream:
            assert [(await stream.next_named()).id for _ in range(2)] == ids[3:]
        await redis.xtrim(PUBLISHED_0, maxlen=1)
        async with sse(live.url, headers={"Last-Event-ID": ids[1]}) as stream:
            reset = await stream.next_named()
            assert (reset.event, reset.id) == ("reset", ids[-1])  # where the reload is
        assert reset.id is not None
        async with sse(live.url, headers={"Last-Event-ID": reset.id}) as stream:
            await subscribed(live, 1)  # back before the next event: no reset again
            await live.publish(news_item("urn:r:after", minute=9))
            after = await stream.next_named()
            assert (after.event, after.data["uri"]) == ("published", "urn:r:after")


async def test_a_filtered_stream_hears_of_its_new_items_and_of_every_removal(
    redis: aioredis.Redis, redis_server: RedisServer
) -> None:
    async with (
        live_gateway(redis, redis_server) as live,
        sse(live.url, "/v1/stream?tag=diplomacy") as stream,
    ):
        await subscribed(live, 1)
        other = news_item("urn:other", minute=1)
        talks = news_item("urn:talks", minute=2).model_copy(
            update={"subjects": (Entity(name="Diplomacy"),)}
        )
        await live.publish(other, talks)
        await live.publish(other.model_copy(update={"version": 2, "pubstatus": PubStatus.canceled}))
        first, second = await stream.next_named(), await stream.next_named()
        assert (first.event, first.data["uri"]) == ("published", "urn:talks")
        assert (second.event, second.data["uri"]) == ("killed", "urn:other")


async def test_heartbeats_keep_an_idle_stream_alive(
    redis: aioredis.Redis, redis_server: RedisServer
) -> None:
    async with (
        live_gateway(redis, redis_server, sse_heartbeat_s=0.1) as live,
        sse(live.url) as stream,
    ):
        with pytest.raises(TimeoutError):
            await stream.next(timeout=0.5)
        assert stream.comments.count("heartbeat") >= 3


async def test_before_the_tail_has_started_a_stream_says_when_to_come_back(
    redis_server: RedisServer,
) -> None:
    """Not a 503, on which a browser's EventSource gives up for good (the page would
    stop being live after a gateway restart): a 200 event stream that names the
    reconnection delay and ends, so the browser comes back with its Last-Event-ID."""
    app = build(Settings(redis_url=redis_server.url), Lifecycle())  # no lifespan: no tail
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        response = await client.get("/v1/stream", headers={"Last-Event-ID": "1-0"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert response.text == "retry: 3000\n\n"


async def test_streams_beyond_the_cap_are_told_when_to_come_back(
    redis: aioredis.Redis, redis_server: RedisServer
) -> None:
    """Beyond the cap, not a 503 (a browser's EventSource would give up for good):
    a 200 event stream naming the Retry-After delay, which then ends."""
    turned_away = REGISTRY.get_sample_value("newsfeed_sse_turned_away_total") or 0.0
    async with live_gateway(redis, redis_server, sse_max_clients=2) as live:
        async with sse(live.url), sse(live.url):
            async with httpx.AsyncClient() as client:
                refused = await client.get(f"{live.url}/v1/stream", timeout=5)
            assert refused.status_code == 200
            assert refused.headers["content-type"] == "text/event-stream; charset=utf-8"
            assert refused.text == "retry: 5000\n\n"
            assert refused.headers["retry-after"] == "5"
            assert live.gateway.hub.active == 2
            counted = REGISTRY.get_sample_value("newsfeed_sse_turned_away_total")
            assert counted == turned_away + 1
        await until(lambda: live.gateway.hub.active == 0, timeout=5)
        assert REGISTRY.get_sample_value("newsfeed_sse_clients") == 0
        async with sse(live.url):
            assert live.gateway.hub.active == 1
            # The SSE-client gauge on /metrics follows the open streams.
            assert REGISTRY.get_sample_value("newsfeed_sse_clients") == 1


def slow_client(url: str) -> socket.socket:
    """Opens a stream and never reads from it."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.sendall(b"GET /v1/stream HTTP/1.1\r\nHost: gw\r\nAccept: text/event-stream\r\n\r\n")
    return sock


async def test_a_slow_client_is_dropped_and_never_stalls_the_others(
    redis: aioredis.Redis, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="newsfeed.gateway")
    count = 40
    body = "<p>" + "Lorem ipsum dolor sit amet. " * 5000 + "</p>"  # ~140 kB an event
    async with (
        live_gateway(redis, redis_server, sse_buffer_kb=64, sse_send_timeout_s=1.0) as live,
        sse(live.url) as fast,
    ):
        stuck = slow_client(live.url)
        try:
            await subscribed(live, 2)
            received: list[str] = []

            async def read_all() -> None:
                while len(received) < count:
                    received.append((await fast.next_named(timeout=10)).data["uri"])

            reader = asyncio.create_task(read_all())
            started = time.monotonic()
            for i in range(count):
                await live.publish(news_item(f"urn:big:{i}", minute=i, body_html=body))
            await asyncio.wait_for(reader, 20)
            assert received == [f"urn:big:{i}" for i in range(count)]
            assert time.monotonic() - started < 15
            await until(lambda: live.gateway.hub.slow_closed == 1, timeout=5)
            await until(lambda: live.gateway.hub.active == 1, timeout=5)
            assert "closing a live-update client" in caplog.text
        finally:
            stuck.close()


async def test_stopping_the_server_ends_open_streams(
    redis: aioredis.Redis, redis_server: RedisServer
) -> None:
    """uvicorn waits for open connections before it stops: the tail ends the streams."""
    async with live_gateway(redis, redis_server) as live, sse(live.url) as stream:
        await subscribed(live, 1)
        live.server.should_exit = True
        with pytest.raises(EOFError):
            await stream.next_named(timeout=5)


def raw_events(data: bytes) -> list[tuple[str, str]]:
    """(id, event name) of each complete event in a raw HTTP/1.1 chunked SSE response,
    which may end mid-chunk (the server cut it off)."""
    _, _, body = data.partition(b"\r\n\r\n")
    text = bytearray()
    while body:
        size_line, sep, rest = body.partition(b"\r\n")
        if not sep:
            break
        size = int(size_line, 16)
        if size == 0 or len(rest) < size + 2:
            text += rest[:size] if size else b""
            break
        text += rest[:size]
        body = rest[size + 2 :]
    events = []
    for block in bytes(text).split(b"\n\n")[:-1]:  # the last piece is incomplete
        fields = dict(line.split(": ", 1) for line in block.decode().splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields.get("id", ""), fields["event"]))
    return events


async def test_a_client_that_stops_reading_is_closed_with_its_resume_id_and_resumes_without_a_gap(
    redis: aioredis.Redis, redis_server: RedisServer
) -> None:
    count = 30
    body = "<p>" + "Lorem ipsum dolor sit amet. " * 5000 + "</p>"  # ~140 kB an event
    async with live_gateway(redis, redis_server, sse_buffer_kb=64, sse_resume_max=100) as live:
        stuck = slow_client(live.url)
        try:
            await subscribed(live, 1)
            for i in range(count):
                await live.publish(news_item(f"urn:stop:{i}", minute=i, body_html=body))
            await until(lambda: live.gateway.hub.slow_closed == 1, timeout=15)
            for i in range(count, count + 5):  # after it was closed: it must resume for these
                await live.publish(news_item(f"urn:stop:{i}", minute=i))
            received = bytearray()
            stuck.settimeout(10)
            while chunk := await asyncio.to_thread(stuck.recv, 1 << 20):
                received += chunk  # what it was sent, then the end of the response
        finally:
            stuck.close()
        got = raw_events(bytes(received))
        ids = await live.stream_ids()
        assert 0 < len(got) <= count  # it fell behind and was closed...
        assert [event_id for event_id, _ in got] == ids[: len(got)]  # ...with no gap
        resume = got[-1][0]
        async with sse(live.url, headers={"Last-Event-ID": resume}) as resumed:
            rest = [(await resumed.next_named(timeout=10)).id for _ in ids[len(got) :]]
        assert rest == ids[len(got) :]


async def test_last_event_id_0_is_everything_the_stream_holds(
    redis: aioredis.Redis, redis_server: RedisServer
) -> None:
    async with live_gateway(redis, redis_server) as live:
        await live.publish(*(news_item(f"urn:z:{i}", minute=i) for i in range(3)))
        async with sse(live.url, "/v1/stream?last_event_id=0") as stream:
            got = [(await stream.next_named()).id for _ in range(3)]
        assert got == await live.stream_ids()


def with_tags(uri: str, *tags: str, version: int = 1, minute: int = 0) -> NewsItem:
    return news_item(uri, version=version, minute=minute).model_copy(
        update={"subjects": tuple(Entity(name=tag) for tag in tags)}
    )


async def test_a_touched_filter_loses_its_cache_and_an_untouched_one_keeps_it(
    redis: aioredis.Redis, redis_server: RedisServer
) -> None:
    async with live_gateway(redis, redis_server) as live, httpx.AsyncClient() as client:
        await live.publish(with_tags("urn:d", "Diplomacy"), with_tags("urn:e", "Energy", minute=1))
        await until(lambda: live.gateway.tail.events == 2, timeout=5)
        urls = {tag: f"{live.url}/v1/feed?tag={tag}" for tag in ("diplomacy", "energy")}
        before = {tag: (await client.get(url)).json() for tag, url in urls.items()}
        await live.publish(with_tags("urn:e", "Energy", version=2, minute=1))
        await until(lambda: live.gateway.tail.events == 3, timeout=5)
        reads = await redis_calls(redis)
        after = {"diplomacy": (await client.get(urls["diplomacy"])).json()}
        assert await redis_calls(redis) == reads  # diplomacy's page, from memory
        after["energy"] = (await client.get(urls["energy"])).json()
        assert await redis_calls(redis) > reads
        assert after["diplomacy"] == before["diplomacy"]
        assert after["energy"]["items"][0]["version"] == 2  # energy's, read again


async def test_a_kill_reaches_every_client_and_every_output(
    redis: aioredis.Redis, redis_server: RedisServer
) -> None:
    item = with_tags("urn:gone", "Diplomacy")
    outputs = ["/v1/feed", "/feed.json", "/feed.rss", "/feed.atom", "/", "/fragments/feed"]
    filters = ["", "?tag=diplomacy", "?tag=energy"]
    async with (
        live_gateway(redis, redis_server) as live,
        httpx.AsyncClient(base_url=live.url) as client,
        sse(live.url) as everything,
        sse(live.url, "/v1/stream?tag=diplomacy") as its_feed,
        sse(live.url, "/v1/stream?tag=energy") as another_feed,
    ):
        await subscribed(live, 3)
        await live.publish(item, with_tags("urn:stays", "Energy", minute=1))
        await until(lambda: live.gateway.tail.events == 2, timeout=5)
        for path in outputs:  # cached, every output and filter
            for query in filters:
                assert (await client.get(path + query)).status_code == 200
        assert "urn:gone" in (await client.get("/feed.atom?tag=diplomacy")).text
        await live.publish(
            with_tags("urn:gone", "Diplomacy", version=2).model_copy(
                update={"pubstatus": PubStatus.canceled, "ednote": "Withdrawn."}
            )
        )
        for stream in (everything, its_feed, another_feed):
            event = await stream.next_named()
            while event.event != "killed":
                event = await stream.next_named()
            assert event.data["uri"] == "urn:gone"
        for path in outputs:
            for query in filters:
                page = (await client.get(path + query)).text
                listed = "urn:gone" in page and "deleted-entry" not in page
                assert not listed, f"{path}{query} still lists the killed item"
        tombstoned = (await client.get("/feed.atom?tag=diplomacy")).text
        assert 'deleted-entry ref="urn:gone"' in tombstoned
        assert "deleted-entry" not in (await client.get("/feed.atom?tag=energy")).text
        assert (await client.get("/v1/items/urn:gone")).status_code == 410


async def test_every_partition_is_followed_and_a_position_resumes_across_them(
    redis: aioredis.Redis, redis_server: RedisServer
) -> None:
    partitions = Partitions(2)
    keys = partitions.keys(PUBLISHED)

    async def append(uri: str) -> str:
        item = news_item(uri)
        fields = encode(event_for(item, EventType.published)) | {FEEDS: feeds_field(None, item)}
        return str(await redis.xadd(partitions.key_for(PUBLISHED, uri), fields))

    uris = [f"urn:p:{i}" for i in range(8)]
    assert {partitions.of(uri) for uri in uris} == {0, 1}
    async with live_gateway(redis, redis_server, streams=keys, sse_resume_max=5) as live:
        async with sse(live.url) as stream:
            await subscribed(live, 1)
            for uri in uris[:4]:
                await append(uri)
            seen = [await stream.next_named() for _ in range(4)]
        assert [e.data["uri"] for e in seen] == uris[:4]
        last = seen[-1].id
        assert last is not None
        assert len(last.split(".")) == 2  # one entry id per partition
        for uri in uris[4:]:
            await append(uri)
        async with sse(live.url, headers={"Last-Event-ID": last}) as resumed:
            rest = [(await resumed.next_named()).data["uri"] for _ in range(4)]
        assert rest == uris[4:]
        # Older than the memory, and a partition trimmed past it: the client must reload.
        await redis.xtrim(keys[0], maxlen=0)
        await redis.xadd(keys[0], encode(event_for(news_item("urn:p:late"))) | {"type": "x"})
        for uri in uris[:1]:
            await append(uri)
        async with sse(live.url, headers={"Last-Event-ID": "1-0.1-0"}) as trimmed:
            assert (await trimmed.next_named()).event == "reset"


async def test_under_another_server_each_client_is_written_to_through_asgi(
    redis: aioredis.Redis, redis_server: RedisServer
) -> None:
    async with (
        live_gateway(redis, redis_server, http="h11", sse_heartbeat_s=0.2) as live,
        sse(live.url) as stream,
    ):
        await subscribed(live, 1)
        await live.publish(news_item("urn:h:1", minute=1), news_item("urn:h:2", minute=2))
        got = [(await stream.next_named()).data["uri"] for _ in range(2)]
        assert got == ["urn:h:1", "urn:h:2"]
        with pytest.raises(TimeoutError):
            await stream.next(timeout=1.0)
        assert "heartbeat" in stream.comments
        assert (live.gateway.hub.direct, live.gateway.hub.through_asgi) == (0, 1)
