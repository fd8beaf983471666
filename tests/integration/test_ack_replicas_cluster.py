"""NEWSFEED_ACK_REPLICAS on the tests' Redis Cluster (3 primaries, 3 replicas):
a write counts only once the replica of its slot's primary has it. Ingest
answers 503 (single and batch endpoint) while that replica is away, a worker
pauses its lane; a killed primary's writes are never acknowledged, and once
its replica took over they are again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Iterator, Sequence

import httpx
import pytest
from ingest.accept import state_key
from ingest.app import Settings, build
from shared.delivery import Done, Result, StreamWorker, ensure_groups
from shared.events import Event, decode, encode
from shared.partitions import Partitions
from shared.redis_client import Client
from shared.replicated import TooFewReplicas
from shared.service import EXIT_FATAL, Lifecycle
from shared.settings import DeliverySettings
from shared.streams import ENRICHED, INGESTED, PUBLICATION_IN, PUBLISHED, ROUTES

from tests.support.builders import event_for, news_item
from tests.support.ingest_app import ingest_client
from tests.support.waiting import until
from tools.devstack import ClusterNode, RedisCluster

TOKEN = "replica-api-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FOUR = Partitions(4)
RELAYED = PUBLISHED  # the worker relays news.enriched to it


def item(uri: str, headline: str = "Port reopens") -> dict[str, str]:
    return {"uri": uri, "headline": headline, "body_html": f"<p>{headline}.</p>"}


def uri_in(partition: int, label: str) -> str:
    return next(uri for n in range(1000) if FOUR.of(uri := f"urn:t:{label}:{n}") == partition)


@contextlib.contextmanager
def paused(node: ClusterNode) -> Iterator[None]:
    """SIGSTOP a replica (shorter than the node timeout, so nobody fails it over)."""
    assert node.server.process is not None
    os.kill(node.server.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(node.server.process.pid, signal.SIGCONT)


def on_replica(node: ClusterNode, *command: str | int) -> object:
    """A read sent to a replica itself (READONLY), not to its primary."""
    with node.client() as client:
        client.execute_command("READONLY")
        return client.execute_command(*command)


def replica_of_partition(cluster: RedisCluster, partition: int) -> ClusterNode:
    [replica] = cluster.replicas_of(cluster.primary_of_key(FOUR.key(INGESTED, partition)))
    return replica


@pytest.fixture
async def api(redis_cluster: RedisCluster) -> AsyncIterator[httpx.AsyncClient]:
    redis_cluster.flush()
    settings = Settings.model_validate(
        {
            "redis_url": redis_cluster.url,
            "ingest_token": TOKEN,
            "scheduler_enabled": False,
            "partitions": FOUR.count,
            "ack_replicas": 1,
            "ack_timeout_ms": 300,
        }
    )
    async with ingest_client(settings) as client:
        yield client


async def test_ingest_answers_202_only_once_the_replica_of_the_items_slot_has_it(
    redis_cluster: RedisCluster, api: httpx.AsyncClient
) -> None:
    first = 0
    primary = redis_cluster.primary_of_key(FOUR.key(INGESTED, first)).port
    # A partition whose primary (and replica) is another one.
    other = next(
        p
        for p in FOUR.indexes
        if redis_cluster.primary_of_key(FOUR.key(INGESTED, p)).port != primary
    )
    replica = replica_of_partition(redis_cluster, first)
    one, two = uri_in(first, "one"), uri_in(first, "two")

    answer = await api.post("/v1/items", json=item(one), headers=AUTH)
    assert answer.status_code == 202, answer.text
    # Read at once from the replica: WAIT on the slot's primary saw it take the write.
    assert on_replica(replica, "XLEN", FOUR.key(INGESTED, first)) == 1

    with paused(replica):
        refused = await api.post("/v1/items", json=item(two), headers=AUTH)
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"]
        # The write is on the primary now, so a retry finds the item unchanged:
        # still 503 while the replica is away (a marker in the slot, then WAIT).
        again = await api.post("/v1/items", json=item(two), headers=AUTH)
        assert again.status_code == 503, again.text
        # Another primary's replica is there: its items are accepted meanwhile.
        elsewhere = await api.post("/v1/items", json=item(uri_in(other, "x")), headers=AUTH)
        assert elsewhere.status_code == 202, elsewhere.text
        # A batch touching the paused replica's slot is not acknowledged.
        batch = {"items": [item(uri_in(other, "y")), item(uri_in(first, "z"))]}
        refused_batch = await api.post("/v1/items:batch", json=batch, headers=AUTH)
        assert refused_batch.status_code == 503, refused_batch.text

    retried = await api.post("/v1/items", json=item(two), headers=AUTH)
    assert retried.status_code == 202, retried.text
    assert retried.json()["version"] == 1  # the earlier write, now confirmed
    batch_again = await api.post("/v1/items:batch", json=batch, headers=AUTH)
    assert batch_again.status_code == 202, batch_again.text
    assert on_replica(replica, "XLEN", FOUR.key(INGESTED, first)) == 3
    assert on_replica(replica, "HGET", state_key(FOUR, two), "version") == "1"


async def _relay(events: Sequence[Event]) -> list[Result]:
    return [Done(emit=(event,)) for event in events]


async def test_a_worker_pauses_its_lane_while_that_replica_lags_then_goes_on(
    redis_cluster: RedisCluster, cluster_redis: Client
) -> None:
    settings = DeliverySettings(
        partitions=FOUR.count,
        batch_size=10,
        block_ms=50,
        claim_idle_ms=5000,
        ack_replicas=1,
        ack_timeout_ms=200,
    )
    await ensure_groups(cluster_redis, ROUTES, FOUR)  # the client learns the cluster's nodes
    worker = StreamWorker(
        cluster_redis,
        PUBLICATION_IN,
        _relay,
        settings,
        consumer="w",
        routes_to_ensure=ROUTES,
        output_stream=RELAYED,
    )
    task = asyncio.create_task(worker.run())
    partition = 2
    replica = replica_of_partition(redis_cluster, partition)
    try:
        await until(lambda: worker.stats.running)
        with paused(replica):
            for n in range(5):
                uri = uri_in(partition, f"w{n}")
                await cluster_redis.xadd(
                    FOUR.key(ENRICHED, partition), encode(event_for(news_item(uri)))
                )
            await until(lambda: worker.stats.replica_shortfalls > 0, timeout=5)
        await until(lambda: worker.stats.processed == 5)
        await until(lambda: on_replica(replica, "XLEN", FOUR.key(RELAYED, partition)) == 5)
        pending = await cluster_redis.xpending(FOUR.key(ENRICHED, partition), PUBLICATION_IN.group)
        assert pending["pending"] == 0
    finally:
        worker.stop()
        await asyncio.wait_for(task, 10)


async def test_writes_to_a_killed_primary_are_not_acknowledged_until_a_replica_has_them_again(
    redis_cluster: RedisCluster, api: httpx.AsyncClient
) -> None:
    """Kill -9 a primary: 503 while it is gone, 503 still once its replica took
    over (that replica has no replica of its own), 202 once the old primary
    is back as its replica."""
    partition = 3
    victim = redis_cluster.primary_of_key(FOUR.key(INGESTED, partition))
    during = item(uri_in(partition, "during"))

    async def submit(body: dict[str, str]) -> int:
        answer = await api.post("/v1/items", json=body, headers=AUTH)
        assert answer.status_code in (202, 503), answer.text
        return answer.status_code

    try:
        assert await submit(item(uri_in(partition, "before"))) == 202
        redis_cluster.kill(victim)
        assert await submit(during) == 503
        promoted = redis_cluster.wait_for_failover(victim)
        assert await submit(during) == 503  # the promoted primary has no replica yet
        redis_cluster.restart(victim)

        async def accepted() -> bool:
            return await submit(during) == 202

        await until(accepted, timeout=30, interval=0.2)
        with promoted.client() as client:
            assert client.xlen(FOUR.key(INGESTED, partition)) == 2
        assert on_replica(victim, "XLEN", FOUR.key(INGESTED, partition)) == 2
    finally:
        redis_cluster.heal()


async def test_a_batch_without_replicas_is_accepted_on_a_cluster_in_order(
    redis_cluster: RedisCluster,
) -> None:
    """Without ACK_REPLICAS a batch's scripts go slot by slot (redis-py's cluster
    pipeline refuses EVALSHA); two versions of one uri land in the batch's order."""
    redis_cluster.flush()
    settings = Settings.model_validate(
        {
            "redis_url": redis_cluster.url,
            "ingest_token": TOKEN,
            "scheduler_enabled": False,
            "partitions": FOUR.count,
        }
    )
    uris = [uri_in(p, "batch") for p in FOUR.indexes]
    batch = {"items": [*(item(uri) for uri in uris), item(uris[0], "Port reopens again")]}
    async with ingest_client(settings) as client:
        answer = await client.post("/v1/items:batch", json=batch, headers=AUTH)
    assert answer.status_code == 202, answer.text
    assert [(r["uri"], r["version"]) for r in answer.json()["results"]] == [
        *((uri, 1) for uri in uris),
        (uris[0], 2),
    ]


async def test_more_replicas_than_a_shard_has_are_refused_at_start(
    redis_cluster: RedisCluster, cluster_redis: Client
) -> None:
    """Two replicas asked, one per shard configured: every write would be
    refused, so a worker and ingest stop at start with a clear error instead."""
    settings = DeliverySettings(partitions=FOUR.count, ack_replicas=2)
    worker = StreamWorker(cluster_redis, PUBLICATION_IN, _relay, settings, consumer="w")
    with pytest.raises(TooFewReplicas, match=r"NEWSFEED_ACK_REPLICAS=2, but the shard .* 1 repl"):
        await asyncio.wait_for(worker.run(), 10)

    lifecycle = Lifecycle()
    ingest = build(
        Settings.model_validate(
            {
                "redis_url": redis_cluster.url,
                "ingest_token": TOKEN,
                "scheduler_enabled": False,
                "partitions": FOUR.count,
                "ack_replicas": 2,
            }
        ),
        lifecycle,
    )
    async with ingest.router.lifespan_context(ingest):
        await until(lambda: lifecycle.exit_code == EXIT_FATAL, timeout=10)


async def test_a_primary_that_lost_its_scripts_is_given_them_again(
    redis_cluster: RedisCluster, api: httpx.AsyncClient
) -> None:
    """A replica promoted, or a node restarted, has no scripts cached (scripts
    replicate as their effects): the accept script is loaded there and run."""
    for primary in redis_cluster.current_primaries():
        with primary.client() as client:
            client.script_flush()
    answer = await api.post("/v1/items", json=item(uri_in(1, "after-flush")), headers=AUTH)
    assert answer.status_code == 202, answer.text


class Gate:
    """A relay that holds its first batch until opened: the test kills the
    lane's primary while that batch is in hand."""

    def __init__(self) -> None:
        self.holding = asyncio.Event()
        self.open = asyncio.Event()
        self.done: set[str] = set()

    async def __call__(self, events: Sequence[Event]) -> list[Result]:
        self.holding.set()
        await self.open.wait()
        self.done.update(event.subject for event in events)
        return [Done(emit=(event,)) for event in events]


async def test_a_settle_cut_off_by_a_failover_is_retried_without_waiting_for_the_claim_time(
    redis_cluster: RedisCluster, cluster_redis: Client
) -> None:
    """The lane's primary dies while a batch is in hand: its settle cannot be
    confirmed, so its entries are retried (after the retry delay, on the
    promoted replica once the old primary is back as its replica), not left
    pending for the claim idle time; each is relayed, nothing stays pending."""
    settings = DeliverySettings(
        partitions=FOUR.count,
        batch_size=10,
        block_ms=50,
        claim_idle_ms=120_000,
        retry_delay_ms=200,
        ack_replicas=1,
        ack_timeout_ms=500,
    )
    gate = Gate()
    worker = StreamWorker(
        cluster_redis,
        PUBLICATION_IN,
        gate,
        settings,
        consumer="w",
        routes_to_ensure=ROUTES,
        output_stream=RELAYED,
    )
    partition = 1
    uris = [uri_in(partition, f"cut{n}") for n in range(3)]
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: worker.stats.running)
        for uri in uris:
            await cluster_redis.xadd(
                FOUR.key(ENRICHED, partition), encode(event_for(news_item(uri)))
            )
        await asyncio.wait_for(gate.holding.wait(), 10)
        victim = redis_cluster.primary_of_key(FOUR.key(ENRICHED, partition))
        redis_cluster.kill(victim)
        gate.open.set()
        await until(lambda: worker.stats.unconfirmed_settles > 0, timeout=10)
        redis_cluster.wait_for_failover(victim)
        redis_cluster.restart(victim)
        # Well inside the claim idle time of two minutes.
        await until(lambda: worker.stats.processed >= len(uris), timeout=40)

        async def nothing_pending() -> bool:
            summary = await cluster_redis.xpending(FOUR.key(ENRICHED, partition), "publication")
            return int(summary["pending"]) == 0

        await until(nothing_pending, timeout=20)
        relayed = await cluster_redis.xrange(FOUR.key(RELAYED, partition))
        assert {decode(fields).subject for _, fields in relayed} == set(uris)
    finally:
        worker.stop()
        await asyncio.wait_for(task, 20)
        redis_cluster.heal()
