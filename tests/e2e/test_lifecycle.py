"""How the service processes stop: cleanly on SIGTERM, loudly when Redis lost its data."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as sync_redis
from shared.service import EXIT_FATAL
from shared.streams import ENRICHMENT_IN, PUBLICATION_IN

from tests.support.services import Pipeline
from tests.support.streams import stream
from tests.support.waiting import poll
from tools.devstack import RedisServer


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    """A pipeline of its own: these tests stop its services."""
    server = RedisServer(workdir=tmp_path / "redis").start()
    running = Pipeline(server.url, tmp_path / "logs").start()
    yield running
    running.stop()
    server.stop()


def wait_exit(pipeline: Pipeline, name: str, timeout: float = 20.0) -> int:
    process = pipeline.services[name].process
    assert process is not None
    poll(
        lambda: process.poll() is not None,
        timeout,
        failure=lambda: f"{name} did not exit: {pipeline.services[name].log_tail()}",
    )
    return process.returncode


def test_sigterm_during_traffic_exits_zero_and_leaves_nothing_pending(pipeline: Pipeline) -> None:
    """A worker told to stop while items flow finishes its batch, acknowledges it,
    leaves its group, and exits 0."""
    for i in range(200):
        pipeline.submit({"uri": f"urn:t:term:{i}", "headline": f"Item {i}"})
    pipeline.services["enrichment"].signal(signal.SIGTERM)
    assert wait_exit(pipeline, "enrichment") == 0
    client = sync_redis.Redis.from_url(pipeline.redis_url, decode_responses=True)
    consumers = client.xinfo_consumers(stream(ENRICHMENT_IN.stream), ENRICHMENT_IN.group)
    assert all(int(c["pending"]) == 0 for c in consumers)
    assert consumers == [], "the stopped consumer should have left the group"


def test_workers_exit_nonzero_and_say_why_when_redis_loses_its_data(pipeline: Pipeline) -> None:
    """Redis restarted empty (here: flushed): workers do not hang or quietly start
    over; they exit with EXIT_FATAL and log the reason."""
    client = sync_redis.Redis.from_url(pipeline.redis_url)
    client.flushall()
    for name in ("enrichment", "publication"):
        assert wait_exit(pipeline, name) == EXIT_FATAL
        assert "fatal" in pipeline.services[name].log_tail(50)
    assert not client.exists(stream(PUBLICATION_IN.stream))


def test_while_redis_is_down_the_apis_answer_503_and_recover_by_themselves(
    tmp_path: Path,
) -> None:
    """No 500s and no hang while Redis is away: a 503 with Retry-After; when it
    is back, the same requests succeed without restarting anything."""
    import httpx

    server = RedisServer(workdir=tmp_path / "redis").start()
    running = Pipeline(server.url, tmp_path / "logs").start()
    headers = {"Authorization": "Bearer e2e-token-0123456789abcdef"}
    try:
        server.kill()
        down = httpx.post(
            f"{running.ingest}/v1/items", json={"headline": "x"}, headers=headers, timeout=15
        )
        assert down.status_code == 503
        assert down.headers["Retry-After"] == "1"
        assert "retry" in down.json()["error"]
        assert httpx.get(f"{running.gateway}/v1/feed", timeout=15).status_code == 503
        assert httpx.get(f"{running.ingest}/readyz", timeout=15).status_code == 503
        server.start()

        def submitted() -> httpx.Response | None:
            up = httpx.post(
                f"{running.ingest}/v1/items", json={"headline": "back"}, headers=headers, timeout=15
            )
            return up if up.status_code == 202 else None

        up = poll(submitted, interval=0.2)
        assert up.status_code == 202
        metrics = httpx.get(f"{running.ingest}/metrics").text
        assert 'newsfeed_http_requests_total{route="/v1/items",status="503"}' in metrics
        assert 'newsfeed_http_requests_total{route="/v1/items",status="202"}' in metrics
        assert 'newsfeed_items_total{outcome="out",stage="ingest"} 1.0' in metrics
    finally:
        running.stop()
        server.stop()
