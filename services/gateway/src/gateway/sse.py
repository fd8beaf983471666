"""GET /v1/stream: live updates as Server-Sent Events, fanned out near the socket's cost.

The hub listens to the tail. An event is written at once when nothing was
written for a tick (`tick_s`); events that come within a tick of the last write
are written together at its end. Per write, the frames a feed's clients must
hear of are joined once, framed once as one HTTP chunk, and the same bytes are
written to every client of that feed (unfiltered clients all share one): at
most one write per client per tick, and a lone event waits for no tick. Under uvicorn's
httptools server the write goes straight to the connection's transport (one
`transport.write` per client per tick, no ASGI message, no task switch); under
any other server each client has a writer task that sends through ASGI.

A client that falls behind is closed, never left to miss events silently:
when what it has not taken yet passes `buffer_bytes`, or it takes nothing for
`send_timeout_s`, it is sent no more events; what was written still reaches
it and the response ends, so its `Last-Event-ID` is the id of the last event
it got, and it resumes from there (see tail.py for positions). The tail and
the other clients never wait for it.

A client connecting with a Last-Event-ID (the header, or `last_event_id` in
the query for a first connection; `0`: from the start of what the streams
hold) first gets what it missed, from the tail's memory or the streams, then
the live events; nothing is sent twice. Heartbeat comments keep idle
connections open through proxies. The number of streams is capped per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from shared.observability.metrics import SSE_CLIENTS
from shared.readmodel import Facet
from shared.readmodel.feeds import feed_name
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from gateway.positions import Position, format_position
from gateway.render.stream import HEARTBEAT, MEDIA_TYPE, event_frame, reset_frame, retry_frame
from gateway.responses import API_HEADERS, raw_headers
from gateway.tail import Change, Tail

log = logging.getLogger("newsfeed.gateway.sse")

DIRECT = "newsfeed.direct"  # the scope extension carrying uvicorn's response cycle
LAST_CHUNK = b"0\r\n\r\n"


@dataclass
class StreamLimits:
    max_clients: int = 1000
    heartbeat_s: float = 15.0
    retry_ms: int = 3000
    resume_max: int = 1000
    send_timeout_s: float = 10.0
    buffer_bytes: int = 256 * 1024
    tick_s: float = 0.05


def chunk(payload: bytes) -> bytes:
    """`payload` as one HTTP/1.1 chunk."""
    return b"%x\r\n%s\r\n" % (len(payload), payload)


class Client:
    """One live-update connection: its feed, and where its bytes go."""

    __slots__ = (
        "closed",
        "feed",
        "floor",
        "outbox",
        "pending",
        "stuck_at",
        "transport",
        "wake",
    )

    def __init__(self, feed: str) -> None:
        self.feed = feed
        self.pending: list[Change] = []  # events that came while it caught up
        # Set while it is live but events that may be in its backlog wait for a
        # write: the position it has, so those are not written to it again.
        self.floor: Position | None = None
        self.transport: Any = None  # direct writes: the connection's transport
        self.outbox: bytearray | None = None  # ASGI writes: bytes its writer task sends
        self.wake: asyncio.Event | None = None
        self.stuck_at: float | None = None
        self.closed: str | None = None

    def buffered(self) -> int:
        if self.transport is not None:
            return int(self.transport.get_write_buffer_size())
        return len(self.outbox) if self.outbox is not None else 0


class StreamHub:
    """Every open stream of this process: who hears of what, and the writing."""

    def __init__(self, tail: Tail, limits: StreamLimits) -> None:
        self.tail = tail
        self.limits = limits
        self.active = 0
        self.slow_closed = 0
        self.direct = 0  # clients written to straight through their transport, so far
        self.through_asgi = 0  # clients with a writer task (a server other than httptools)
        self.groups: dict[str, set[Client]] = {}  # live clients by feed
        self.joining: set[Client] = set()  # clients still being sent their backlog
        self._batch: list[Change] = []
        self._fresh: list[Client] = []  # went live while the batch waited (see Client.floor)
        self._flush_timer: asyncio.Handle | None = None
        self._last_flush = -math.inf  # loop time of the last write of events
        self._sweep_timer: asyncio.TimerHandle | None = None
        self._last_heartbeat = time.monotonic()
        self.headers = raw_headers(
            [
                ("content-type", MEDIA_TYPE),
                ("cache-control", "no-store"),
                ("x-accel-buffering", "no"),
                *API_HEADERS,
            ]
        )
        tail.listeners.append(self.publish)
        tail.closers.append(self.close_all)

    @property
    def full(self) -> bool:
        return self.active >= self.limits.max_clients

    @property
    def clients(self) -> int:
        return sum(len(group) for group in self.groups.values()) + len(self.joining)

    def come_back_later(self, retry_ms: int | None = None) -> Response:
        """The answer while live updates cannot be served (the tail has not started,
        say Redis is away, the server is stopping, or this process has its
        `max_clients`): an event stream that only names the reconnection delay
        (`retry_ms`, default `limits.retry_ms`), then ends. A browser's EventSource
        reconnects after it with its Last-Event-ID; any answer but a 200 event
        stream (a 503) would make it give up for good, and the page would stop
        being live."""
        retry = self.limits.retry_ms if retry_ms is None else retry_ms
        return Response(
            retry_frame(retry),
            headers={"cache-control": "no-store", **dict(API_HEADERS)},
            media_type=MEDIA_TYPE,
        )

    def open(self, facet: tuple[Facet, str] | None, last: Position | None) -> EventStream:
        """Reserve a place (check `full` first); the stream gives it back when it ends."""
        self.active += 1
        SSE_CLIENTS.set(self.active)
        return EventStream(self, feed_name(*facet) if facet else feed_name(None), last)

    # --- events in ------------------------------------------------------------

    def publish(self, change: Change) -> None:
        """The tail's listener: queue the event. It is written at once (with the
        rest of the tail's read) when nothing was written for a tick; otherwise
        with whatever else comes, a tick after the last write. So a lone event
        waits for no tick, and a client still gets at most one write per tick."""
        if not (self.groups or self.joining) or not change.decodes():
            return
        self._batch.append(change)
        if self._flush_timer is None:
            loop = asyncio.get_running_loop()
            wait = self._last_flush + self.limits.tick_s - loop.time()
            if wait > 0:
                self._flush_timer = loop.call_later(wait, self.flush)
            else:
                self._flush_timer = loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write what arrived since the last write: each feed's frames joined once,
        the same bytes to each of its clients."""
        self._flush_timer = None
        self._last_flush = asyncio.get_running_loop().time()
        changes, self._batch = self._batch, []
        if not changes:
            return
        bound = self.limits.buffer_bytes
        behind: list[Client] = []
        for client in self.joining:
            client.pending.extend(changes)
            if len(client.pending) > self.limits.resume_max:
                behind.append(client)
        for feed, members in self.groups.items():
            selected = [change for change in changes if change.concerns(feed)]
            if not selected:
                continue
            payload = b"".join(change.frame for change in selected)
            framed = chunk(payload)
            for client in members:
                own, own_framed = payload, framed
                if client.floor is not None:  # live since the batch began: not twice
                    own = resumed_frames(selected, client.floor)
                    own_framed = chunk(own) if own else b""
                # Behind is what a client left of earlier writes, judged before this
                # one: a tick's write may alone be larger than the bound (several
                # big events), and a reader keeping up would be closed for it.
                transport = client.transport
                if transport is not None:
                    if transport.is_closing() or not own_framed:
                        continue
                    if transport.get_write_buffer_size() > bound:
                        behind.append(client)
                        continue
                    transport.write(own_framed)
                elif client.outbox is not None and client.wake is not None and own:
                    if len(client.outbox) > bound:
                        behind.append(client)
                        continue
                    client.outbox += own
                    client.wake.set()
        fresh, self._fresh = self._fresh, []
        for client in fresh:
            client.floor = None
        for client in behind:
            self.drop(client, "too slow: it fell behind")

    # --- clients --------------------------------------------------------------

    def join(self, client: Client) -> None:
        self.joining.add(client)
        self._start_sweeping()

    def go_live(self, client: Client, floor: Position | None) -> bool:
        """Move a client that has caught up to the live groups (call with nothing
        pending); `floor`: the position it has. Events waiting for the tick's write
        may be in the backlog it was sent: that write leaves out what it has."""
        assert not client.pending
        self.joining.discard(client)
        if client.closed is not None:
            return False
        if self._batch and floor is not None:
            client.floor = floor
            self._fresh.append(client)
        self.groups.setdefault(client.feed, set()).add(client)
        return True

    def leave(self, client: Client) -> None:
        self.joining.discard(client)
        group = self.groups.get(client.feed)
        if group is not None:
            group.discard(client)
            if not group:
                del self.groups[client.feed]

    def drop(self, client: Client, reason: str) -> None:
        """Send a client no more events and end its response; what was written
        still reaches it (for `send_timeout_s` at most), so its Last-Event-ID is
        the last event it got."""
        if client.closed is not None:
            return
        client.closed = reason
        self.leave(client)
        if reason.startswith("too slow"):
            self.slow_closed += 1
            log.warning("closing a live-update client: %s", reason)
        transport = client.transport
        if transport is not None:
            if not transport.is_closing():
                transport.write(LAST_CHUNK)
                transport.close()
                asyncio.get_running_loop().call_later(self.limits.send_timeout_s, transport.abort)
        elif client.wake is not None:
            client.wake.set()

    def close_all(self, reason: str) -> None:
        for client in [*self.joining, *(c for group in self.groups.values() for c in group)]:
            self.drop(client, reason)

    # --- heartbeats and stuck clients -------------------------------------------

    def _start_sweeping(self) -> None:
        if self._sweep_timer is None:
            interval = min(self.limits.heartbeat_s, self.limits.send_timeout_s / 2, 1.0)
            self._sweep_timer = asyncio.get_running_loop().call_later(interval, self._sweep)

    def _sweep(self) -> None:
        self._sweep_timer = None
        now = time.monotonic()
        heartbeat = now - self._last_heartbeat >= self.limits.heartbeat_s
        if heartbeat:
            self._last_heartbeat = now
        framed = chunk(HEARTBEAT)
        stuck: list[Client] = []
        for members in self.groups.values():
            for client in members:
                if heartbeat:
                    if client.transport is not None:
                        if not client.transport.is_closing():
                            client.transport.write(framed)
                    elif client.outbox is not None and client.wake is not None:
                        client.outbox += HEARTBEAT
                        client.wake.set()
                if client.buffered() == 0:
                    client.stuck_at = None
                elif client.stuck_at is None:
                    client.stuck_at = now
                elif now - client.stuck_at > self.limits.send_timeout_s:
                    stuck.append(client)
        for client in stuck:
            self.drop(client, f"too slow: took nothing for {self.limits.send_timeout_s:g}s")
        if self.groups or self.joining:
            self._start_sweeping()


def advanced(change: Change, floor: Position | None) -> Position:
    """The position of a client at `floor` once it has `change`."""
    if floor is None:
        return change.position
    if change.key <= floor[change.partition]:
        return floor
    return tuple(max(a, b) for a, b in zip(change.position, floor, strict=True))


def frame_at(change: Change, floor: Position | None) -> tuple[bytes, Position]:
    """The frame of `change` for a client at position `floor` (b"" if it has it),
    and the position it has after. Its id never goes back in a partition the
    client is ahead in."""
    if floor is None:
        return change.frame, change.position
    if change.key <= floor[change.partition]:
        return b"", floor
    at = advanced(change, floor)
    if at == change.position:
        return change.frame, at
    return event_frame(format_position(at), change.kind, change.event), at


def resumed_frames(changes: list[Change], floor: Position) -> bytes:
    """The frames of `changes` a client at `floor` does not have yet."""
    frames: list[bytes] = []
    for change in changes:
        frame, floor = frame_at(change, floor)
        frames.append(frame)
    return b"".join(frames)


class _SlowClient(Exception):
    pass


class EventStream(Response):
    """The ASGI response of one live-update client."""

    def __init__(self, hub: StreamHub, feed: str, last: Position | None) -> None:
        self.status_code = 200
        self.background = None
        self.raw_headers = hub.headers
        self._hub = hub
        self._feed = feed
        self._last = last

    async def _send(self, send: Send, body: bytes) -> None:
        message: Message = {"type": "http.response.body", "body": body, "more_body": True}
        try:
            async with asyncio.timeout(self._hub.limits.send_timeout_s):
                await send(message)
        except TimeoutError:
            raise _SlowClient from None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hub = self._hub
        client = Client(self._feed)
        hub.join(client)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": hub.headers})
            if scope["method"] != "HEAD":
                await receive()  # the request (a GET has no body)
                floor = await self._catch_up(send, client)
                client.transport = _direct_transport(scope)
                if client.transport is None:
                    client.outbox, client.wake = bytearray(), asyncio.Event()
                    hub.through_asgi += 1
                else:
                    hub.direct += 1
                if hub.go_live(client, floor):
                    if client.transport is not None:
                        await _until_disconnect(receive)
                    else:
                        await self._pump(send, receive, client)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except _SlowClient:
            hub.drop(client, f"too slow: a write took over {hub.limits.send_timeout_s:g}s")
        except OSError:
            pass  # the client went away mid-write
        finally:
            client.closed = client.closed or "ended"
            hub.leave(client)
            hub.active -= 1
            SSE_CLIENTS.set(hub.active)

    async def _catch_up(self, send: Send, client: Client) -> Position | None:
        """The retry setting, the backlog, then what came meanwhile: each event once.
        The position the client has after (None: it had none and got everything
        that came meanwhile)."""
        hub, tail = self._hub, self._hub.tail
        await self._send(send, retry_frame(hub.limits.retry_ms))
        floor: Position | None = None
        if self._last is not None:
            await _caught_up_to(tail, self._last)
            backlog = await tail.backlog(self._last, hub.limits.resume_max)
            if backlog is None:
                # Events up to here are in the read model the client reloads.
                assert tail.position is not None
                floor = tuple(tail.position)
                await self._send(send, reset_frame(format_position(floor)))
            else:
                floor = self._last or tuple((0, 0) for _ in range(tail.partitions))
                for missed in backlog:
                    floor = await self._send_change(send, missed, floor)
        while client.pending and client.closed is None:
            pending, client.pending = client.pending, []
            for change in pending:
                floor = await self._send_change(send, change, floor)
        return floor

    async def _send_change(self, send: Send, change: Change, floor: Position | None) -> Position:
        """Send `change` unless the client has it; the position it has after."""
        if not (change.decodes() and change.concerns(self._feed)):
            return advanced(change, floor)
        frame, after = frame_at(change, floor)
        if frame:
            await self._send(send, frame)
        return after

    async def _pump(self, send: Send, receive: Receive, client: Client) -> None:
        """ASGI writes (servers other than httptools): send the outbox until closed."""
        assert client.outbox is not None
        assert client.wake is not None
        watcher = asyncio.create_task(_until_disconnect(receive))
        watcher.add_done_callback(lambda _: client.wake.set() if client.wake else None)
        try:
            while not watcher.done():
                await client.wake.wait()
                client.wake.clear()
                if client.outbox:
                    body, client.outbox = bytes(client.outbox), bytearray()
                    await self._send(send, body)
                if client.closed is not None:
                    return
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


async def _caught_up_to(tail: Tail, position: Position, wait_s: float = 2.0) -> None:
    """Give the tail a moment to reach a position another replica handed out."""

    def behind() -> bool:
        return (
            tail.position is not None
            and not tail.names_lost(position)
            and len(position) == tail.partitions
            and any(a > b for a, b in zip(position, tail.position, strict=True))
        )

    deadline = time.monotonic() + wait_s
    while behind() and time.monotonic() < deadline:  # noqa: ASYNC110 - a rare, bounded wait
        await asyncio.sleep(0.02)


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _direct_transport(scope: Scope) -> Any:
    """The connection's transport when the response can be written to it directly:
    uvicorn's httptools server, a chunked response. None otherwise."""
    cycle = (scope.get("extensions") or {}).get(DIRECT)
    if cycle is None or getattr(cycle, "chunked_encoding", None) is not True:
        return None
    transport = getattr(cycle, "transport", None)
    if not all(hasattr(transport, name) for name in ("write", "get_write_buffer_size")):
        return None
    return transport


def with_direct(scope: Scope, send: Send, path: str = "/v1/stream") -> Scope:
    """`scope`, carrying the server's response cycle for `path` when the server is
    uvicorn's httptools one (whose `send` is the cycle's bound method). Called with
    the server's own `send`, before any middleware wraps it."""
    if scope["type"] == "http" and scope["path"] == path:
        cycle = getattr(send, "__self__", None)
        if type(cycle).__module__ == "uvicorn.protocols.http.httptools_impl":
            return {**scope, "extensions": {**(scope.get("extensions") or {}), DIRECT: cycle}}
    return scope
