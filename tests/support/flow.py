"""How fast and how promptly a workload's good items flow, read from the
streams' own entry ids, and a paired comparison of two kinds of round.

An item's latency is the time between its `news.ingested` entry and its
`news.published` entry. Ingest answers 202 right after that XADD, and the
gateway's feed reads the read model publication writes in the same script as
the `news.published` entry, so this is "202 → visible" measured on one clock
(Redis's) to the millisecond, without the client's own scheduling delays in
it: on a busy machine the load generator can notice a 202 late, which would
make latencies look shorter than they are.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field

import redis as sync_redis
from shared.streams import INGESTED, PUBLISHED

from tests.support.chaos import Workload
from tests.support.streams import stream
from tests.support.waiting import poll

WORKER_STREAMS = (stream(INGESTED), stream("news.enriched"))


@dataclass
class RoundFigures:
    """One round: its good items' count, span and latencies."""

    mode: str
    good: int
    seconds: float  # first submission → last good item visible
    latencies_ms: list[float] = field(repr=False)

    @property
    def throughput(self) -> float:
        return self.good / self.seconds

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies_ms, 99)


def percentile(values: list[float], pct: int) -> float:
    """The `pct`th percentile (inclusive method, interpolated)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def last_entry_id(client: sync_redis.Redis, stream: str) -> str:
    newest = client.xrevrange(stream, "+", "-", count=1)
    return str(newest[0][0]) if newest else "0-0"


def entry_times_ms(
    client: sync_redis.Redis, stream: str, after: str, subjects: set[str]
) -> dict[str, int]:
    """The time (ms, from the entry id) of the first entry for each of `subjects`
    on `stream` after the entry id `after`."""
    times: dict[str, int] = {}
    for entry_id, fields in client.xrange(stream, f"({after}", "+"):
        subject = fields.get("subject")
        if subject in subjects and subject not in times:
            times[subject] = int(str(entry_id).split("-")[0])
    return times


def workers_idle(client: sync_redis.Redis) -> bool:
    """Every group was delivered its stream's last entry and holds nothing
    pending: all good items are published and every poison one dead-lettered."""
    for name in WORKER_STREAMS:
        last = client.xinfo_stream(name)["last-generated-id"]
        for group in client.xinfo_groups(name):
            if int(group["pending"]) or group["last-delivered-id"] != last:
                return False
    return True


def run_round(redis_url: str, load: Workload, mode: str, timeout: float = 120.0) -> RoundFigures:
    """Submit `load`, wait (with a deadline for the drain) until the workers are idle again,
    and return the figures of its good (unmarked) items."""
    client = sync_redis.Redis.from_url(redis_url, decode_responses=True)
    marks = {name: last_entry_id(client, stream(name)) for name in (INGESTED, PUBLISHED)}
    started = time.time()
    asyncio.run(load.run())
    poll(lambda: workers_idle(client), timeout=timeout, interval=0.05)
    good = {uri for uri in load.acknowledged if not load.marked(uri)}
    accepted = entry_times_ms(client, stream(INGESTED), marks[INGESTED], good)
    visible = entry_times_ms(client, stream(PUBLISHED), marks[PUBLISHED], good)
    missing = good - visible.keys()
    assert not missing, f"{mode}: {len(missing)} good items never published, e.g. {min(missing)}"
    assert accepted.keys() == good, f"{mode}: good items missing from {INGESTED}"
    return RoundFigures(
        mode=mode,
        good=len(good),
        seconds=max(visible.values()) / 1000 - started,
        latencies_ms=[float(visible[uri] - accepted[uri]) for uri in good],
    )


@dataclass
class ModeFigures:
    """All rounds of one mode, pooled."""

    rounds: list[RoundFigures]

    @property
    def good(self) -> int:
        return sum(r.good for r in self.rounds)

    @property
    def throughput(self) -> float:
        return self.good / sum(r.seconds for r in self.rounds)

    @property
    def p50_ms(self) -> float:
        return percentile([x for r in self.rounds for x in r.latencies_ms], 50)

    @property
    def p99_ms(self) -> float:
        return percentile([x for r in self.rounds for x in r.latencies_ms], 99)

    def summary(self) -> dict[str, object]:
        return {
            "good_items": self.good,
            "items_per_s": round(self.throughput, 1),
            "p50_ms": round(self.p50_ms, 1),
            "p99_ms": round(self.p99_ms, 1),
            "rounds": [
                [round(r.throughput, 1), round(r.p50_ms, 1), round(r.p99_ms, 1)]
                for r in self.rounds
            ],
        }


@dataclass
class Comparison:
    """Rounds of a baseline and of a treatment run in pairs; ratios are treatment ÷ baseline."""

    baseline: ModeFigures
    treatment: ModeFigures

    def pair_ratios(self, metric: str, slack: float = 0.0) -> list[float]:
        """Per pair, treatment ÷ (baseline + slack): slack keeps a ratio of two
        small latencies from swinging with a few milliseconds of noise."""
        return [
            getattr(t, metric) / (getattr(b, metric) + slack)
            for b, t in zip(self.baseline.rounds, self.treatment.rounds, strict=True)
        ]

    def median_ratio(self, metric: str, slack: float = 0.0) -> float:
        return statistics.median(self.pair_ratios(metric, slack))

    def pooled_ratio(self, metric: str) -> float:
        return float(getattr(self.treatment, metric) / getattr(self.baseline, metric))

    def summary(self) -> dict[str, object]:
        metrics = ("throughput", "p50_ms", "p99_ms")
        return {
            "pooled_ratio": {m: round(self.pooled_ratio(m), 3) for m in metrics},
            "median_pair_ratio": {m: round(self.median_ratio(m), 3) for m in metrics},
            "pair_ratios": {m: [round(x, 3) for x in self.pair_ratios(m)] for m in metrics},
        }
