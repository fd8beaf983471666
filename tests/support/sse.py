"""Reading Server-Sent Events (the gateway's /v1/stream) in tests: a minimal reader
over an httpx streaming response."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson


@dataclass
class Event:
    id: str | None = None
    event: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    retry: int | None = None


class SSE:
    """A minimal Server-Sent Events reader over an httpx streaming response."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()
        self.comments: list[str] = []

    async def next(self, timeout: float = 5.0) -> Event:
        event = Event()
        fields = 0
        async with asyncio.timeout(timeout):
            async for line in self._lines:
                if line == "":
                    if fields:
                        return event
                    continue
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                    continue
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                fields += 1
                if name == "id":
                    event.id = value
                elif name == "event":
                    event.event = value
                elif name == "data":
                    event.data = orjson.loads(value)
                elif name == "retry":
                    event.retry = int(value)
        raise EOFError("the stream ended")

    async def next_named(self, timeout: float = 5.0) -> Event:
        """The next event that is not just a `retry:` setting."""
        while True:
            event = await self.next(timeout)
            if event.event is not None:
                return event


@contextlib.asynccontextmanager
async def sse(
    url: str, path: str = "/v1/stream", headers: dict[str, str] | None = None
) -> AsyncIterator[SSE]:
    async with (
        httpx.AsyncClient(base_url=url, timeout=10) as client,
        client.stream("GET", path, headers=headers or {}) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        stream = SSE(response)
        first = await stream.next()
        assert first.retry == 3000
        yield stream
