"""The fault suite: faults injected while uniquely identified items flow, then a
checker compares what ingest acknowledged with what the feed shows.

`make chaos` runs it with 10,000 items per scenario; `make test` with a few
hundred. Each scenario writes its figures to test-output/chaos/<name>.json.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis as sync_redis
from newsfeed_cli.main import app as cli
from shared.partitions import Partitions
from shared.service import EXIT_FATAL
from shared.streams import DEAD_LETTER, ENRICHED, PUBLICATION_IN
from typer.testing import CliRunner

from tests.support.chaos import (
    KillPrimary,
    Periodically,
    Report,
    Workload,
    check,
    kill_and_restart,
    quiet,
)
from tests.support.flow import Comparison, ModeFigures, RoundFigures, run_round
from tests.support.services import Pipeline
from tests.support.streams import stream
from tools.devstack import RedisCluster, RedisServer

POISON = {"NEWSFEED_FAULT_POISON_PATTERN": ":poison-"}
FAST_RECOVERY = {
    "NEWSFEED_CLAIM_IDLE_MS": "1500",
    "NEWSFEED_RETRY_DELAY_MS": "100",
    "NEWSFEED_BLOCK_MS": "100",
    "NEWSFEED_MAX_DELIVERIES": "3",
}


@pytest.fixture
def redis_aof(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this scenario's own, with AOF everysec, that the scenario may kill."""
    server = RedisServer(workdir=tmp_path / "redis", appendonly=True).start()
    yield server
    server.stop()


def start(redis: RedisServer, tmp_path: Path, **options: object) -> Pipeline:
    return Pipeline(redis.url, tmp_path / "logs", extra_env=FAST_RECOVERY, **options).start()  # type: ignore[arg-type]


def ingest_urls(pipeline: Pipeline) -> list[str]:
    return [service.url for service in pipeline.all_replicas["ingest"]]


def workload(pipeline: Pipeline, name: str, count: int, **options: object) -> Workload:
    return Workload(lambda: ingest_urls(pipeline), name, count, **options)  # type: ignore[arg-type]


def assert_nothing_lost_or_doubled(report: Report) -> None:
    report.save()
    assert report.lost == 0, report
    assert report.duplicated == 0, report
    assert report.double_effects == 0, report
    assert report.pending_after == 0, report


def run_with_fault(
    pipeline: Pipeline, name: str, count: int, fault: Periodically | None, **options: object
) -> tuple[Workload, Report]:
    """Submit `count` items while `fault` (if any) strikes; check the outcome."""
    load = workload(pipeline, name, count, **options)
    if fault:
        fault.start()
    try:
        submit_seconds = asyncio.run(load.run())
    finally:
        faults = fault.stop() if fault else 0
    report = Report(name, faults=faults, submit_seconds=round(submit_seconds, 2))
    return load, check(pipeline, load, report)


@pytest.mark.parametrize("victim", ["enrichment", "publication", "ingest"])
def test_sigkill_every_two_seconds_loses_nothing_and_doubles_nothing(
    victim: str, redis_aof: RedisServer, tmp_path: Path, chaos_items: int
) -> None:
    """Scenarios 1 and 2: SIGKILL a service every 2 s (restarted at once, as a
    supervisor would) while items flow: every acknowledged item is in the feed
    exactly once, one effect per version, nothing left pending. For ingest, an
    item is acknowledged only after its XADD, so a kill between accept and
    emit loses nothing acknowledged."""
    pipeline = start(redis_aof, tmp_path)
    try:
        service = pipeline.services[victim]
        _, report = run_with_fault(
            pipeline, f"kill-{victim}", chaos_items, Periodically(2.0, kill_and_restart(service))
        )
    finally:
        pipeline.stop()
    assert report.faults >= 1 or report.submit_seconds < 2
    assert_nothing_lost_or_doubled(report)
    if victim != "ingest":  # a killed ingest may drop a request it never acknowledged
        assert report.acknowledged == report.submitted


def test_redis_killed_and_restarted_with_aof_loses_no_acknowledged_item(
    redis_aof: RedisServer, tmp_path: Path, chaos_items: int
) -> None:
    """Scenario 3: SIGKILL Redis mid-run and start it again on its AOF: every
    submission that got a 2xx is in the feed exactly once; services resume by
    themselves."""
    pipeline = start(redis_aof, tmp_path)

    def bounce_redis() -> None:
        redis_aof.kill()
        time.sleep(0.5)
        redis_aof.start()

    try:
        fault = Periodically(max(1.0, chaos_items / 2000), bounce_redis)
        _, report = run_with_fault(pipeline, "kill-redis", chaos_items, fault)
        for replicas in pipeline.all_replicas.values():
            for service in replicas:
                assert service.process is not None
                assert service.process.poll() is None, f"{service.name} died: {service.log_tail()}"
    finally:
        pipeline.stop()
    assert report.faults >= 1
    assert_nothing_lost_or_doubled(report)


def test_redis_restarted_empty_makes_workers_exit_loudly_then_start_clean(
    redis_aof: RedisServer, tmp_path: Path
) -> None:
    """Scenario 4: Redis comes back with no data. Workers do not hang or quietly
    reprocess: they exit with EXIT_FATAL; restarted, they recreate the groups
    on the now-empty streams and new items flow."""
    pipeline = start(redis_aof, tmp_path)
    try:
        before = workload(pipeline, "before-loss", 20)
        asyncio.run(before.run())
        quiet(pipeline.redis_url)
        redis_aof.kill()
        shutil.rmtree(redis_aof.workdir)
        redis_aof.start()
        for name in ("enrichment", "publication"):
            process = pipeline.services[name].process
            assert process is not None
            assert process.wait(30) == EXIT_FATAL, pipeline.services[name].log_tail()
        ingest_ready = httpx.get(f"{pipeline.ingest}/readyz", timeout=5)
        for name in ("enrichment", "publication"):
            pipeline.services[name].restart()
            pipeline.services[name].wait_ready()
        after = workload(pipeline, "after-loss", 50)
        asyncio.run(after.run())
        report = check(pipeline, after, Report("redis-restarted-empty"))
        report.notes["ingest_ready_while_groups_missing"] = ingest_ready.status_code
        assert ingest_ready.status_code == 503, "ingest must say it is unready without groups"
        client = sync_redis.Redis.from_url(pipeline.redis_url, decode_responses=True)
        # No silent reprocessing of history: only the new items were published.
        assert client.xlen(stream("news.published")) == 50
    finally:
        pipeline.stop()
    assert_nothing_lost_or_doubled(report)


def test_a_stopped_consumer_and_its_claimed_copy_make_one_effect(
    redis_aof: RedisServer, tmp_path: Path, chaos_items: int
) -> None:
    """Scenario 5: SIGSTOP one of two enrichment replicas longer than the claim
    idle time while it holds entries; the other claims them; SIGCONT the first:
    both copies reach publication, one effect each."""
    pipeline = start(redis_aof, tmp_path, replicas={"enrichment": 2})
    stopped = pipeline.all_replicas["enrichment"][0]
    try:

        def freeze() -> None:
            stopped.signal(signal.SIGSTOP)
            time.sleep(3.5)  # > claim idle 1.5 s
            stopped.signal(signal.SIGCONT)

        _, report = run_with_fault(
            pipeline, "sigstop-enrichment", chaos_items, Periodically(0.3, freeze)
        )
        client = sync_redis.Redis.from_url(pipeline.redis_url, decode_responses=True)
        report.notes["enriched_entries"] = client.xlen(stream(ENRICHED))
    finally:
        stopped.signal(signal.SIGCONT)
        pipeline.stop()
    assert_nothing_lost_or_doubled(report)


def test_poison_entries_are_dead_lettered_and_replayed_after_a_fix(
    redis_aof: RedisServer, tmp_path: Path, chaos_items: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scenario 6: 1 in 500 items always fails in enrichment: each reaches the
    dead-letter stream after N deliveries with its error; the good ones flow;
    `newsfeed dlq list` shows them and `newsfeed dlq replay --all` re-drives them
    once enrichment is fixed."""
    poison = {"NEWSFEED_FAULT_POISON_PATTERN": ":poison-"}
    pipeline = start(redis_aof, tmp_path, service_env={"enrichment": poison})
    try:
        load, report = run_with_fault(
            pipeline, "poison", max(chaos_items, 1000), None, poison_every=500
        )
        poisoned = {uri for uri in load.acknowledged if ":poison-" in uri}
        assert report.dead_letters == len(poisoned) > 0
        assert report.lost == len(poisoned)  # the poison ones, and only them
        report.lost = 0

        monkeypatch.setenv("NEWSFEED_REDIS_URL", pipeline.redis_url)
        listed = CliRunner().invoke(cli, ["dlq", "list", "--json"])
        letters = json.loads(listed.output)
        assert {letter["original"]["subject"] for letter in letters} == poisoned
        assert all("injected fault" in letter["error"] for letter in letters)
        assert all(letter["deliveries"] == 3 for letter in letters)

        enrichment = pipeline.services["enrichment"]
        enrichment.env = {k: v for k, v in enrichment.env.items() if k not in poison}
        enrichment.restart()  # the fix is deployed
        enrichment.wait_ready()
        assert CliRunner().invoke(cli, ["dlq", "replay", "--all"]).exit_code == 0
        fixed = check(pipeline, load, Report("poison-after-replay"))
        report.notes["after_replay"] = {"in_feed": fixed.in_feed, "lost": fixed.lost}
        assert fixed.lost == 0
        assert fixed.dead_letters == 0
    finally:
        pipeline.stop()
    assert_nothing_lost_or_doubled(report)


POISON_EVERY = 500
# Poison ÷ clean for the good items, median over pairs of rounds (see the test).
THROUGHPUT_FLOOR = 0.7
LATENCY_CEILING = 2.0  # p50 and p99 (poison) ≤ 2 x (the same of clean + slack)
LATENCY_SLACK_MS = 250.0


def poison_flow_rounds(chaos_items: int) -> tuple[int, int]:
    """(items per round, pairs of rounds): rounds of a multiple of 500 items, so
    every poison round holds 1 in 500 poison entries; at least three pairs, so
    the median over pairs outvotes one disturbed pair."""
    round_items = POISON_EVERY * max(1, chaos_items // 2500)
    return round_items, max(3, chaos_items // round_items)


# `make chaos` sends 2 x 10,000 items (and a warm-up) through here: past the default 300 s.
@pytest.mark.timeout(1800)
def test_poison_entries_barely_move_the_good_items_throughput_and_latency(
    redis_aof: RedisServer, tmp_path: Path, chaos_items: int
) -> None:
    """Scenario 6, measured: the same good items flow with and without 1 in 500
    poison entries among them, in interleaved rounds on one pipeline (clean,
    poison, poison, clean, ...). Enrichment runs with the poison pattern all
    along; a clean round marks the same positions with a harmless tag, so the
    two kinds of round differ only in whether those entries fail and are
    retried until dead-lettered. Good items' throughput (first submission →
    last one visible) and latency (ingested → published entry) must barely
    move: retries of poison entries must not hold up the good ones behind them.
    """
    round_items, pairs = poison_flow_rounds(chaos_items)
    pipeline = start(redis_aof, tmp_path, service_env={"enrichment": POISON})
    rounds: dict[str, list[RoundFigures]] = {"clean": [], "poison": []}
    submitted = acknowledged = 0
    try:
        # Connections, caches and first allocations, measured in neither mode.
        run_round(pipeline.redis_url, workload(pipeline, "flow-warm-up", 100), "warm-up")
        for pair in range(pairs):
            for mode in ("clean", "poison") if pair % 2 == 0 else ("poison", "clean"):
                tag = "poison-" if mode == "poison" else "spare-"
                load = workload(
                    pipeline,
                    f"flow{pair}-{mode}",
                    round_items,
                    poison_every=POISON_EVERY,
                    poison_tag=tag,
                    poison_offset=POISON_EVERY // 2,  # mid-block: good items follow each
                )
                rounds[mode].append(run_round(pipeline.redis_url, load, mode))
                submitted += load.count
                acknowledged += len(load.acknowledged)
        client = sync_redis.Redis.from_url(pipeline.redis_url, decode_responses=True)
        dead_letters = int(client.xlen(stream(DEAD_LETTER)))
    finally:
        pipeline.stop()

    clean, poisoned = ModeFigures(rounds["clean"]), ModeFigures(rounds["poison"])
    comparison = Comparison(baseline=clean, treatment=poisoned)
    report = Report(
        "poison-flow",
        submitted=submitted,
        acknowledged=acknowledged,
        in_feed=clean.good + poisoned.good,
        dead_letters=dead_letters,
        notes={
            "round_items": round_items,
            "pairs": pairs,
            "clean": clean.summary(),
            "poison": poisoned.summary(),
            "poison_over_clean": comparison.summary(),
        },
    )
    report.save()
    ratio = comparison.median_ratio
    print(
        f"[chaos] poison-flow, {pairs} pairs of {round_items}-item rounds: "
        f"clean {clean.summary()}; poison {poisoned.summary()}; poison ÷ clean, median of "
        f"pairs: throughput {ratio('throughput'):.2f} (floor {THROUGHPUT_FLOOR}), "
        f"p50 {ratio('p50_ms'):.2f}, p99 {ratio('p99_ms'):.2f}; p99 ÷ (clean p99 + "
        f"{LATENCY_SLACK_MS:.0f} ms) {ratio('p99_ms', slack=LATENCY_SLACK_MS):.2f} "
        f"(ceiling {LATENCY_CEILING})"
    )
    assert acknowledged == submitted
    assert dead_letters == pairs * round_items // POISON_EVERY
    # Why these bounds (docs/reliability.md has the figures): each is taken per
    # pair, then the median over pairs, so one round slowed down by another
    # process on the machine cannot fail the test alone. With no regression the
    # pair ratios scatter around 1: single pairs were seen at 0.46-1.5 in
    # throughput and up to 7x in raw p99 (71 vs 556 ms) on a 2-core machine at
    # load 4; the slack keeps a few hundred ms of such noise on a small clean
    # p99 from counting as a doubling. A poison entry holding up the entries
    # behind it for 1.5 s per delivery (simulated) gave p99 ÷ (clean + slack)
    # = 6.7 and p50 ÷ (clean + slack) = 5, far past the ceiling of 2; a stall of
    # a few hundred ms per poison entry would be lost in the noise. Throughput moved only to
    # 0.85 then, as the pipeline caught up between poison entries; its floor
    # catches a pipeline that no longer keeps up with the submissions at all.
    assert comparison.median_ratio("throughput") >= THROUGHPUT_FLOOR, report
    for metric in ("p50_ms", "p99_ms"):
        assert comparison.median_ratio(metric, slack=LATENCY_SLACK_MS) <= LATENCY_CEILING, report


def test_a_group_far_behind_keeps_its_entries_past_the_stream_cap(
    redis_aof: RedisServer, tmp_path: Path, chaos_items: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scenario 7: publication is down while far more items than the stream cap
    flow: nothing unacknowledged is trimmed, the lag shows in `newsfeed status`
    and in /metrics, and everything is published once publication is back."""
    count = max(chaos_items, 600)
    capped = {"NEWSFEED_STREAM_MAX_LEN": "200"}
    pipeline = start(
        redis_aof,
        tmp_path,
        only=("ingest", "enrichment", "gateway"),
        service_env={"enrichment": capped, "ingest": capped},
    )
    try:
        load = workload(pipeline, "far-behind", count)
        asyncio.run(load.run())
        client = sync_redis.Redis.from_url(pipeline.redis_url, decode_responses=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            [group] = client.xinfo_groups(stream(ENRICHED))
            if int(group["lag"] or 0) >= count:
                break
            time.sleep(0.2)
        assert client.xlen(stream(ENRICHED)) >= count, "unacknowledged entries were trimmed"

        monkeypatch.setenv("NEWSFEED_REDIS_URL", pipeline.redis_url)
        status = json.loads(CliRunner().invoke(cli, ["status", "--json"]).output)
        lag = {(s["name"], g["name"]): g["lag"] for s in status["streams"] for g in s["groups"]}
        assert lag[(ENRICHED, PUBLICATION_IN.group)] == count
        metrics = httpx.get(f"{pipeline.services['enrichment'].url}/metrics").text
        assert f'newsfeed_group_lag{{group="publication",stream="{ENRICHED}"}} {count}.0' in metrics

        pipeline.add_replica("publication").wait_ready()
        report = check(pipeline, load, Report("far-behind", notes={"lag_seen": count}))
    finally:
        pipeline.stop()
    assert_nothing_lost_or_doubled(report)


def test_sigterm_during_processing_leaves_nothing_on_the_stopped_consumer(
    redis_aof: RedisServer, tmp_path: Path, chaos_items: int
) -> None:
    """Scenario 8: SIGTERM enrichment and publication again and again while
    items flow: in-flight work finishes, nothing stays pending on a stopped
    consumer, every item arrives once."""
    pipeline = start(redis_aof, tmp_path)
    names = iter(["enrichment", "publication"] * 1000)
    exit_codes: list[int | None] = []

    def terminate_one() -> None:
        service = pipeline.services[next(names)]
        exit_codes.append(service.stop())
        service.start()
        # Only a running service has its handlers; a SIGTERM during boot would
        # be the default action, not the graceful stop under test.
        service.wait_ready()

    try:
        _, report = run_with_fault(
            pipeline, "sigterm", chaos_items, Periodically(1.5, terminate_one)
        )
    finally:
        pipeline.stop()
    assert exit_codes
    assert set(exit_codes) == {0}, exit_codes
    assert_nothing_lost_or_doubled(report)


def test_two_replicas_of_every_service_share_the_work_with_the_same_guarantees(
    redis_aof: RedisServer, tmp_path: Path, chaos_items: int
) -> None:
    """Scenario 9: two of everything, submissions spread over both ingest
    replicas: nothing lost or doubled, and both replicas of each worker did work."""
    pipeline = start(
        redis_aof,
        tmp_path,
        replicas=dict.fromkeys(("ingest", "enrichment", "publication", "gateway"), 2),
    )
    try:
        load = workload(pipeline, "two-replicas", chaos_items)
        asyncio.run(load.run())
        report = check(pipeline, load, Report("two-replicas"))
        shared_work = {}
        for name in ("enrichment", "publication"):
            outs = []
            for replica in pipeline.all_replicas[name]:
                text = httpx.get(f"{replica.url}/metrics").text
                prefix = f'newsfeed_items_total{{outcome="out",stage="{name}"}}'
                line = next((row for row in text.splitlines() if row.startswith(prefix)), "x 0")
                outs.append(float(line.split()[-1]))
            shared_work[name] = outs
        report.notes["items_per_replica"] = shared_work
    finally:
        pipeline.stop()
    assert_nothing_lost_or_doubled(report)
    for name, outs in shared_work.items():
        assert all(out > 0 for out in outs), (name, outs)


CLUSTER_PARTITIONS = Partitions(16)
ONE_REPLICA_ACKS = {
    "NEWSFEED_PARTITIONS": str(CLUSTER_PARTITIONS.count),
    "NEWSFEED_ACK_REPLICAS": "1",
    "NEWSFEED_ACK_TIMEOUT_MS": "1000",
}


@pytest.mark.parametrize("replicas_per_primary", [1, 2])
def test_cluster_primaries_killed_under_load_lose_no_item_acknowledged_with_one_replica(
    replicas_per_primary: int, request: pytest.FixtureRequest, tmp_path: Path, chaos_items: int
) -> None:
    """Scenario 10, on a Redis Cluster (3 primaries, 16 partitions) with
    NEWSFEED_ACK_REPLICAS=1: items submitted at a steady rate while a primary
    is killed with SIGKILL every third of the run (another one each time), its
    replicas a second behind (the primary dies holding writes they lack). A
    replica takes over; the old primary comes back as its replica, as a
    supervisor would restart it. Clients retry 503s. Every item ingest
    answered 202 is in the feed exactly once, one effect per version, nothing
    pending; the services ride it out without a restart.

    On the tests' cluster (one replica per primary), and in `make chaos` on one
    of its own with two: there the killed primary's partitions are writable
    again once a replica is promoted (the other replicates it), not only once
    the old primary is back."""
    if replicas_per_primary == 1:
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        cluster.flush()
    elif chaos_items < 2000:
        pytest.skip("make chaos only: a second cluster of nine redis-servers")
    else:
        cluster = RedisCluster(tmp_path / "cluster", replicas_per_primary=2).start()
    name = "cluster-kill-primary" + ("" if replicas_per_primary == 1 else "-two-replicas")
    rate = min(100.0, max(30.0, chaos_items / 100))
    env = {**FAST_RECOVERY, **ONE_REPLICA_ACKS}
    killer = KillPrimary(cluster, CLUSTER_PARTITIONS, lagging_s=1.0)
    try:
        pipeline = Pipeline(cluster.url, tmp_path / "logs", extra_env=env).start()
        try:
            load, report = run_with_fault(
                pipeline,
                name,
                chaos_items,
                Periodically(chaos_items / rate / 3, killer),
                rate_per_s=rate,
            )
            for replicas in pipeline.all_replicas.values():
                for service in replicas:
                    assert service.process is not None
                    assert service.process.poll() is None, (
                        f"{service.name} died: {service.log_tail()}"
                    )
        finally:
            pipeline.stop()
    finally:
        if replicas_per_primary == 1:
            cluster.heal()  # the session's cluster, whole again for the next test
        else:
            cluster.stop()
    report.notes["rate_per_s"] = rate
    report.notes["replicas_per_primary"] = replicas_per_primary
    report.notes["failovers"] = [f.summary(load, CLUSTER_PARTITIONS) for f in killer.failovers]
    assert report.faults >= 1
    assert_nothing_lost_or_doubled(report)
