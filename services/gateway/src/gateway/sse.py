"""GET /v1/stream: live updates as Server-Sent Events.

Each client gets a subscriber on the tail (a bounded queue). With a
Last-Event-ID (header, or `last_event_id` in the query for a first
connection), it first gets what it missed, read from the stream itself, and
then the live events; entries sent by both ways are sent once. Heartbeat
comments keep idle connections open through proxies and find dead ones. A
client that cannot keep up is closed (its queue overflowed, or one write
took longer than `send_timeout_s`); a client never holds up the tail or the
other clients. The number of concurrent streams is capped per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from shared.observability.metrics import SSE_CLIENTS
from shared.readmodel import Facet
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from gateway.render.stream import HEARTBEAT, reset_frame, retry_frame
from gateway.responses import API_HEADERS, raw_headers
from gateway.tail import Subscriber, Tail, entry_key

log = logging.getLogger("newsfeed.gateway.sse")

MEDIA_TYPE = "text/event-stream; charset=utf-8"


@dataclass
class StreamLimits:
    max_clients: int = 1000
    heartbeat_s: float = 15.0
    retry_ms: int = 3000
    resume_max: int = 1000
    send_timeout_s: float = 10.0


class _SlowClient(Exception):
    pass


class StreamHub:
    """Counts the open streams of this process and opens new ones within the cap."""

    def __init__(self, tail: Tail, limits: StreamLimits) -> None:
        self.tail = tail
        self.limits = limits
        self.active = 0
        self.slow_closed = 0
        self.headers = raw_headers(
            [
                ("content-type", MEDIA_TYPE),
                ("cache-control", "no-cache"),
                ("x-accel-buffering", "no"),
                *API_HEADERS,
            ]
        )

    @property
    def full(self) -> bool:
        return self.active >= self.limits.max_clients

    def open(self, facet: tuple[Facet, str] | None, last_event_id: str | None) -> EventStream:
        """Reserve a place (check `full` first); the stream gives it back when it ends."""
        self.active += 1
        SSE_CLIENTS.set(self.active)
        return EventStream(self, facet, last_event_id)


class EventStream(Response):
    """The ASGI response of one live-update client."""

    def __init__(
        self, hub: StreamHub, facet: tuple[Facet, str] | None, last_event_id: str | None
    ) -> None:
        self.status_code = 200
        self.background = None
        self.raw_headers = hub.headers
        self._hub = hub
        self._facet = facet
        self._last = last_event_id

    async def _send(self, send: Send, chunk: bytes) -> None:
        message: Message = {"type": "http.response.body", "body": chunk, "more_body": True}
        try:
            async with asyncio.timeout(self._hub.limits.send_timeout_s):
                await send(message)
        except TimeoutError:
            raise _SlowClient from None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hub, tail = self._hub, self._hub.tail
        subscriber = tail.subscribe(self._facet)
        watcher: asyncio.Task[None] | None = None
        slow = False
        try:
            await send({"type": "http.response.start", "status": 200, "headers": hub.headers})
            if scope["method"] != "HEAD":
                watcher = asyncio.create_task(_watch_disconnect(receive, subscriber))
                await self._stream(send, subscriber)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except _SlowClient:
            slow = True
            log.warning(
                "closing a live-update client: a write took over %ss", hub.limits.send_timeout_s
            )
        except OSError:
            pass  # the client went away mid-write
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            tail.unsubscribe(subscriber)
            hub.active -= 1
            SSE_CLIENTS.set(hub.active)
            if slow or (subscriber.closed or "").startswith("too slow"):
                hub.slow_closed += 1

    async def _stream(self, send: Send, subscriber: Subscriber) -> None:
        limits, tail = self._hub.limits, self._hub.tail
        await self._send(send, retry_frame(limits.retry_ms))
        sent = (0, 0)
        if self._last is not None:
            sent = entry_key(self._last)
            backlog = await tail.backlog(self._last, limits.resume_max)
            if backlog is None:
                await self._send(send, reset_frame())
            else:
                for missed in backlog:
                    if subscriber.matches(missed):
                        await self._send(send, missed.frame)
                    sent = max(sent, missed.key)
        while True:
            try:
                async with asyncio.timeout(limits.heartbeat_s):
                    change = await subscriber.queue.get()
            except TimeoutError:
                await self._send(send, HEARTBEAT)
                continue
            if change is None:
                return
            if change.key <= sent:
                continue  # already sent from the backlog
            await self._send(send, change.frame)
            sent = change.key


async def _watch_disconnect(receive: Receive, subscriber: Subscriber) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            subscriber.close("client left")
            return
