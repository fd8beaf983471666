"""A reader following the gateway's live stream as a browser's `EventSource` does.

The rules are the WHATWG HTML standard's ("Server-sent events"): the stream is
parsed line by line; an `id` field sets the last event ID buffer, which becomes
the source's last event ID when the next event is dispatched (also for an event
without an `id`, which keeps the previous one); `retry` sets the reconnection
time. When the connection closes or cannot be made, the source waits the
reconnection time and connects again to the same URL, sending `Last-Event-ID`
if it has one. A response that is not a `200` with `text/event-stream` *fails*
the source: a browser gives up and never reconnects, so the page stops being
live. An event cut off by the connection's end is not dispatched.

`PageReader` is what the HTML page does: fetch `/` (or a filtered page), then
follow the stream URL the page names (`data-stream`, carrying the position the
page was rendered at) with an `EventSource`.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True)
class Received:
    """One dispatched event, as the page's listener gets it."""

    last_event_id: str
    type: str
    data: dict[str, Any]
    connection: int


@dataclass
class EventSource:
    url: str
    name: str = "reader"
    retry_ms: int = 3000
    last_event_id: str = ""
    events: list[Received] = field(default_factory=list)
    connections: int = 0
    attempts: int = 0  # connections tried, made or not
    failed: str | None = None  # why the source gave up, as a browser would
    errors: list[str] = field(default_factory=list)  # connections lost or refused
    # Awaited after a `reset` is dispatched, before reading on (the page reloads).
    on_reset: Callable[[], Awaitable[None]] | None = None

    @property
    def resets(self) -> list[int]:
        """Indexes in `events` of the `reset` events (reload the feed)."""
        return [i for i, event in enumerate(self.events) if event.type == "reset"]

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the stream until `stop` is set or the source fails."""
        timeout = httpx.Timeout(10.0, read=60.0)
        async with httpx.AsyncClient(timeout=timeout) as client:
            while not stop.is_set() and self.failed is None:
                try:
                    await self._connect(client, stop)
                except (httpx.HTTPError, OSError) as error:
                    self.errors.append(f"{type(error).__name__}: {error}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.retry_ms / 1000)

    async def _connect(self, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        self.attempts += 1
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        async with client.stream("GET", self.url, headers=headers) as response:
            kind = response.headers.get("content-type", "")
            if response.status_code != 200 or not kind.startswith("text/event-stream"):
                await response.aread()
                self.failed = f"{response.status_code} {kind}: {response.text[:200]}"
                return
            self.connections += 1
            connection = self.connections
            id_buffer, type_buffer, data = self.last_event_id, "", ""
            lines = response.aiter_lines()
            while not stop.is_set():
                line = await anext(lines, None)
                if line is None:
                    return  # closed: the pending event, if any, is discarded
                if not line:
                    self.last_event_id = id_buffer
                    if data:
                        payload = json.loads(data.removesuffix("\n"))
                        self.events.append(
                            Received(id_buffer, type_buffer or "message", payload, connection)
                        )
                        if type_buffer == "reset" and self.on_reset is not None:
                            await self.on_reset()
                    type_buffer, data = "", ""
                    continue
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "event":
                    type_buffer = value
                elif name == "data":
                    data += value + "\n"
                elif name == "id" and "\0" not in value:
                    id_buffer = value
                elif name == "retry" and value.isdigit():
                    self.retry_ms = int(value)


STREAM_ATTRIBUTE = re.compile(r'data-stream="([^"]*)"')


@dataclass
class PageReader:
    """The HTML page: rendered once, then live through its own stream URL."""

    gateway: str
    path: str = "/"
    source: EventSource | None = None

    async def open(self) -> EventSource:
        async with httpx.AsyncClient(timeout=10) as client:
            page = await client.get(f"{self.gateway}{self.path}")
        page.raise_for_status()
        found = STREAM_ATTRIBUTE.search(page.text)
        assert found, f"the page at {self.path} names no live stream"
        self.source = EventSource(
            str(httpx.URL(self.gateway).join(html.unescape(found.group(1)))), f"page {self.path}"
        )
        return self.source
