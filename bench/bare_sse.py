"""The fan-out baseline: a bare asyncio server writing the same frames to the same sockets.

    python -m bench.bare_sse --redis-url URL      (listens on NEWSFEED_PORT)

It answers any request on a connection with the gateway's live-stream head and
a `retry:` frame, then follows news.published (the stream the gateway follows,
with one partition; XREAD, no group, from its end)
and writes every entry's SSE frame, built by the gateway's own
`render.stream.event_frame` (so the bytes are the gateway's), as one HTTP
chunk to every connection, as soon as it arrives: no routing, no filters, no
bounds, no batching. `GET /healthz` answers 200 and closes. What the gateway
costs above this is the price of being a service.
"""

from __future__ import annotations

import argparse
import asyncio
import os

import redis.asyncio as aioredis
import uvloop
from gateway.app import published_streams
from gateway.render.stream import event_frame, retry_frame
from gateway.tail import KINDS
from shared.events import decode

HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"content-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-store\r\n"
    b"x-accel-buffering: no\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)


def chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


class Connection(asyncio.Protocol):
    def __init__(self, clients: set[asyncio.Transport]) -> None:
        self.clients = clients
        self.transport: asyncio.Transport | None = None
        self.head = b""
        self.live = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self.live or self.transport is None:
            return
        self.head += data
        if b"\r\n\r\n" not in self.head:
            return
        if self.head.startswith(b"GET /healthz"):
            self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            self.transport.close()
            return
        self.live = True
        self.transport.write(HEAD + chunk(retry_frame(3000)))
        self.clients.add(self.transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.clients.discard(self.transport)


async def follow(redis_url: str, clients: set[asyncio.Transport]) -> None:
    """Follow the one stream the gateway follows with one partition (the bench's case)."""
    (stream,) = published_streams()
    redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    newest = await redis.xrevrange(stream, "+", "-", count=1)
    last = newest[0][0] if newest else "0-0"
    while True:
        reply = await redis.xread({stream: last}, count=200, block=1000)
        for _, entries in reply or []:
            for entry_id, fields in entries:
                last = entry_id
                kind = KINDS.get(fields.get("type", ""))
                if kind is None:
                    continue
                framed = chunk(event_frame(entry_id, kind, decode(fields)))
                for transport in clients:
                    transport.write(framed)


async def serve(port: int, redis_url: str) -> None:
    clients: set[asyncio.Transport] = set()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(clients), "127.0.0.1", port, backlog=4096)
    async with server:
        await follow(redis_url, clients)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-url", required=True)
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(int(os.environ["NEWSFEED_PORT"]), args.redis_url))


if __name__ == "__main__":
    main()
