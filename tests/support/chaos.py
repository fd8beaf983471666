"""A Jepsen-style harness: a workload of uniquely identified submissions,
faults injected while it runs, and a checker comparing what ingest
acknowledged with what the feed shows."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import httpx
import redis as sync_redis
from shared.delivery.groups import PARTITIONS_KEY
from shared.events import decode
from shared.partitions import Partitions
from shared.redis_client import is_cluster
from shared.streams import DEAD_LETTER, ENRICHED, INGESTED, PUBLISHED

from tests.support.services import TOKEN, Pipeline
from tools.devstack import ClusterNode, RedisCluster, ServiceProcess

SyncClient: TypeAlias = sync_redis.Redis | sync_redis.RedisCluster

REPORT_DIR = Path(__file__).resolve().parents[2] / "test-output" / "chaos"


@dataclass
class Report:
    """What one scenario showed; `lost` and `duplicated` must be 0."""

    scenario: str
    submitted: int = 0
    acknowledged: int = 0
    in_feed: int = 0
    lost: int = 0
    duplicated: int = 0
    double_effects: int = 0
    dead_letters: int = 0
    pending_after: int = 0
    faults: int = 0
    submit_seconds: float = 0.0
    recovery_seconds: float = 0.0
    notes: dict[str, object] = field(default_factory=dict)

    def save(self) -> None:
        REPORT_DIR.mkdir(parents=True, exist_ok=True)
        (REPORT_DIR / f"{self.scenario}.json").write_text(json.dumps(asdict(self), indent=2))
        print(f"\n[chaos] {json.dumps(asdict(self))}")


@dataclass
class Workload:
    """Submits `count` items with unique uris through the ingest replicas."""

    ingest_urls: Callable[[], list[str]]
    prefix: str
    count: int
    concurrency: int = 24
    rate_per_s: float | None = None
    poison_every: int = 0
    # What marks every `poison_every`th uri. Enrichment's poison pattern matches
    # "poison-"; a baseline run marks the same positions with a harmless tag, so
    # both runs carry the same unmarked ("good") items.
    poison_tag: str = "poison-"
    # Which position in each block of `poison_every` is marked (default the last).
    poison_offset: int = -1
    acknowledged: set[str] = field(default_factory=set)
    # When each 202 came (time.monotonic()), for recovery times after a fault.
    acknowledged_at: dict[str, float] = field(default_factory=dict)
    indeterminate: set[str] = field(default_factory=set)
    # 5xx answers (each retried): 503s while replicas lag or a primary is gone.
    refused: int = 0
    latencies: list[float] = field(default_factory=list)

    def uri(self, i: int) -> str:
        every = self.poison_every
        poison = every and i % every == self.poison_offset % every
        return f"urn:chaos:{self.prefix}:{self.poison_tag if poison else ''}{i:06d}"

    def marked(self, uri: str) -> bool:
        """Whether `uri` is at a poison position (poison or its baseline stand-in)."""
        return bool(self.poison_every) and f":{self.prefix}:{self.poison_tag}" in uri

    def item(self, i: int) -> dict[str, object]:
        return {
            "uri": self.uri(i),
            "headline": f"Chaos item {i} for {self.prefix}",
            "body_html": f"<p>Item {i}: President Volodymyr Zelensky met European "
            "leaders in Kyiv to discuss reconstruction and air defence.</p>",
            "authors": [{"name": "Chaos desk", "role": "desk"}],
        }

    async def _submit(self, client: httpx.AsyncClient, i: int) -> None:
        body = self.item(i)
        uri = str(body["uri"])
        for attempt in range(40):
            urls = self.ingest_urls()
            url = urls[(i + attempt) % len(urls)]
            try:
                response = await client.post(f"{url}/v1/items", json=body)
            except httpx.HTTPError:
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
                continue
            if response.status_code == 202:
                self.acknowledged.add(uri)
                self.acknowledged_at[uri] = time.monotonic()
                self.indeterminate.discard(uri)
                return
            if response.status_code >= 500:
                self.refused += 1
                self.indeterminate.add(uri)
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
                continue
            raise AssertionError(f"{uri}: {response.status_code} {response.text}")
        self.indeterminate.add(uri)

    async def run(self) -> float:
        started = time.monotonic()
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(self.count):
            queue.put_nowait(i)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        limits = httpx.Limits(max_connections=self.concurrency)
        async with httpx.AsyncClient(headers=headers, limits=limits, timeout=10) as client:

            async def worker() -> None:
                while not queue.empty():
                    i = queue.get_nowait()
                    if self.rate_per_s:
                        due = started + i / self.rate_per_s
                        await asyncio.sleep(max(0.0, due - time.monotonic()))
                    await self._submit(client, i)

            await asyncio.gather(*(worker() for _ in range(self.concurrency)))
        return time.monotonic() - started


class Periodically(threading.Thread):
    """Injects a fault every `interval` seconds until stopped."""

    def __init__(self, interval: float, fault: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.fault = fault
        self.count = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.fault()
            self.count += 1

    def stop(self) -> int:
        self._stop_event.set()
        self.join(30)
        return self.count


def kill_and_restart(service: ServiceProcess) -> Callable[[], None]:
    def fault() -> None:
        service.signal(signal.SIGKILL)
        service.restart()
        service.wait_ready()  # a supervisor's restart, then the next fault

    return fault


@dataclass
class Failover:
    """One primary killed: when, whose partitions, how long until its replica
    took over and until the cluster was whole again (the old primary back as
    a replica)."""

    victim: str
    partitions: list[int]
    killed_at: float
    promoted_s: float = 0.0
    whole_s: float = 0.0

    def summary(self, workload: Workload, partitions: Partitions) -> dict[str, object]:
        """With the seconds from the kill until the first 202 for an item of the
        victim's partitions (its writes acknowledged again)."""
        back = [
            at - self.killed_at
            for uri, at in workload.acknowledged_at.items()
            if at > self.killed_at and partitions.of(uri) in self.partitions
        ]
        return {
            "victim": self.victim,
            "partitions": len(self.partitions),
            "promoted_s": round(self.promoted_s, 2),
            "whole_s": round(self.whole_s, 2),
            "writes_back_s": round(min(back), 2) if back else None,
        }


@dataclass
class KillPrimary:
    """kill -9 a primary that holds partitions (another one each time), wait
    for its replica to take over, then start it again as a supervisor would:
    it rejoins as the new primary's replica.

    With `lagging_s`, its replica falls behind that long before the kill: it
    is stopped (SIGSTOP) and its link dropped by the primary (CLIENT KILL TYPE
    replica; a stopped replica alone would still read what the kernel had
    buffered for it), then continued right after the kill. The primary dies
    holding `lagging_s` of writes its replica never got (replication is
    asynchronous): what NEWSFEED_ACK_REPLICAS must not have acknowledged."""

    cluster: RedisCluster
    partitions: Partitions
    lagging_s: float = 0.0
    stream: str = INGESTED
    failovers: list[Failover] = field(default_factory=list)

    def __call__(self) -> None:
        primaries = self.cluster.current_primaries()
        victim: ClusterNode = primaries[len(self.failovers) % len(primaries)]
        owned = [
            p
            for p in self.partitions.indexes
            if self.cluster.primary_of_key(self.partitions.key(self.stream, p)) == victim
        ]
        failover = Failover(victim.address, owned, killed_at=time.monotonic())
        self.failovers.append(failover)
        lagging = [r.server.process for r in self.cluster.replicas_of(victim) if r.alive]
        for process in lagging:
            assert process is not None
            process.send_signal(signal.SIGSTOP)
        try:
            if lagging:
                with victim.client() as client:
                    client.execute_command("CLIENT", "KILL", "TYPE", "replica")
            time.sleep(self.lagging_s)  # the fault's length: writes go on meanwhile
            failover.killed_at = time.monotonic()
            self.cluster.kill(victim)
        finally:
            for process in lagging:
                assert process is not None
                process.send_signal(signal.SIGCONT)
        self.cluster.wait_for_failover(victim)
        failover.promoted_s = time.monotonic() - failover.killed_at
        self.cluster.restart(victim)
        self.cluster.wait_healthy()
        failover.whole_s = time.monotonic() - failover.killed_at


def client_for(redis_url: str) -> SyncClient:
    """A client for the Redis or the Redis Cluster at `redis_url`."""
    if is_cluster(redis_url):
        return sync_redis.RedisCluster.from_url(redis_url, decode_responses=True)
    return sync_redis.Redis.from_url(redis_url, decode_responses=True)


def partitions_in(client: SyncClient) -> Partitions:
    """The partition count the services recorded in Redis at start."""
    return Partitions(int(client.get(PARTITIONS_KEY) or 1))


def quiet(redis_url: str, timeout: float = 180.0, settle: float = 1.0) -> float:
    """Wait until every group of every partition has nothing pending and no
    lag, and news.published stopped growing; return how long it took."""
    client = client_for(redis_url)
    started = time.monotonic()
    last_length, stable_since = -1, time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            partitions = partitions_in(client)
            busy = False
            for name in (*partitions.keys(INGESTED), *partitions.keys(ENRICHED)):
                # Not XINFO's `lag`: after Redis reloads its AOF, Redis 7.0 can keep
                # reporting lag for a group that has read everything. A group is
                # caught up when it was delivered the stream's last entry.
                last = client.xinfo_stream(name)["last-generated-id"]
                for group in client.xinfo_groups(name):
                    if int(group["pending"]) or group["last-delivered-id"] != last:
                        busy = True
            length = sum(int(client.xlen(name)) for name in partitions.keys(PUBLISHED))
        except sync_redis.RedisError:  # down, restarting, or a cluster failing over
            busy, length = True, -1
        if length != last_length or busy:
            last_length, stable_since = length, time.monotonic()
        elif time.monotonic() - stable_since >= settle:
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"the system did not go quiet within {timeout}s")


def feed_items(gateway: str) -> Iterator[dict[str, Any]]:
    """Every item the gateway's feed shows, walking all pages."""
    cursor = None
    with httpx.Client(timeout=10) as client:
        while True:
            params: dict[str, str | int] = {"limit": 100}
            if cursor:
                params["cursor"] = cursor
            page = client.get(f"{gateway}/v1/feed", params=params).json()
            yield from page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return


def feed_uris(gateway: str, prefix: str) -> list[str]:
    """Every uri of this run the gateway's feed shows."""
    return [item["uri"] for item in feed_items(gateway) if f":{prefix}:" in item["uri"]]


def check(pipeline: Pipeline, workload: Workload, report: Report) -> Report:
    """Compare acknowledgements with the feed and the streams."""
    report.recovery_seconds = round(quiet(pipeline.redis_url), 2)
    client = client_for(pipeline.redis_url)
    partitions = partitions_in(client)
    shown = feed_uris(pipeline.gateway, workload.prefix)
    effects = Counter(
        (event.subject, event.data.version)
        for name in partitions.keys(PUBLISHED)
        for event in (decode(fields) for _, fields in client.xrange(name))
    )
    report.submitted = workload.count
    report.acknowledged = len(workload.acknowledged)
    report.in_feed = len(set(shown))
    report.lost = len(workload.acknowledged - set(shown))
    report.duplicated = len(shown) - len(set(shown))
    report.double_effects = sum(1 for n in effects.values() if n > 1)
    report.dead_letters = sum(int(client.xlen(name)) for name in partitions.keys(DEAD_LETTER))
    report.pending_after = sum(
        int(group["pending"])
        for name in (*partitions.keys(INGESTED), *partitions.keys(ENRICHED))
        for group in client.xinfo_groups(name)
    )
    report.notes["indeterminate"] = len(workload.indeterminate)
    report.notes["refused"] = workload.refused
    return report
