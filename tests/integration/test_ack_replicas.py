"""NEWSFEED_ACK_REPLICAS on a primary with one replica (two real redis-servers):
ingest answers 202 only once the replica has the item, 503 with Retry-After when
it does not in time; a worker's settles wait for the replica too."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from ingest.app import Settings
from shared.delivery import Done, Result, StreamWorker
from shared.events import Event, encode
from shared.redis_client import connect
from shared.settings import DeliverySettings
from shared.streams import ENRICHED, INGESTED, PUBLICATION_IN, PUBLISHED, ROUTES

from tests.support.builders import event_for, news_item
from tests.support.ingest_app import ingest_client
from tests.support.streams import stream
from tests.support.waiting import until
from tools.devstack import RedisServer

TOKEN = "replica-api-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Replicated:
    primary: RedisServer
    replica: RedisServer

    def pause_replica(self) -> None:
        assert self.replica.process is not None
        os.kill(self.replica.process.pid, signal.SIGSTOP)

    def resume_replica(self) -> None:
        assert self.replica.process is not None
        os.kill(self.replica.process.pid, signal.SIGCONT)


@pytest.fixture
def replicated(tmp_path: Path) -> Iterator[Replicated]:
    primary = RedisServer(workdir=tmp_path / "primary").start()
    replica = RedisServer(
        workdir=tmp_path / "replica",
        extra_args=("--replicaof", "127.0.0.1", str(primary.port)),
    ).start()
    pair = Replicated(primary, replica)
    try:
        yield pair
    finally:
        pair.resume_replica()
        replica.stop()
        primary.stop()


@pytest.fixture
async def clients(replicated: Replicated) -> AsyncIterator[tuple[aioredis.Redis, aioredis.Redis]]:
    primary, replica = connect(replicated.primary.url), connect(replicated.replica.url)

    async def linked() -> bool:
        return bool((await replica.info("replication")).get("master_link_status") == "up")

    await until(linked, timeout=20)
    yield primary, replica
    await primary.aclose()
    await replica.aclose()


def item(uri: str) -> dict[str, str]:
    return {"uri": uri, "headline": "Port reopens", "body_html": "<p>Port reopens.</p>"}


async def test_ingest_answers_202_only_once_the_replica_has_the_item(
    replicated: Replicated, clients: tuple[aioredis.Redis, aioredis.Redis]
) -> None:
    _, replica = clients
    settings = Settings.model_validate(
        {
            "redis_url": replicated.primary.url,
            "ingest_token": TOKEN,
            "scheduler_enabled": False,
            "ack_replicas": 1,
            "ack_timeout_ms": 300,
        }
    )
    async with ingest_client(settings) as api:
        answer = await api.post("/v1/items", json=item("urn:t:one"), headers=AUTH)
        assert answer.status_code == 202, answer.text
        # Read at once from the replica: WAIT saw it take the write.
        assert await replica.xlen(stream(INGESTED)) == 1

        replicated.pause_replica()
        refused = await api.post("/v1/items", json=item("urn:t:two"), headers=AUTH)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"]
        # Retrying while the replica is still away: still 503, never a 202.
        again = await api.post("/v1/items", json=item("urn:t:two"), headers=AUTH)
        assert again.status_code == 503

        replicated.resume_replica()
        retried = await api.post("/v1/items", json=item("urn:t:two"), headers=AUTH)
        assert retried.status_code == 202, retried.text
        assert await replica.xlen(stream(INGESTED)) == 2


async def _done(events: Sequence[Event]) -> list[Result]:
    return [Done(emit=(event,)) for event in events]


async def test_a_worker_pauses_while_the_replica_lags_and_goes_on_when_it_is_back(
    replicated: Replicated, clients: tuple[aioredis.Redis, aioredis.Redis]
) -> None:
    primary, replica = clients
    settings = DeliverySettings(
        batch_size=10, block_ms=50, claim_idle_ms=5000, ack_replicas=1, ack_timeout_ms=200
    )
    worker = StreamWorker(
        primary,
        PUBLICATION_IN,
        _done,
        settings,
        consumer="w",
        routes_to_ensure=ROUTES,
        output_stream=PUBLISHED,
    )
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: worker.stats.running)
        replicated.pause_replica()
        for i in range(5):
            await primary.xadd(stream(ENRICHED), encode(event_for(news_item(f"urn:t:{i}"))))
        await until(lambda: worker.stats.replica_shortfalls > 0)
        replicated.resume_replica()
        await until(lambda: worker.stats.processed == 5)
        await until(lambda: _replica_has(replica, 5), timeout=10)
    finally:
        worker.stop()
        await asyncio.wait_for(task, 10)


async def _replica_has(replica: aioredis.Redis, count: int) -> bool:
    return int(await replica.xlen(stream(PUBLISHED))) == count
