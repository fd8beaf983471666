"""A small HTTP/1.1 load generator on raw asyncio streams (keep-alive, no pipelining).

httpx costs far more CPU per request than the services it would measure,
and on two cores the client's CPU is taken from them; this client writes
pre-built request bytes and reads just the status line, the headers and a
Content-Length body. It drives ingest's POSTs (as fast as ingest takes them,
or at a steady rate), reads the gateway's Server-Sent Events, and is the
fallback GET load generator when `wrk` is not installed (labelled
"python-loadgen" in the output).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import orjson
from shared.events import EventType

from bench.stats import distribution

REFINED = EventType.refined.value


def request_bytes(
    method: str, url: str, body: bytes = b"", headers: Sequence[tuple[str, str]] = ()
) -> bytes:
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status code and lower-cased headers of a response head (without the blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    return status, headers


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None or self.reader is None:
            await self.open()
        assert self.reader is not None
        assert self.writer is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status, headers = parse_head(head[:-4])
        length = int(headers.get("content-length", "0"))
        body = await self.reader.readexactly(length) if length else b""
        connection = headers.get("connection", "").lower()
        if connection == "close" or (head.startswith(b"HTTP/1.0") and connection != "keep-alive"):
            await self.close()
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


@dataclass
class Submissions:
    """What a run of POSTs saw: per item, when it was sent and when its 202 came."""

    sent_at: dict[int, float] = field(default_factory=dict)
    acked_at: dict[int, float] = field(default_factory=dict)
    failures: dict[int, str] = field(default_factory=dict)
    late: list[float] = field(default_factory=list)  # paced runs: how late each send was


def post_requests(url: str, token: str, bodies: Sequence[bytes]) -> list[bytes]:
    headers = (("Authorization", f"Bearer {token}"), ("Content-Type", "application/json"))
    return [request_bytes("POST", url, body, headers) for body in bodies]


async def _post(conn: Connection, raw: bytes, index: int, out: Submissions) -> None:
    out.sent_at[index] = time.monotonic()
    try:
        status, body = await conn.send(raw)
    except (OSError, asyncio.IncompleteReadError) as error:
        out.failures[index] = f"{type(error).__name__}: {error}"
        await conn.close()
        return
    if status == 202:
        out.acked_at[index] = time.monotonic()
    else:
        out.failures[index] = f"{status}: {body[:200]!r}"


async def post_all(url: str, requests: Sequence[bytes], concurrency: int) -> Submissions:
    """POST every request as fast as the server answers, over `concurrency` connections."""
    host, port = _host_port(url)
    out = Submissions()
    next_index = iter(range(len(requests)))

    async def worker() -> None:
        conn = await Connection(host, port).open()
        try:
            for index in next_index:
                await _post(conn, requests[index], index, out)
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


async def post_paced(
    url: str, requests: Sequence[bytes], rate_per_s: float, connections: int
) -> Submissions:
    """POST request i at start + i / rate (open loop), each on a free keep-alive connection."""
    host, port = _host_port(url)
    out = Submissions()
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await Connection(host, port).open())
    tasks: set[asyncio.Task[None]] = set()

    async def one(conn: Connection, index: int) -> None:
        try:
            await _post(conn, requests[index], index, out)
        finally:
            pool.put_nowait(conn)

    start = time.monotonic() + 0.05
    for index in range(len(requests)):
        due = start + index / rate_per_s
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        conn = await pool.get()
        out.late.append(max(0.0, time.monotonic() - due))
        task = asyncio.create_task(one(conn, index))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    while not pool.empty():
        await pool.get_nowait().close()
    return out


@dataclass
class SseReader:
    """Reads GET /v1/stream and notes when each uri was first announced, and
    when its first refinement was (enrichment's second pass: the entity model's
    names)."""

    url: str
    expect: set[str] = field(default_factory=set)
    seen: dict[str, float] = field(default_factory=dict)
    refined: dict[str, float] = field(default_factory=dict)
    frames: int = 0
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    complete: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        host, port = _host_port(self.url)
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(request_bytes("GET", self.url, headers=(("Accept", "text/event-stream"),)))
            head = await reader.readuntil(b"\r\n\r\n")
            status, headers = parse_head(head[:-4])
            if status != 200:
                raise RuntimeError(f"SSE answered {status}")
            chunked = headers.get("transfer-encoding", "").lower() == "chunked"
            self.connected.set()
            buffer = b""
            while True:
                if chunked:
                    size = int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
                    if size == 0:
                        return
                    data = await reader.readexactly(size + 2)
                    buffer += data[:-2]
                else:
                    data = await reader.read(65536)
                    if not data:
                        return
                    buffer += data
                while b"\n\n" in buffer:
                    frame, buffer = buffer.split(b"\n\n", 1)
                    self._frame(frame, time.monotonic())
        finally:
            writer.close()

    def _frame(self, frame: bytes, at: float) -> None:
        for line in frame.split(b"\n"):
            if line.startswith(b"data: "):
                self.frames += 1
                data = orjson.loads(line[6:])
                uri = data.get("uri")
                if not isinstance(uri, str):
                    continue
                if data.get("event_type") == REFINED:
                    self.refined.setdefault(uri, at)
                if uri not in self.seen:
                    self.seen[uri] = at
                    self.expect.discard(uri)
                    if not self.expect:
                        self.complete.set()


@dataclass
class GetLoad:
    """Fallback for wrk: `connections` keep-alive clients GET the URLs in turn for `seconds`."""

    urls: Sequence[str]
    connections: int = 50
    seconds: float = 5.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    non_2xx: int = 0

    async def run(self) -> dict[str, float | int | str]:
        host, port = _host_port(self.urls[0])
        raws = [request_bytes("GET", url) for url in self.urls]
        stop_at = time.monotonic() + self.seconds
        clock: Callable[[], float] = time.monotonic

        async def client(offset: int) -> None:
            conn = await Connection(host, port).open()
            turn = offset
            try:
                while clock() < stop_at:
                    turn += 1
                    started = clock()
                    try:
                        status, _ = await conn.send(raws[turn % len(raws)])
                    except (OSError, asyncio.IncompleteReadError):
                        self.errors += 1
                        await conn.close()
                        continue
                    self.latencies.append(clock() - started)
                    if not 200 <= status < 400:
                        self.non_2xx += 1
            finally:
                await conn.close()

        started = clock()
        await asyncio.gather(*(client(n * 7919) for n in range(self.connections)))
        elapsed = clock() - started
        dist = distribution([latency * 1000 for latency in self.latencies])
        return {
            "tool": "python-loadgen",
            "requests": len(self.latencies),
            "rps": len(self.latencies) / elapsed,
            "p50_ms": dist["p50"],
            "p99_ms": dist["p99"],
            "max_ms": dist["max"],
            "errors": self.errors,
            "non_2xx": self.non_2xx,
        }
