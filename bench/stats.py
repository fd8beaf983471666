"""Pure arithmetic of the harness: percentiles, medians, ratios, targets.

Nothing here measures or talks to anything, so it is unit-tested on its own
(tests/unit/test_bench_stats.py).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest
    ranks (numpy's default); NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = math.ceil(position)
    if low == high:
        return float(ordered[low])
    weight = position - low
    return float(ordered[low] * (1 - weight) + ordered[high] * weight)


def median(values: Iterable[float]) -> float:
    """Median of the finite values; NaN when there are none."""
    finite = [v for v in values if not math.isnan(v)]
    return float(statistics.median(finite)) if finite else math.nan


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when either is missing or the denominator is 0."""
    if math.isnan(numerator) or math.isnan(denominator) or denominator == 0:
        return math.nan
    return numerator / denominator


def paired_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Ratio of each run to the baseline measured in the same round."""
    return [ratio(n, d) for n, d in zip(numerators, denominators, strict=False)]


def distribution(samples: Sequence[float]) -> dict[str, float | int]:
    """p50/p90/p99/max (and count, min, mean) of latency samples."""
    if not samples:
        return {
            "count": 0,
            "min": math.nan,
            "p50": math.nan,
            "p90": math.nan,
            "p99": math.nan,
            "max": math.nan,
            "mean": math.nan,
        }
    return {
        "count": len(samples),
        "min": float(min(samples)),
        "p50": percentile(samples, 50),
        "p90": percentile(samples, 90),
        "p99": percentile(samples, 99),
        "max": float(max(samples)),
        "mean": float(statistics.fmean(samples)),
    }


def figure(runs: Sequence[float], unit: str, **extra: Any) -> dict[str, Any]:
    """One figure as it goes into latest.json: its median, every run, its unit."""
    return {"median": median(runs), "runs": [float(r) for r in runs], "unit": unit, **extra}


def median_of(dicts: Sequence[Mapping[str, Any]], key: str) -> float:
    """Median of `key` across several runs' dicts (each run's own distribution, say)."""
    return median(float(d[key]) for d in dicts if key in d)


Op = Literal[">=", "<="]
Status = Literal["pass", "miss", "not measured"]


@dataclass(frozen=True)
class Target:
    """A goal from issue 8: `value op threshold`, e.g. items/s >= 3000."""

    key: str
    description: str
    op: Op
    threshold: float
    unit: str

    def status(self, value: float | None) -> Status:
        if value is None or math.isnan(value):
            return "not measured"
        ok = value >= self.threshold if self.op == ">=" else value <= self.threshold
        return "pass" if ok else "miss"

    def verdict(self, value: float | None) -> dict[str, Any]:
        return {
            "key": self.key,
            "description": self.description,
            "target": f"{self.op} {self.threshold:g} {self.unit}".strip(),
            "op": self.op,
            "threshold": self.threshold,
            "unit": self.unit,
            "value": None if value is None or math.isnan(value) else value,
            "status": self.status(value),
        }


TARGETS: tuple[Target, ...] = (
    Target("transport_noop_ratio", "transport (enrichment no-op) / bare relay", ">=", 0.6, "x"),
    Target(
        "transport_noop_ratio_n1",
        "issue 13: transport no-op / bare relay, N = 1",
        ">=",
        0.55,
        "x",
    ),
    Target(
        "transport_noop_ratio_default_n",
        "issue 13: transport no-op / bare relay, the default N",
        ">=",
        0.55,
        "x",
    ),
    Target("pipeline_items_per_s", "full pipeline through ingest, items/s", ">=", 3000, "items/s"),
    Target("latency_p99_ms", "ingest 202 -> visible at 500 items/s, p99", "<=", 15, "ms"),
    Target("hot_page_ratio", "hot first page req/s / bare Starlette", ">=", 0.8, "x"),
    Target("deep_page_rps", "deep cursor pages req/s (200 cursors in turn)", ">=", 8000, "req/s"),
    Target(
        "growth_page_ratio", "page latency at the largest size / at the smallest", "<=", 1.2, "x"
    ),
    Target("memory_ratio", "Redis memory per stored item / its JSON size", "<=", 1.5, "x"),
    Target("fanout_p99_ms", "10,000 SSE clients at 10 events/s: delivery p99", "<=", 500, "ms"),
    Target("fanout_cpu_us", "10,000 SSE clients: gateway CPU per client per event", "<=", 5, "us"),
    Target("cache_miss_ratio", "untouched feeds' miss ratio at 50 published/s", "<=", 0.05, ""),
)


def dig(tree: Mapping[str, Any], path: str) -> float | None:
    """`tree["a"]["b"]` for path "a.b"; None when any step is missing."""
    node: Any = tree
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    if isinstance(node, Mapping):
        node = node.get("median")
    if isinstance(node, bool) or not isinstance(node, int | float):
        return None
    return float(node)


# Where each target's value lives in the figures tree.
TARGET_PATHS: dict[str, str] = {
    "transport_noop_ratio": "transport.noop_ratio",
    "transport_noop_ratio_n1": "transport.noop_ratio",
    "transport_noop_ratio_default_n": "transport.noop_default_ratio",
    "pipeline_items_per_s": "pipeline.items_per_s",
    "latency_p99_ms": "latency.p99_ms",
    "hot_page_ratio": "gateway.hot_page_ratio",
    "deep_page_rps": "gateway.endpoints.deep_varied.rps",
    "growth_page_ratio": "growth.page_ratio",
    "memory_ratio": "growth.memory_ratio",
    "fanout_p99_ms": "fanout.gateway.delay_p99_ms",
    "fanout_cpu_us": "fanout.gateway.cpu_us_per_client_event",
    "cache_miss_ratio": "cache.miss_ratio",
}


def evaluate(figures: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every target with the measured value and pass / miss / not measured."""
    return [target.verdict(dig(figures, TARGET_PATHS[target.key])) for target in TARGETS]


def clean(value: Any) -> Any:
    """JSON-safe copy: NaN and infinities become null (JSON has neither)."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value
