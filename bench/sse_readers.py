"""Live-stream readers for the fanout scenario, in a process of their own.

    python -m bench.sse_readers --port P (--sample | --cheap)

Two kinds, so that the clients measure the server and not themselves:

- `--sample`: asyncio (uvloop) connections that note when each event arrived.
  The harness gives each event the entry id `<ms>-0`, `ms` being the wall clock
  when it was appended (strictly increasing over the run, also across
  partitions), so delay = wall clock at arrival − the newest `ms` in the
  event's id. A few hundred of these measure the delay.
- `--cheap`: the other thousands: plain non-blocking sockets drained every
  `--drain-ms` (200) in one loop, counting `id:` lines. No event loop, no
  callback per arrival: a socket costs one `recv` per drain, so ten thousand of
  them take little CPU. Unread bytes wait in the kernel's receive buffer (a few
  kB per client per drain at 10 events/s, far below it), so the server writes
  as it would to readers on other machines.

Both reconnect a stream the server closed (a slow client) with the
`Last-Event-ID` of the last complete event they got, and count it.

Protocol with the harness, on stdin/stdout: `connect <n>` opens n more streams
and prints `connected` once they have all opened (the harness alternates the two
kinds in small steps: the server's sets of clients iterate roughly in the order
the clients were made, so sampled clients opened after all the others would
all be written last, or all first); `finish <events>` waits until every client
counted that many events (or `--wait-s`), prints one line of JSON with what it
saw, and exits. It exits at once if its stdin closes (the harness is gone).
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import errno
import json
import os
import re
import socket
import sys
import threading
import time
from typing import Any

import uvloop

ID = re.compile(rb"\nid: ([0-9.\-]+)\n")
MARK = b"\nid: "


def request(path: str, last_event_id: str | None) -> bytes:
    resume = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id else ""
    return (
        f"GET {path} HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n{resume}\r\n"
    ).encode()


def last_complete_id(received: bytes, fallback: str | None) -> str | None:
    ids = ID.findall(b"\n" + received[: received.rfind(b"\n\n") + 1])
    return ids[-1].decode() if ids else fallback


def sent_ms(event_id: bytes) -> int:
    """When the harness appended the event: the newest entry id in its position."""
    return max(int(part.split(b"-")[0]) for part in event_id.split(b"."))


# --- sampled clients ----------------------------------------------------------------


class Sampled(asyncio.Protocol):
    def __init__(self, readers: SampledReaders, last_event_id: str | None = None) -> None:
        self.readers = readers
        self.last_event_id = last_event_id
        self.transport: asyncio.Transport | None = None
        self.ready = False
        self.got = 0
        self.previous = self.data = b""  # the last two reads: where the last id is found

    def connection_made(self, transport: Any) -> None:  # uvloop's is no asyncio.Transport
        self.transport = transport
        transport.write(request(self.readers.path, self.last_event_id))

    def data_received(self, data: bytes) -> None:
        now_ms = time.time() * 1000
        if not self.ready and b"retry:" in data:
            self.ready = True
            self.readers.ready += 1
        for match in ID.finditer(data):
            self.readers.delays.append(now_ms - sent_ms(match.group(1)))
        self.got += (self.data[-4:] + data).count(MARK)
        self.previous, self.data = self.data, data

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.readers.stopping:
            resume = last_complete_id(self.previous + self.data, self.last_event_id)
            self.readers.reconnect(self, resume)


class SampledReaders:
    def __init__(self, host: str, port: int, path: str) -> None:
        self.host, self.port, self.path = host, port, path
        self.delays = array.array("d")
        self.clients: list[Sampled] = []
        self.ready = 0
        self.closed = 0
        self.stopping = False
        self._tasks: set[asyncio.Task[Any]] = set()

    async def connect(self, count: int) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(count):
            _, client = await loop.create_connection(lambda: Sampled(self), self.host, self.port)
            self.clients.append(client)

    def reconnect(self, old: Sampled, resume: str | None) -> None:
        self.closed += 1
        loop = asyncio.get_running_loop()

        async def again() -> None:
            _, client = await loop.create_connection(
                lambda: Sampled(self, resume), self.host, self.port
            )
            client.got, client.ready = old.got, True
            self.clients[self.clients.index(old)] = client

        task = loop.create_task(again())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def counts(self) -> list[int]:
        return [client.got for client in self.clients]

    def close(self) -> None:
        self.stopping = True
        for client in self.clients:
            if client.transport is not None:
                client.transport.close()


async def run_sampled(args: argparse.Namespace, commands: asyncio.Queue[str]) -> dict[str, Any]:
    readers = SampledReaders(args.host, args.port, args.path)
    started_cpu = time.process_time()
    while True:
        command, number = (await commands.get()).split()
        if command == "finish":
            break
        await readers.connect(int(number))
        while readers.ready < len(readers.clients):  # noqa: ASYNC110 - counted by callbacks
            await asyncio.sleep(0.02)
        print("connected", flush=True)
        started_cpu = time.process_time()
    events = int(number)
    deadline = time.monotonic() + args.wait_s
    while min(readers.counts(), default=events) < events and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    readers.close()
    counts = readers.counts()
    return {
        "clients": len(counts),
        "with_every_event": sum(1 for got in counts if got >= events),
        "closed_and_resumed": readers.closed,
        "delays_ms": list(readers.delays),
        "cpu_s": time.process_time() - started_cpu,
    }


# --- cheap clients ------------------------------------------------------------------


class Cheap:
    __slots__ = ("data", "got", "last_event_id", "previous", "ready", "sock")

    def __init__(self, sock: socket.socket, last_event_id: str | None = None) -> None:
        self.sock = sock
        self.last_event_id = last_event_id
        self.ready = False
        self.got = 0
        self.previous = self.data = b""  # the last two reads: where the last id is found


def open_socket(host: str, port: int, path: str, last_event_id: str | None) -> socket.socket:
    sock = socket.create_connection((host, port))
    sock.sendall(request(path, last_event_id))
    sock.setblocking(False)
    return sock


def drain(client: Cheap) -> bool:
    """Read what the socket holds; False when the server closed the stream."""
    while True:
        try:
            data = client.sock.recv(65536)
        except BlockingIOError:
            return True
        except OSError as error:
            if error.errno in (errno.ECONNRESET, errno.EPIPE):
                return False
            raise
        if not data:
            return False
        if not client.ready and b"retry:" in data:
            client.ready = True
        client.got += (client.data[-4:] + data).count(MARK)
        client.previous, client.data = client.data, data


def run_cheap(args: argparse.Namespace, commands: list[str]) -> dict[str, Any]:
    clients: list[Cheap] = []
    closed = 0
    interval = args.drain_ms / 1000
    finish: int | None = None
    deadline = float("inf")
    connecting = False
    started_cpu = time.process_time()
    while True:
        began = time.monotonic()
        for index, client in enumerate(clients):
            if not drain(client):
                closed += 1
                client.sock.close()
                resume = last_complete_id(client.previous + client.data, client.last_event_id)
                again = Cheap(open_socket(args.host, args.port, args.path, resume), resume)
                again.got, again.ready = client.got, True
                clients[index] = again
        if connecting and all(client.ready for client in clients):
            connecting = False
            print("connected", flush=True)
            started_cpu = time.process_time()
        if not connecting and finish is None and commands:
            command, number = commands.pop(0).split()
            if command == "finish":
                finish = int(number)
                deadline = time.monotonic() + args.wait_s
            else:
                clients += [
                    Cheap(open_socket(args.host, args.port, args.path, None))
                    for _ in range(int(number))
                ]
                connecting = True
                continue
        if finish is not None and (
            all(client.got >= finish for client in clients) or time.monotonic() > deadline
        ):
            break
        time.sleep(max(0.0, (0.01 if connecting else interval) - (time.monotonic() - began)))
    for client in clients:
        client.sock.close()
    return {
        "clients": len(clients),
        "with_every_event": sum(1 for client in clients if client.got >= (finish or 0)),
        "closed_and_resumed": closed,
        "delays_ms": [],
        "cpu_s": time.process_time() - started_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/v1/stream")
    kind = parser.add_mutually_exclusive_group(required=True)
    kind.add_argument("--sample", action="store_true")
    kind.add_argument("--cheap", action="store_true")
    parser.add_argument("--drain-ms", type=float, default=200.0)
    parser.add_argument("--wait-s", type=float, default=10.0)
    parser.add_argument("--result", required=True, help="file the result is written to")
    args = parser.parse_args()
    if args.sample:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            commands: asyncio.Queue[str] = asyncio.Queue()
            loop = runner.get_loop()

            def read_stdin() -> None:
                for line in sys.stdin:
                    loop.call_soon_threadsafe(commands.put_nowait, line)
                os._exit(3)  # the harness is gone: leave no readers behind

            threading.Thread(target=read_stdin, daemon=True).start()
            result = runner.run(run_sampled(args, commands))
    else:
        lines: list[str] = []

        def collect() -> None:
            with contextlib.suppress(ValueError):
                for line in sys.stdin:
                    lines.append(line)
            os._exit(3)  # the harness is gone: leave no readers behind

        threading.Thread(target=collect, daemon=True).start()
        result = run_cheap(args, lines)
    # The result (every sampled delay: hundreds of kB) goes to a file, not the pipe:
    # written to stdout it once reached the harness cut short.
    with open(args.result, "w", encoding="utf-8") as out:
        json.dump(result, out)
    print("finished", flush=True)


if __name__ == "__main__":
    main()
