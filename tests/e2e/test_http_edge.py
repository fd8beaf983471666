"""The services' HTTP edge, against the real processes (issue 18.5, 18.8): a 100 MB
header, too many header lines, and connections that send their head a byte at a
time are refused with 431/408 while the service keeps serving; /metrics can be
moved to a listener of its own."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.services import Pipeline
from tools.devstack import RedisServer, free_port

HEAD_TIMEOUT_S = 2.0
MAX_HEADER_BYTES = 32_768
METRICS_PORT = free_port()


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """Ingest (scheduler off) and the gateway, with a short head timeout."""
    workdir: Path = tmp_path_factory.mktemp("http-limits")
    server = RedisServer(workdir=workdir / "redis").start()
    running = Pipeline(
        server.url,
        workdir / "logs",
        only=("ingest", "gateway"),
        extra_env={
            "NEWSFEED_SCHEDULER_ENABLED": "false",
            "NEWSFEED_HEADER_TIMEOUT_SECONDS": str(HEAD_TIMEOUT_S),
        },
        service_env={"gateway": {"NEWSFEED_METRICS_PORT": str(METRICS_PORT)}},
    ).start()
    yield running
    running.stop()
    server.stop()


def peak_rss_kb(running: Pipeline, name: str) -> int:
    process = running.services[name].process
    assert process is not None
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def connect(running: Pipeline, name: str) -> socket.socket:
    return socket.create_connection(("127.0.0.1", running.services[name].port), timeout=30)


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ", 2)[1])


SERVICES = ["ingest", "gateway"]


@pytest.mark.parametrize("name", SERVICES)
def test_a_100_mb_header_is_431_without_reading_it_into_memory(
    services: Pipeline, name: str
) -> None:
    before = peak_rss_kb(services, name)
    answer = bytearray()
    conn = connect(services, name)

    def read() -> None:
        try:
            while chunk := conn.recv(65536):
                answer.extend(chunk)
        except OSError:
            pass

    reader = threading.Thread(target=read)
    reader.start()
    started = time.monotonic()
    conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ")
    chunk = b"a" * 1_048_576
    sent = 0
    try:
        while sent < 100 * 1_048_576 and not answer:
            conn.sendall(chunk)
            sent += len(chunk)
    except OSError:
        pass  # the service closed the connection: what we want
    reader.join(30)
    conn.close()
    assert status_of(bytes(answer)) == 431
    assert b"over 32768 bytes" in answer
    assert time.monotonic() - started < 10
    assert peak_rss_kb(services, name) - before < 20_000, "the header was buffered"
    assert httpx.get(f"{services.services[name].url}/healthz").status_code == 200


@pytest.mark.parametrize("name", SERVICES)
def test_too_many_header_lines_is_431(services: Pipeline, name: str) -> None:
    many = {f"x-h{i}": "1" for i in range(150)}
    response = httpx.get(f"{services.services[name].url}/healthz", headers=many)
    assert response.status_code == 431
    assert "header lines" in response.json()["error"]
    few = {f"x-h{i}": "1" for i in range(50)}
    assert httpx.get(f"{services.services[name].url}/healthz", headers=few).status_code == 200


def test_slow_heads_get_408_and_the_services_keep_serving(services: Pipeline) -> None:
    """200 connections to each service send their head a byte at a time
    (slowloris); 10 more connect and send nothing."""
    slow = {connect(services, name): name for name in SERVICES for _ in range(200)}
    silent = [connect(services, name) for name in SERVICES for _ in range(5)]
    for conn in slow:
        conn.setblocking(False)
        conn.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
    started = time.monotonic()
    answers = {conn: b"" for conn in slow}
    closed: set[socket.socket] = set()
    # Meanwhile an ordinary request is served at once.
    for name in SERVICES:
        assert httpx.get(f"{services.services[name].url}/healthz", timeout=2).status_code == 200
    deadline = started + HEAD_TIMEOUT_S + 8
    while len(closed) < len(slow) and time.monotonic() < deadline:
        open_ = [conn for conn in slow if conn not in closed]
        for conn in open_:  # one more header byte each round
            with contextlib.suppress(OSError):
                conn.send(b"X")
        readable, _, _ = select.select(open_, [], [], 0.25)
        for conn in readable:
            try:
                data = conn.recv(4096)
            except OSError:
                data = b""
            answers[conn] += data
            if not data:
                closed.add(conn)
    elapsed = time.monotonic() - started
    assert len(closed) == len(slow), f"{len(slow) - len(closed)} slow connections still open"
    assert elapsed < HEAD_TIMEOUT_S + 8
    assert {status_of(answer) for answer in answers.values()} == {408}
    for conn in silent:
        conn.settimeout(HEAD_TIMEOUT_S + 8)
        assert conn.recv(4096) == b"", "an unused connection was answered, not closed"
    for conn in [*slow, *silent]:
        conn.close()


def test_metrics_can_listen_apart_from_the_service(services: Pipeline) -> None:
    """The gateway with NEWSFEED_METRICS_PORT: /metrics there only, nothing else there."""
    public = services.gateway
    private = f"http://127.0.0.1:{METRICS_PORT}"
    assert httpx.get(f"{public}/metrics").status_code == 404
    metrics = httpx.get(f"{private}/metrics")
    assert metrics.status_code == 200
    assert "newsfeed_" in metrics.text
    assert httpx.get(f"{private}/v1/feed").status_code == 404
    assert httpx.get(f"{public}/v1/feed").status_code == 200
    # Ingest without the setting keeps /metrics on its own port.
    assert httpx.get(f"{services.ingest}/metrics").status_code == 200
