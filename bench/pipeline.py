"""Throughput: the pipeline end to end, its transport alone, and the bare relay.

Three kinds of run, each on a fresh redis-server with fresh processes:

- `e2e`: every item POSTed to ingest (single-item POST /v1/items over
  keep-alive connections; ingest has no batch endpoint), ingest, enrichment,
  publication and gateway as processes, until news.published holds every item;
  the gateway is then asked for the items (spot check and a walk of the feed).
- `transport`: the items are pre-loaded into news.ingested as ingest would
  write them (shared.events.encode), then enrichment (as configured, or
  no-op: NEWSFEED_ENRICH_DISABLED=["all"]), publication and gateway move them
  to news.published.
- `baseline`: the same pre-loaded entries through three bare redis-py relay
  hops (bench.relay): news.ingested -> news.enriched -> news.published -> a sink.

Pre-loaded runs start fairly: the entries are written before any consumer
runs, the first consumer group is created at `$` (after them), the consumers
start and settle, and the clock starts when the group is moved back to `0`
and one more entry is appended (which wakes the blocked readers). The clock
stops when the last stream holds every item. CPU is read from /proc for every
process of the run and the redis-server over exactly that window.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis
from shared.partitions import Partitions
from shared.settings import DEFAULT_PARTITIONS
from shared.streams import (
    DEAD_LETTER,
    ENRICHED,
    ENRICHMENT_GROUP,
    INGESTED,
    PUBLISHED,
)

from bench.httpload import post_all, post_requests
from bench.procs import (
    TOKEN,
    Stack,
    cpu_delta,
    cpu_snapshot,
    self_cpu_seconds,
    system_snapshot,
    wait_for,
)

SINK = "bench.sink"
# The services' streams at the default NEWSFEED_PARTITIONS (runs that do not
# set it). The bare relay keeps the plain names.
DEFAULT = Partitions(DEFAULT_PARTITIONS)
RELAY_HOPS = (
    (INGESTED, ENRICHED, "relay-1"),
    (ENRICHED, PUBLISHED, "relay-2"),
    (PUBLISHED, SINK, "relay-3"),
)


@dataclass
class RunResult:
    kind: str
    items: int
    seconds: float
    cpu_s: dict[str, float]
    client_cpu_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def items_per_s(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else float("nan")

    @property
    def cpu_us_per_item(self) -> float:
        return sum(self.cpu_s.values()) * 1e6 / self.items

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "items": self.items,
            "seconds": self.seconds,
            "items_per_s": self.items_per_s,
            "cpu_us_per_item": self.cpu_us_per_item,
            "cpu_us_per_item_by_process": {
                name: seconds * 1e6 / self.items for name, seconds in self.cpu_s.items()
            },
            "client_cpu_us_per_item": self.client_cpu_s * 1e6 / self.items,
            "system_share_by_process": {
                name: seconds / self.cpu_s[name] if self.cpu_s.get(name) else None
                for name, seconds in self.extra.get("system_cpu_s", {}).items()
            },
            **{k: v for k, v in self.extra.items() if k != "system_cpu_s"},
        }


@dataclass
class Window:
    """One measured window: the CPU of every process of the stack, of Redis and
    of this harness, with Redis's command stats reset at its start."""

    stack: Stack
    profiler: Profiler | None
    pids: dict[str, int]
    cpu_before: dict[str, float]
    client_before: float
    system_before: dict[str, float]
    started: float = 0.0

    @classmethod
    def open(cls, stack: Stack, profiler: Profiler | None = None) -> Window:
        pids = stack.pids()
        if profiler:
            profiler.start(pids)
        window = cls(
            stack, profiler, pids, cpu_snapshot(pids), self_cpu_seconds(), system_snapshot(pids)
        )
        stack.redis.config_resetstat()
        window.started = time.monotonic()
        return window

    def close(self, kind: str, items: int, ended: float) -> RunResult:
        """The result of the window that ended at `ended`; the processes must be alive."""
        cpu_after, client_after = cpu_snapshot(self.pids), self_cpu_seconds()
        system = cpu_delta(self.system_before, system_snapshot(self.pids))
        if self.profiler:
            self.profiler.stop()
        self.stack.check_alive()
        # Read before anything else asks Redis for more (the gateway check).
        commands = command_stats(self.stack.redis, items)
        return RunResult(
            kind,
            items,
            ended - self.started,
            cpu_delta(self.cpu_before, cpu_after),
            client_after - self.client_before,
            {"redis_commands": commands, "system_cpu_s": system},
        )


def preload(client: redis.Redis, stream: str, entries: Sequence[dict[str, str]]) -> None:
    for start in range(0, len(entries), 500):
        with client.pipeline(transaction=False) as pipe:
            for fields in entries[start : start + 500]:
                pipe.xadd(stream, fields)
            pipe.execute()


def release(client: redis.Redis, stream: str, group: str, kick: dict[str, str]) -> None:
    """Let `group` read `stream` from the start; the appended entry wakes blocked readers."""
    with client.pipeline(transaction=True) as pipe:
        pipe.xgroup_setid(stream, group, "0")
        pipe.xadd(stream, kick)
        pipe.execute()


def timeout_for(items: int) -> float:
    # Generous: enrichment as configured runs a few hundred items/s on two busy cores.
    return max(120.0, items / 40)


class Profiler:
    """Profilers on each process of a run while the clock runs (optional).

    - py-spy (Python stacks) on each Python process. It samples wall-clock time
      of threads that are not idle, so a thread preempted inside a system call
      (a send that woke Redis, say) counts there; and it pauses the process
      for each sample (--nonblocking tears the stacks), so a profiled run is
      slower and is never counted.
    - perf (CPU samples, `-e cpu-clock`) on every process, Redis included, if
      `perf` is installed: time actually on a CPU, split by shared object —
      the kernel (system calls, loopback TCP), libpython, pydantic-core, ...
    """

    def __init__(self, exe: str | None, outdir: Path | None, label: str) -> None:
        self.exe, self.outdir, self.label = exe, outdir, label
        self.perf = shutil.which("perf")
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, pids: dict[str, int]) -> None:
        if self.outdir is None or not (self.exe or self.perf):
            return
        self.outdir.mkdir(parents=True, exist_ok=True)
        for name, pid in pids.items():
            commands = []
            if self.exe and name != "redis":
                out = self.outdir / f"{self.label}-{name}.txt"
                commands.append(
                    [
                        self.exe,
                        "record",
                        "--pid",
                        str(pid),
                        "--format",
                        "raw",
                        "--rate",
                        "100",
                        "--output",
                        str(out),
                    ]
                )
            if self.perf:
                out = self.outdir / f"{self.label}-{name}.perf.data"
                commands.append(
                    [
                        self.perf,
                        "record",
                        "-e",
                        "cpu-clock",
                        "-F",
                        "499",
                        "-p",
                        str(pid),
                        "-o",
                        str(out),
                    ]
                )
            for command in commands:
                self.procs.append(
                    subprocess.Popen(  # noqa: S603 - profilers on our own processes
                        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                    )
                )
        time.sleep(0.5)  # let the samplers attach before the clock starts

    def stop(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()


def gateway_check(gateway_url: str, uris: Sequence[str], walk: bool) -> dict[str, Any]:
    """Spot-check items through the gateway; optionally count the whole feed."""
    out: dict[str, Any] = {}
    with httpx.Client(timeout=30) as http:
        sample = [uris[0], uris[len(uris) // 2], uris[-1]]
        out["spot_check_ok"] = all(
            http.get(f"{gateway_url}/v1/items/{uri}").status_code == 200 for uri in sample
        )
        if walk:
            seen = 0
            cursor: str | None = None
            while True:
                params: dict[str, str | int] = {"limit": 100}
                if cursor:
                    params["cursor"] = cursor
                page = http.get(f"{gateway_url}/v1/feed", params=params).json()
                seen += len(page["items"])
                cursor = page["next_cursor"]
                if not cursor:
                    break
            out["feed_count"] = seen
    return out


def command_stats(client: redis.Redis, items: int) -> dict[str, dict[str, float]]:
    """Redis commands of the measured window, per item: calls and server time (µs).

    Read after `CONFIG RESETSTAT` at the start of the window; shows round trips
    per item (the per-batch commands divided by items give the batch size)."""
    stats = client.info("commandstats")
    out = {}
    for name, value in stats.items():
        if isinstance(value, dict) and value.get("calls"):
            out[name.removeprefix("cmdstat_")] = {
                "calls_per_item": int(value["calls"]) / items,
                "usec_per_item": float(value["usec"]) / items,
            }
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["usec_per_item"]))


def stream_health(client: redis.Redis, partitions: Partitions = DEFAULT) -> dict[str, int]:
    pending = 0
    for stream in (*partitions.keys(INGESTED), *partitions.keys(ENRICHED)):
        with contextlib.suppress(redis.ResponseError):
            pending += sum(int(g["pending"]) for g in client.xinfo_groups(stream))
    dead_letters = sum(int(client.xlen(key)) for key in partitions.keys(DEAD_LETTER))
    return {"dead_letters": dead_letters, "pending_after": pending}


def published_count(client: redis.Redis, partitions: Partitions) -> int:
    with client.pipeline(transaction=False) as pipe:
        for key in partitions.keys(PUBLISHED):
            pipe.xlen(key)
        return sum(int(n) for n in pipe.execute())


def preload_partitions(
    client: redis.Redis, partitions: Partitions, entries: Sequence[dict[str, str]]
) -> list[tuple[str, dict[str, str]]]:
    """Each entry into its item's partition of news.ingested, behind the enrichment
    group (created at `$`), except the last of each partition: returned as that
    partition's kick for `release_partitions`."""
    by_partition: dict[str, list[dict[str, str]]] = {}
    for fields in entries:
        by_partition.setdefault(partitions.key_for(INGESTED, fields["subject"]), []).append(fields)
    kicks = []
    for key in partitions.keys(INGESTED):
        held = by_partition.get(key, [])
        preload(client, key, held[:-1])
        client.xgroup_create(key, ENRICHMENT_GROUP, id="$", mkstream=True)
        if held:
            kicks.append((key, held[-1]))
    return kicks


def release_partitions(client: redis.Redis, kicks: Sequence[tuple[str, dict[str, str]]]) -> None:
    """Let the enrichment group read every partition from the start, at once."""
    with client.pipeline(transaction=True) as pipe:
        for key, kick in kicks:
            pipe.xgroup_setid(key, ENRICHMENT_GROUP, "0")
            pipe.xadd(key, kick)
        pipe.execute()


# The no-op enrichment: the real service with every enricher and stage that
# can be switched off switched off (it still sanitizes: that cannot be).
NOOP_ENRICHMENT_ENV = {"NEWSFEED_ENRICH_DISABLED": '["all"]'}


# Where the configured enrichment's entity model runs (NEWSFEED_ENRICH_ENTITY_MODEL):
# "second_pass" also starts the second pass's process; None leaves the model to a
# second pass that is not started (the throughput runs: the path to readers alone).
ENTITY_MODEL_ENV = {"inline": {"NEWSFEED_ENRICH_ENTITY_MODEL": "inline"}, "second_pass": {}}


def start_workers(stack: Stack, enrichment: str, entity_model: str | None = None) -> None:
    env = NOOP_ENRICHMENT_ENV if enrichment == "noop" else ENTITY_MODEL_ENV.get(entity_model or "")
    stack.spawn("enrichment", env=env)
    stack.spawn("publication")
    stack.spawn("gateway")
    names = ["enrichment", "publication", "gateway"]
    if entity_model == "second_pass":
        stack.spawn("entity-model")
        names.append("entity-model")
    for name in names:
        stack.procs[name].wait_ready()


def transport_run(
    workdir: Path,
    entries: Sequence[dict[str, str]],
    uris: Sequence[str],
    *,
    enrichment: str,
    aof: bool,
    verify: bool,
    profiler: Profiler | None = None,
    partitions: int = 1,
) -> RunResult:
    """The entries through the services with NEWSFEED_PARTITIONS=`partitions`,
    each preloaded into its item's partition and released to all at once."""
    layout = Partitions(partitions)
    with Stack(workdir, aof=aof, partitions=partitions).start_redis() as stack:
        r = stack.redis
        kicks = preload_partitions(r, layout, entries)
        start_workers(stack, enrichment)
        time.sleep(1.0)  # let start-up work (imports, lazy loads, the tail's prime) finish
        window = Window.open(stack, profiler)
        release_partitions(r, kicks)
        ended = wait_for(
            lambda: published_count(r, layout) >= len(entries) or _died(stack),
            timeout_for(len(entries)),
            what="news.published to hold every item",
        )
        result = window.close(f"transport-{enrichment}", len(entries), ended)
        result.extra.update(gateway_check(stack.procs["gateway"].url, uris, verify))
        result.extra.update(stream_health(r, layout))
        result.extra["enrichment"] = enrichment
        result.extra["partitions"] = partitions
        return result


def baseline_run(
    workdir: Path, entries: Sequence[dict[str, str]], *, aof: bool, batch: int = 200
) -> RunResult:
    with Stack(workdir, aof=aof).start_redis() as stack:
        r = stack.redis
        preload(r, INGESTED, entries[:-1])
        for source, _, name in RELAY_HOPS:
            first = source == INGESTED
            r.xgroup_create(source, name, id="$" if first else "0", mkstream=True)
        for source, sink, name in RELAY_HOPS:
            stack.spawn(
                name,
                "bench.relay",
                args=(
                    "--redis-url",
                    stack.redis_url,
                    "--source",
                    source,
                    "--sink",
                    sink,
                    "--group",
                    name,
                    "--name",
                    name,
                    "--batch",
                    str(batch),
                ),
            )
        wait_for(
            lambda: all(r.exists(f"bench:ready:{n}") for *_, n in RELAY_HOPS) or _died(stack),
            60,
            interval=0.05,
            what="relays to start",
        )
        stack.check_alive()
        time.sleep(0.5)
        window = Window.open(stack)
        release(r, INGESTED, RELAY_HOPS[0][2], entries[-1])
        ended = wait_for(
            lambda: int(r.xlen(SINK)) >= len(entries) or _died(stack),
            timeout_for(len(entries)),
            what="the relay's sink to hold every item",
        )
        result = window.close("baseline", len(entries), ended)
        r.set("bench:stop", "1")
        result.extra["batch"] = batch
        return result


def e2e_run(
    workdir: Path,
    submissions: Sequence[dict[str, Any]],
    *,
    aof: bool,
    concurrency: int,
    verify: bool,
    batch: int = 0,
    log_level: str = "WARNING",
    profiler: Profiler | None = None,
) -> RunResult:
    """Submit every item through ingest: one POST /v1/items each (`batch` 0), or
    POST /v1/items:batch with `batch` items each."""
    with Stack(workdir, aof=aof, log_level=log_level).start_redis() as stack:
        r = stack.redis
        start_workers(stack, "configured")
        ingest = stack.spawn("ingest")
        ingest.wait_ready()
        path, bodies = submission_bodies(submissions, batch)
        requests = post_requests(f"{ingest.url}{path}", TOKEN, bodies)
        time.sleep(1.0)
        window = Window.open(stack, profiler)
        sent = asyncio.run(post_all(f"{ingest.url}{path}", requests, concurrency))
        submitted = max(sent.acked_at.values(), default=window.started)
        if sent.failures:
            first = next(iter(sent.failures.values()))
            raise RuntimeError(f"{len(sent.failures)} submissions failed, e.g. {first}")
        ended = wait_for(
            lambda: published_count(r, DEFAULT) >= len(submissions) or _died(stack),
            timeout_for(len(submissions)),
            what="news.published to hold every item",
        )
        result = window.close("e2e", len(submissions), ended)
        uris = [s["uri"] for s in submissions]
        result.extra.update(gateway_check(stack.procs["gateway"].url, uris, verify))
        result.extra.update(stream_health(r))
        result.extra["submit_seconds"] = submitted - window.started
        result.extra["ingest_accept_per_s"] = len(submissions) / (submitted - window.started)
        result.extra["concurrency"] = concurrency
        result.extra["ingest_batch"] = batch
        result.extra["log_level"] = log_level
        return result


def submission_bodies(submissions: Sequence[dict[str, Any]], batch: int) -> tuple[str, list[bytes]]:
    """The path and request bodies that submit these items, `batch` per request (0: one)."""
    if batch <= 0:
        return "/v1/items", [orjson.dumps(sub) for sub in submissions]
    groups = (submissions[i : i + batch] for i in range(0, len(submissions), batch))
    return "/v1/items:batch", [orjson.dumps({"items": list(group)}) for group in groups]


def _died(stack: Stack) -> bool:
    if any(not proc.alive() for proc in stack.procs.values()):
        stack.check_alive()  # raises with the log tail
    return False
