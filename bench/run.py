"""`python -m bench`: run the benchmarks of issue 8, print a table, write JSON.

Scenarios (all by default; pick with --only):
  costs      per-step CPU cost, in this process (bench.costs)
  transport  pre-loaded entries through enrichment (configured and no-op) +
             publication + gateway, against the bare three-hop relay, paired
             per round (bench.pipeline)
  pipeline   items POSTed through ingest, end to end (bench.pipeline)
  latency    steady rate, ingest 202 -> announced by the gateway (bench.latency)
  gateway    wrk against the gateway and bare Starlette (bench.gateway)
  growth     page latency and memory at growing read-model sizes (bench.growth)
  fanout     10,000 live-update clients on one gateway at 10 events/s, against a
             bare asyncio server writing the same frames (bench.readers)
  cache      page-cache miss ratio of untouched feeds under 50 published
             items/s, against the same reads with no publishing (bench.readers)

Sizes: the default run fits in about ten minutes on two quiet cores;
--quick is a smoke run (about two minutes); --full is the issue's report run
(1M items in the growth step: about 10 GB of Redis and 5 more minutes).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.items import utcnow
from shared.settings import DEFAULT_PARTITIONS

from bench import costs, gateway, growth, latency, pipeline, readers
from bench.items import corpus, ingested_fields, word_count
from bench.procs import Stack, redis_version
from bench.profiles import perf_summary, summarize_file
from bench.stats import clean, evaluate, figure, median, paired_ratios
from bench.wrk import wrk_path
from tools.devstack import REPO

SCENARIOS = (
    "costs",
    "transport",
    "pipeline",
    "latency",
    "gateway",
    "growth",
    "fanout",
    "cache",
)
RESULTS = REPO / "bench" / "results"


@dataclass
class Plan:
    items: int
    runs: int
    latency_rate: float
    latency_seconds: float
    latency_warmup_seconds: float
    gateway_items: int
    wrk_seconds: float
    connections: int
    threads: int
    growth_sizes: list[int]
    growth_requests: int
    cost_items: int
    concurrency: int
    info_run: bool
    ingest_batch: int = 100
    fanout_clients: int = 10_000
    fanout_rate: float = 10.0
    fanout_seconds: float = 10.0
    cache_items: int = 20_000
    cache_rate: float = 50.0
    cache_seconds: float = 10.0


PROFILES: dict[str, Plan] = {
    "quick": Plan(
        2000,
        1,
        500,
        3,
        1,
        5000,
        2,
        50,
        2,
        [10_000, 50_000],
        100,
        100,
        16,
        False,
        fanout_clients=1000,
        fanout_seconds=5,
        cache_items=5000,
        cache_seconds=5,
    ),
    "default": Plan(
        20_000, 3, 500, 10, 2, 20_000, 5, 50, 2, [10_000, 100_000], 300, 300, 16, False
    ),
    "full": Plan(
        20_000, 3, 500, 20, 2, 20_000, 5, 50, 2, [10_000, 100_000, 1_000_000], 300, 300, 16, True
    ),
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smoke run: small sizes, one round")
    size.add_argument("--full", action="store_true", help="the report run: growth up to 1M")
    parser.add_argument(
        "--only",
        default=",".join(SCENARIOS),
        help=f"comma-separated scenarios (default all: {','.join(SCENARIOS)})",
    )
    parser.add_argument("--items", type=int, help="items per throughput run (default 20000)")
    parser.add_argument(
        "--transport-partitions",
        default=f"1,{DEFAULT_PARTITIONS}",
        help="NEWSFEED_PARTITIONS values of the no-op transport runs, comma-separated "
        f"(default 1 and the default N, {DEFAULT_PARTITIONS}); N = 1 is always run",
    )
    parser.add_argument("--runs", type=int, help="rounds per figure; medians are taken")
    parser.add_argument("--latency-rate", type=float, help="items/s of the latency run (500)")
    parser.add_argument("--latency-seconds", type=float, help="measured seconds per latency run")
    parser.add_argument("--gateway-items", type=int, help="items stored for the gateway runs")
    parser.add_argument("--wrk-seconds", type=float, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, help="wrk connections (50)")
    parser.add_argument("--growth-sizes", help="comma-separated read-model sizes")
    parser.add_argument("--concurrency", type=int, help="ingest POST connections (16)")
    parser.add_argument("--fanout-clients", type=int, help="SSE clients of the fanout run")
    parser.add_argument("--fanout-rate", type=float, help="events/s of the fanout run (10)")
    parser.add_argument("--fanout-seconds", type=float, help="seconds of events per fanout run")
    parser.add_argument("--cache-rate", type=float, help="published items/s of the cache run")
    parser.add_argument(
        "--ingest-batch",
        type=int,
        help="items per POST /v1/items:batch in the pipeline run (100; 0: one POST /v1/items each)",
    )
    parser.add_argument(
        "--info-run",
        action="store_true",
        help="one more end-to-end run with the services at INFO logging",
    )
    parser.add_argument(
        "--no-aof",
        action="store_true",
        help="throughput and latency Redis without AOF (default: AOF everysec)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="one more e2e and transport run under py-spy (if on PATH); "
        "stacks in profiles/ beside --out",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where Redis files and service logs go (default: a temp dir)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the workdir")
    parser.add_argument(
        "--code",
        type=Path,
        default=None,
        help="run the services from this checkout (a git worktree of another "
        "commit, say) instead of the work tree; see bench/code.py",
    )
    return parser.parse_args(argv)


def make_plan(args: argparse.Namespace) -> tuple[str, Plan]:
    name = "quick" if args.quick else "full" if args.full else "default"
    plan = Plan(**vars(PROFILES[name]))
    overrides = {
        "items": args.items,
        "runs": args.runs,
        "latency_rate": args.latency_rate,
        "latency_seconds": args.latency_seconds,
        "gateway_items": args.gateway_items,
        "wrk_seconds": args.wrk_seconds,
        "connections": args.connections,
        "concurrency": args.concurrency,
        "ingest_batch": args.ingest_batch,
        "fanout_clients": args.fanout_clients,
        "fanout_rate": args.fanout_rate,
        "fanout_seconds": args.fanout_seconds,
        "cache_rate": args.cache_rate,
    }
    for key, value in overrides.items():
        if value is not None:
            setattr(plan, key, value)
    if args.growth_sizes:
        plan.growth_sizes = [int(s) for s in args.growth_sizes.split(",") if s]
    if args.info_run:
        plan.info_run = True
    return name, plan


# -- machine and provenance -----------------------------------------------------


def _run(cmd: list[str]) -> str:
    try:
        return subprocess.run(  # noqa: S603 - git and wrk, fixed arguments
            cmd, capture_output=True, text=True, cwd=REPO, timeout=10, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def http_stack() -> str:
    # shared.service.serve runs every service on httptools and uvloop (both in the lock).
    from importlib.metadata import version

    return ", ".join(f"{name} {version(name)}" for name in ("uvicorn", "httptools", "uvloop"))


def machine(workdir: Path) -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    with Stack(workdir / "probe", aof=False).start_redis() as stack:
        redis_ver = redis_version(stack.redis)
    wrk = wrk_path()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "redis": redis_ver,
        "wrk": (_run([wrk, "--version"]).splitlines() or ["?"])[0] if wrk else None,
        "http": http_stack(),
        "loadavg_at_start": list(os.getloadavg()),
    }


def git_info(code: Path | None = None) -> dict[str, Any]:
    def at(root: Path) -> dict[str, Any]:
        # A `git archive` export has no .git: its COMMIT file, if one was written, says.
        marker = root / "COMMIT"
        exported = marker.read_text().strip() if marker.is_file() else None
        return {
            "commit": _run(["git", "-C", str(root), "rev-parse", "HEAD"]) or exported,
            "dirty": bool(
                _run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"])
            ),
        }

    info = at(REPO)
    if code is not None:
        info["services_from"] = {"path": str(code), **at(code)}
    return info


# -- scenarios --------------------------------------------------------------------


def _by_process(runs: Sequence[pipeline.RunResult]) -> dict[str, float]:
    names = runs[0].cpu_s.keys()
    return {n: median(r.cpu_s[n] * 1e6 / r.items for r in runs) for n in names}


def transport_partitions(spec: str) -> list[int]:
    """The N values of the no-op transport runs: 1 first, the default N always, no repeats."""
    counts = [1, DEFAULT_PARTITIONS, *(int(part) for part in spec.split(",") if part.strip())]
    return list(dict.fromkeys(counts))


def _summary(runs: Sequence[pipeline.RunResult]) -> dict[str, Any]:
    return {
        "items_per_s": figure([r.items_per_s for r in runs], "items/s"),
        "cpu_us_per_item": figure([r.cpu_us_per_item for r in runs], "us/item"),
        "cpu_us_per_item_by_process": _by_process(runs),
        "client_cpu_us_per_item": median(r.client_cpu_s * 1e6 / r.items for r in runs),
        "system_share_by_process": {
            n: median(r.as_dict()["system_share_by_process"].get(n) or math.nan for r in runs)
            for n in runs[0].cpu_s
        },
        "runs": [r.as_dict() for r in runs],
    }


def run_throughput(
    plan: Plan,
    workdir: Path,
    args: argparse.Namespace,
    scenarios: set[str],
    say: Callable[[str], None],
) -> dict[str, Any]:
    subs = corpus(plan.items)
    now = utcnow()
    entries = [ingested_fields(s, now) for s in subs]
    uris = [s["uri"] for s in subs]
    aof = not args.no_aof
    base: list[pipeline.RunResult] = []
    counts = transport_partitions(args.transport_partitions)
    noop_at: dict[int, list[pipeline.RunResult]] = {n: [] for n in counts}
    noop = noop_at[1]
    conf: list[pipeline.RunResult] = []
    e2e: list[pipeline.RunResult] = []
    for round_ in range(plan.runs):
        tag = f"round {round_ + 1}/{plan.runs}"
        if "transport" in scenarios:
            say(f"transport {tag}: bare relay baseline, {plan.items} items")
            base.append(pipeline.baseline_run(workdir / f"base-{round_}", entries, aof=aof))
            say(f"  {base[-1].items_per_s:,.0f} items/s")
            for n in counts:
                say(f"transport {tag}: enrichment no-op (NEWSFEED_ENRICH_DISABLED=all), N = {n}")
                noop_at[n].append(
                    pipeline.transport_run(
                        workdir / f"noop-{n}-{round_}",
                        entries,
                        uris,
                        enrichment="noop",
                        aof=aof,
                        verify=round_ == 0,
                        partitions=n,
                    )
                )
                say(f"  {noop_at[n][-1].items_per_s:,.0f} items/s")
            say(f"transport {tag}: enrichment as configured")
            conf.append(
                pipeline.transport_run(
                    workdir / f"conf-{round_}",
                    entries,
                    uris,
                    enrichment="configured",
                    aof=aof,
                    verify=round_ == 0,
                )
            )
            say(f"  {conf[-1].items_per_s:,.0f} items/s")
        if "pipeline" in scenarios:
            say(f"pipeline {tag}: {plan.items} items POSTed through ingest")
            e2e.append(
                pipeline.e2e_run(
                    workdir / f"e2e-{round_}",
                    subs,
                    aof=aof,
                    concurrency=plan.concurrency,
                    verify=True,
                    batch=plan.ingest_batch,
                )
            )
            say(f"  {e2e[-1].items_per_s:,.0f} items/s")
    out: dict[str, Any] = {}
    if base:
        noop_ratios = paired_ratios([r.items_per_s for r in noop], [r.items_per_s for r in base])
        conf_ratios = paired_ratios([r.items_per_s for r in conf], [r.items_per_s for r in base])
        out["transport"] = {
            "items": plan.items,
            "baseline": _summary(base),
            "noop": {
                **_summary(noop),
                "note": 'the enrichment service with NEWSFEED_ENRICH_DISABLED=["all"]: '
                "only the sanitizer runs",
            },
            "configured": _summary(conf),
            "noop_ratio": figure(
                noop_ratios, "x", of="noop items/s / baseline items/s, paired per round"
            ),
            "configured_ratio": figure(
                conf_ratios, "x", of="configured items/s / baseline items/s, paired per round"
            ),
            "noop_cpu_ratio": figure(
                paired_ratios([r.cpu_us_per_item for r in base], [r.cpu_us_per_item for r in noop]),
                "x",
                of="baseline CPU/item / noop CPU/item (noise-robust efficiency)",
            ),
            "default_partitions": DEFAULT_PARTITIONS,
            "noop_by_partitions": {
                str(n): {
                    **_summary(runs),
                    "ratio": figure(
                        paired_ratios([r.items_per_s for r in runs], [r.items_per_s for r in base]),
                        "x",
                        of=f"noop items/s at N = {n} / baseline items/s, paired per round",
                    ),
                    "cpu_ratio": figure(
                        paired_ratios(
                            [r.cpu_us_per_item for r in base], [r.cpu_us_per_item for r in runs]
                        ),
                        "x",
                        of=f"baseline CPU/item / noop CPU/item at N = {n}",
                    ),
                }
                for n, runs in noop_at.items()
            },
        }
        out["transport"]["noop_default_ratio"] = out["transport"]["noop_by_partitions"][
            str(DEFAULT_PARTITIONS)
        ]["ratio"]
    if e2e:
        summary = _summary(e2e)
        summary["ingest_accept_per_s"] = figure(
            [r.extra["ingest_accept_per_s"] for r in e2e], "items/s"
        )
        if base:
            summary["ratio_vs_baseline"] = figure(
                paired_ratios([r.items_per_s for r in e2e], [r.items_per_s for r in base]), "x"
            )
        summary["feed_count_ok"] = all(r.extra.get("feed_count") == r.items for r in e2e)
        if plan.info_run:
            say("pipeline: one more run with the services at INFO logging")
            info = pipeline.e2e_run(
                workdir / "e2e-info",
                subs,
                aof=aof,
                concurrency=plan.concurrency,
                verify=False,
                batch=plan.ingest_batch,
                log_level="INFO",
            )
            summary["info_logging"] = {
                "items_per_s": info.items_per_s,
                "cpu_us_per_item": info.cpu_us_per_item,
                "cpu_us_per_item_by_process": {
                    n: s * 1e6 / info.items for n, s in info.cpu_s.items()
                },
            }
        out["pipeline"] = summary
    return out


def run_profiles(
    plan: Plan, workdir: Path, args: argparse.Namespace, say: Callable[[str], None]
) -> dict[str, Any]:
    exe = shutil.which("py-spy")
    if exe is None and shutil.which("perf") is None:
        return {"skipped": "neither py-spy nor perf on PATH (see docs/performance.md)"}
    outdir = args.out.parent / "profiles"
    subs = corpus(plan.items)
    now = utcnow()
    entries = [ingested_fields(s, now) for s in subs]
    say("profile: e2e run under py-spy (not counted in the figures)")
    pipeline.e2e_run(
        workdir / "prof-e2e",
        subs,
        aof=not args.no_aof,
        concurrency=plan.concurrency,
        verify=False,
        batch=plan.ingest_batch,
        profiler=pipeline.Profiler(exe, outdir, "e2e"),
    )
    say("profile: transport run (enrichment no-op) under py-spy")
    pipeline.transport_run(
        workdir / "prof-noop",
        entries,
        [s["uri"] for s in subs],
        enrichment="noop",
        aof=not args.no_aof,
        verify=False,
        profiler=pipeline.Profiler(exe, outdir, "noop"),
    )
    summaries: dict[str, Any] = {
        f"py-spy {path.stem}": summarize_file(path) for path in sorted(outdir.glob("*.txt"))
    }
    for path in sorted(outdir.glob("*.perf.data")):
        summaries[f"perf {path.name.removesuffix('.perf.data')}"] = perf_summary(path)
    return summaries


def run_latency(
    plan: Plan, workdir: Path, args: argparse.Namespace, say: Callable[[str], None]
) -> dict[str, Any]:
    warm_n = int(plan.latency_rate * plan.latency_warmup_seconds)
    n = int(plan.latency_rate * plan.latency_seconds)
    runs: list[dict[str, Any]] = []
    inline: list[dict[str, Any]] = []
    for round_ in range(plan.runs):
        # Issue 15, both ways in each round: the default deployment (the entity
        # model's names in a second pass), then the model inline (every item waits).
        for entity_model, results in (("second_pass", runs), ("inline", inline)):
            say(
                f"latency round {round_ + 1}/{plan.runs}, entity model {entity_model}: "
                f"{n} items at {plan.latency_rate:g}/s"
            )
            result = latency.latency_run(
                workdir / f"lat-{round_}-{entity_model}",
                corpus(warm_n, prefix=f"urn:bench:warm{round_}{entity_model}"),
                corpus(n, prefix=f"urn:bench:lat{round_}{entity_model}"),
                rate=plan.latency_rate,
                aof=not args.no_aof,
                entity_model=entity_model,
            )
            results.append(result)
            say(
                f"  p50 {result['p50_ms']:.1f} ms  p99 {result['p99_ms']:.1f} ms  "
                f"max {result['max_ms']:.1f} ms"
                + (
                    f"; to the model's names p50 {result['refined_p50_ms']:.1f} ms "
                    f"p99 {result['refined_p99_ms']:.1f} ms"
                    if result["refined"]
                    else ""
                )
            )
    floor_rate = 50.0
    say(f"latency floor: {int(floor_rate * 5)} items at {floor_rate:g}/s (no queueing)")
    floor = latency.latency_run(
        workdir / "lat-floor",
        corpus(int(floor_rate), prefix="urn:bench:floorwarm"),
        corpus(int(floor_rate * 5), prefix="urn:bench:floor"),
        rate=floor_rate,
        aof=not args.no_aof,
    )
    say(f"  p50 {floor['p50_ms']:.1f} ms  p99 {floor['p99_ms']:.1f} ms")
    return {
        "rate_per_s": plan.latency_rate,
        "items_per_run": n,
        "floor": {**floor, "note": "one run at a rate far below capacity: the hops' own latency"},
        "p50_ms": figure([r["p50_ms"] for r in runs], "ms"),
        "p99_ms": figure([r["p99_ms"] for r in runs], "ms"),
        "max_ms": figure([r["max_ms"] for r in runs], "ms", worst=max(r["max_ms"] for r in runs)),
        "from_send_p99_ms": figure(
            [r["from_send_p99_ms"] for r in runs],
            "ms",
            of="request sent -> announced (includes ingest's own time)",
        ),
        "missing": sum(int(r["missing"]) for r in runs),
        "refined_p50_ms": figure(
            [r["refined_p50_ms"] for r in runs],
            "ms",
            of="202 -> the entity model's names announced (second pass), items it changed",
        ),
        "refined_p99_ms": figure([r["refined_p99_ms"] for r in runs], "ms"),
        "refined_share": figure([r["refined"] / max(1, r["items"]) for r in runs], "share"),
        "inline": {
            "p50_ms": figure([r["p50_ms"] for r in inline], "ms"),
            "p99_ms": figure([r["p99_ms"] for r in inline], "ms"),
            "note": "the entity model inline (no second pass), each round after the other",
            "runs": inline,
        },
        "runs": runs,
    }


def run_costs(plan: Plan, say: Callable[[str], None]) -> dict[str, Any]:
    say(f"costs: per-step CPU over {plan.cost_items} items, in-process")
    return costs.step_costs(plan.cost_items, rounds=max(plan.runs, 1))


def run_gateway(plan: Plan, workdir: Path, say: Callable[[str], None]) -> dict[str, Any]:
    say(
        f"gateway: {plan.gateway_items} items stored; {plan.runs} rounds of "
        f"{plan.wrk_seconds:g}s per endpoint, {plan.connections} connections"
    )
    return gateway.gateway_run(
        workdir / "gateway",
        items=plan.gateway_items,
        runs=plan.runs,
        seconds=plan.wrk_seconds,
        connections=plan.connections,
        threads=plan.threads,
    )


def run_growth(plan: Plan, workdir: Path, say: Callable[[str], None]) -> dict[str, Any]:
    say(f"growth: read model at {', '.join(f'{s:,}' for s in plan.growth_sizes)} items")
    return growth.growth_run(
        workdir / "growth", plan.growth_sizes, plan.growth_requests, rounds=max(plan.runs, 1)
    )


def run_fanout(plan: Plan, workdir: Path, say: Callable[[str], None]) -> dict[str, Any]:
    say(
        f"fanout: {plan.fanout_clients:,} SSE clients, {plan.fanout_rate:g} events/s for "
        f"{plan.fanout_seconds:g}s, bare asyncio server then gateway, {plan.runs} rounds"
    )
    out = readers.fanout_run(
        workdir / "fanout",
        clients=plan.fanout_clients,
        rate=plan.fanout_rate,
        seconds=plan.fanout_seconds,
        runs=plan.runs,
    )
    g = out["gateway"]
    say(
        f"  gateway p99 {g['delay_p99_ms']['median']:.0f} ms, "
        f"{g['cpu_us_per_client_event']['median']:.2f} us/client-event, "
        f"{g['memory_bytes_per_client']['median'] / 1024:.1f} KiB/client"
    )
    return out


def run_cache(plan: Plan, workdir: Path, say: Callable[[str], None]) -> dict[str, Any]:
    say(
        f"cache: {plan.cache_items:,} items stored, reads of untouched feeds while "
        f"{plan.cache_rate:g} items/s are published, {plan.runs} rounds"
    )
    out = readers.cache_run(
        workdir / "cache",
        items=plan.cache_items,
        feeds=20,
        rate=plan.cache_rate,
        seconds=plan.cache_seconds,
        runs=plan.runs,
    )
    busy, quiet = out["miss_ratio"]["median"], out["quiet_miss_ratio"]["median"]
    say(f"  miss ratio {busy:.3f} (no publishing: {quiet:.3f})")
    return out


# -- output -----------------------------------------------------------------------


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.{2 if abs(value) < 10 else digits}f}"
    return str(value)


def _runs(fig: dict[str, Any]) -> str:
    return " ".join(_fmt(r) for r in fig.get("runs", []))


def table(result: dict[str, Any], markdown: bool = False) -> str:
    rows: list[tuple[str, str, str, str]] = []
    f = result["figures"]

    def add(name: str, fig: dict[str, Any] | None, unit: str | None = None) -> None:
        if fig:
            rows.append((name, _fmt(fig.get("median")), fig.get("unit", unit or ""), _runs(fig)))

    if "transport" in f:
        t = f["transport"]
        for key, label in (
            ("baseline", "bare relay (3 hops)"),
            ("noop", "transport, no-op enrichment*"),
            ("configured", "transport, enrichment"),
        ):
            add(f"{label}: items/s", t[key]["items_per_s"])
            add(f"{label}: CPU/item", t[key]["cpu_us_per_item"])
        add("transport no-op / bare relay", t["noop_ratio"])
        for n, at_n in t.get("noop_by_partitions", {}).items():
            default = " (the default)" if int(n) == t.get("default_partitions") else ""
            add(f"no-op, N = {n}{default}: items/s", at_n["items_per_s"])
            add(f"no-op, N = {n}{default}: CPU/item", at_n["cpu_us_per_item"])
            add(f"no-op, N = {n}{default} / bare relay", at_n["ratio"])
            add(f"bare CPU/item / no-op CPU/item, N = {n}", at_n["cpu_ratio"])
        add("transport enrichment / bare relay", t["configured_ratio"])
        add("bare CPU/item / no-op CPU/item", t["noop_cpu_ratio"])
    if "pipeline" in f:
        p = f["pipeline"]
        add("pipeline via ingest: items/s", p["items_per_s"])
        add("pipeline via ingest: CPU/item", p["cpu_us_per_item"])
        add("ingest accepted: items/s", p["ingest_accept_per_s"])
        add("pipeline / bare relay", p.get("ratio_vs_baseline"))
        if "info_logging" in p:
            rows.append(
                (
                    "pipeline at INFO logging: items/s",
                    _fmt(p["info_logging"]["items_per_s"]),
                    "items/s",
                    "",
                )
            )
    if "latency" in f:
        lat = f["latency"]
        add(f"latency @{_fmt(lat['rate_per_s'])}/s p50", lat["p50_ms"])
        add(f"latency @{_fmt(lat['rate_per_s'])}/s p99", lat["p99_ms"])
        add(f"latency @{_fmt(lat['rate_per_s'])}/s max", lat["max_ms"])
        if "refined_p99_ms" in lat:
            add(f"latency @{_fmt(lat['rate_per_s'])}/s to model names p50", lat["refined_p50_ms"])
            add(f"latency @{_fmt(lat['rate_per_s'])}/s to model names p99", lat["refined_p99_ms"])
        if "inline" in lat:
            add(f"latency @{_fmt(lat['rate_per_s'])}/s, model inline p50", lat["inline"]["p50_ms"])
            add(f"latency @{_fmt(lat['rate_per_s'])}/s, model inline p99", lat["inline"]["p99_ms"])
        if "floor" in lat:
            fl = lat["floor"]
            rows.append(
                (
                    f"latency @{_fmt(fl['rate_per_s'])}/s p50 / p99",
                    _fmt(fl["p50_ms"]),
                    "ms",
                    f"p99 {_fmt(fl['p99_ms'])}",
                )
            )
    if "gateway" in f:
        g = f["gateway"]
        for name, e in g["endpoints"].items():
            add(f"gateway {name}: req/s", e["rps"])
            add(f"gateway {name}: p99", e["p99_ms"])
        add("hot page / bare Starlette", g["hot_page_ratio"])
        add("deep page / bare 2-round-trip page", g["deep_vs_redis2_ratio"])
    if "growth" in f:
        for step in f["growth"]["steps"]:
            n = f"{step['items']:,}"
            ref = f"{f['growth'].get('reference_items', 0):,}"
            for kind in ("first", "deep"):
                rows.append(
                    (
                        f"growth {n}: {kind} page p50",
                        _fmt(step[f"{kind}_p50_ms"]),
                        "ms",
                        f"{_fmt(step.get(f'{kind}_p50_vs_reference'))} x the {ref} reference; "
                        f"Redis alone {_fmt(step.get(f'{kind}_redis_only_p50_ms'))} ms",
                    )
                )
            rows.append(
                (
                    f"growth {n}: memory/item / JSON",
                    _fmt(step["memory_ratio"]),
                    "x",
                    f"{step['memory_bytes_per_item']:,.0f} B / "
                    f"{step['json_bytes_per_item']:,.0f} B",
                )
            )
        rows.append(
            ("growth page latency largest/smallest", _fmt(f["growth"]["page_ratio"]), "x", "")
        )
    if "fanout" in f:
        fan = f["fanout"]
        for kind in ("gateway", "bare"):
            label = f"fanout {fan['clients']:,} clients, {kind}"
            add(f"{label}: delay p50", fan[kind]["delay_p50_ms"])
            add(f"{label}: delay p99", fan[kind]["delay_p99_ms"])
            add(f"{label}: CPU/client-event", fan[kind]["cpu_us_per_client_event"])
            add(f"{label}: memory/client", fan[kind]["memory_bytes_per_client"])
        add("fanout gateway: clients with every event", fan["gateway"]["clients_with_every_event"])
        add("fanout gateway: clients closed, resumed", fan["gateway"]["clients_closed_and_resumed"])
        add("fanout CPU gateway / bare", fan["cpu_ratio"])
    if "cache" in f:
        add(f"cache miss ratio @{_fmt(f['cache']['rate_per_s'])} items/s", f["cache"]["miss_ratio"])
        add("cache miss ratio, no publishing", f["cache"]["quiet_miss_ratio"])
    if "costs" in f:
        for step, us in f["costs"]["steps"].items():
            rows.append((f"cost {step}", _fmt(us), "us", ""))
    if markdown:
        lines = ["| figure | median | unit | runs |", "|---|---:|---|---|"]
        lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
        lines += ["", "| target (issue 8) | measured | target | status |", "|---|---:|---|---|"]
        lines += [
            f"| {v['description']} | {_fmt(v['value'])} | {v['target']} | {v['status']} |"
            for v in result["targets"]
        ]
        return "\n".join(lines)
    width = max((len(r[0]) for r in rows), default=10)
    lines = [f"{'figure':<{width}}  {'median':>10}  {'unit':<8}  runs"]
    lines += [f"{a:<{width}}  {b:>10}  {c:<8}  {d}" for a, b, c, d in rows]
    lines.append("")
    lines.append("targets (issue 8; issue 13 where it says so):")
    for verdict in result["targets"]:
        lines.append(
            f"  {verdict['status']:<13} {verdict['description']}: "
            f"{_fmt(verdict['value'])} (target {verdict['target']})"
        )
    if "transport" in f:
        lines.append(
            '* no-op enrichment: NEWSFEED_ENRICH_DISABLED=["all"] (the sanitizer still runs)'
        )
    return "\n".join(lines)


def write(result: dict[str, Any], out: Path, final: bool) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(clean(result), indent=2) + "\n")
    if final:
        tmp.replace(out)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    profile_name, plan = make_plan(args)
    scenarios = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = scenarios - set(SCENARIOS)
    if unknown:
        print(f"unknown scenario(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="newsfeed-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    def say(message: str) -> None:
        print(f"[{time.monotonic() - started:6.0f}s] {message}", flush=True)

    sample = corpus(50)
    result: dict[str, Any] = {
        "schema": 1,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "profile": profile_name,
        "plan": vars(plan),
        "scenarios": sorted(scenarios, key=SCENARIOS.index),
        "aof": not args.no_aof,
        "git": git_info(args.code),
        "machine": machine(workdir),
        "item": {"words_mean": sum(map(word_count, sample)) / len(sample)},
        "figures": {},
        "errors": {},
    }
    load1 = result["machine"]["loadavg_at_start"][0]
    say(
        f"profile {profile_name}; workdir {workdir}; load average {load1:.2f}"
        + (" (BUSY: figures will be noisy)" if load1 > 0.5 else "")
    )
    figures: dict[str, Any] = result["figures"]

    def attempt(name: str, fn: Callable[[], dict[str, Any]]) -> None:
        try:
            figures.update(fn())
        except Exception as error:  # one broken scenario must not lose the others
            result["errors"][name] = f"{type(error).__name__}: {error}"
            say(f"{name} FAILED: {type(error).__name__}: {error}")
            traceback.print_exc()
        result["targets"] = evaluate(figures)
        write(result, args.out, final=False)

    if "costs" in scenarios:
        attempt("costs", lambda: {"costs": run_costs(plan, say)})
    if scenarios & {"transport", "pipeline"}:
        attempt("throughput", lambda: run_throughput(plan, workdir, args, scenarios, say))
    if "latency" in scenarios:
        attempt("latency", lambda: {"latency": run_latency(plan, workdir, args, say)})
    if "gateway" in scenarios:
        attempt("gateway", lambda: {"gateway": run_gateway(plan, workdir, say)})
    if "growth" in scenarios:
        attempt("growth", lambda: {"growth": run_growth(plan, workdir, say)})
    if "fanout" in scenarios:
        attempt("fanout", lambda: {"fanout": run_fanout(plan, workdir, say)})
    if "cache" in scenarios:
        attempt("cache", lambda: {"cache": run_cache(plan, workdir, say)})
    if args.profile:
        attempt("profiles", lambda: {"profiles": run_profiles(plan, workdir, args, say)})

    result["machine"]["loadavg_at_end"] = list(os.getloadavg())
    result["seconds"] = time.monotonic() - started
    result["targets"] = evaluate(figures)
    write(result, args.out, final=True)
    print()
    print(table(result))
    print(f"\nwritten to {args.out} in {result['seconds']:.0f}s")
    if not args.keep and args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if result["errors"] else 0
