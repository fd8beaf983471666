"""The benchmark harness's parsers: wrk output, /proc stat, HTTP heads, py-spy stacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.httpload import parse_head, request_bytes
from bench.procs import parse_stat_ticks, parse_stat_times
from bench.profiles import bucket_of, frame_name, parse_perf_report, summarize
from bench.run import PROFILES, Plan, table, write
from bench.stats import evaluate, figure
from bench.wrk import duration_ms, parse_wrk

WRK_OUTPUT = """\
Running 5s test @ http://127.0.0.1:8000/v1/feed
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     7.44ms    2.10ms  48.31ms   88.12%
    Req/Sec     3.39k   250.11     3.90k    71.00%
  Latency Distribution
     50%    7.01ms
     75%    8.12ms
     90%    9.50ms
     99%   15.20ms
  33712 requests in 5.00s, 3.89GB read
  Socket errors: connect 0, read 1, write 0, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:   6741.37
Transfer/sec:    796.51MB
"""


def test_parse_wrk() -> None:
    result = parse_wrk(WRK_OUTPUT)
    assert result["rps"] == pytest.approx(6741.37)
    assert result["requests"] == 33712
    assert result["p50_ms"] == pytest.approx(7.01)
    assert result["p99_ms"] == pytest.approx(15.2)
    assert result["max_ms"] == pytest.approx(48.31)
    assert result["errors"] == 3
    assert result["non_2xx"] == 4


def test_parse_wrk_rejects_other_output() -> None:
    with pytest.raises(ValueError, match="Requests/sec"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused")


def test_wrk_durations() -> None:
    assert duration_ms("812.00us") == pytest.approx(0.812)
    assert duration_ms("1.50ms") == 1.5
    assert duration_ms("2.00s") == 2000
    with pytest.raises(ValueError, match="duration"):
        duration_ms("fast")


def test_parse_stat_ticks_counts_from_the_last_parenthesis() -> None:
    # pid (comm) state ppid ... utime(14) stime(15) cutime(16) cstime(17): a name with
    # spaces and ')'.
    fields = ["S", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "120", "35", "7", "3", "20"]
    stat = "4242 (python -m x) y) " + " ".join(fields)
    assert parse_stat_ticks(stat) == 165
    assert parse_stat_times(stat) == (127, 38)


def test_request_bytes_and_parse_head() -> None:
    raw = request_bytes(
        "POST", "http://127.0.0.1:8001/v1/items?a=1", b"{}", (("Content-Type", "application/json"),)
    )
    assert raw.startswith(b"POST /v1/items?a=1 HTTP/1.1\r\nHost: 127.0.0.1:8001\r\n")
    assert raw.endswith(b"Content-Length: 2\r\n\r\n{}")
    status, headers = parse_head(b"HTTP/1.1 202 Accepted\r\nContent-Length: 10\r\nX-A: b")
    assert status == 202
    assert headers == {"content-length": "10", "x-a": "b"}


def test_profile_summary() -> None:
    lines = [
        "process 1;run (asyncio/base_events.py:600);validate (pydantic/main.py:10) 30",
        "process 1;run (asyncio/base_events.py:600);handle (/x/services/enrichment/src/"
        "enrichment/handler.py:5) 10",
        "process 1;run (asyncio/base_events.py:600);select (selectors.py:468) 60",
        "garbage line",
    ]
    summary = summarize(lines)
    assert summary["samples"] == 40
    assert summary["idle_samples"] == 60
    assert summary["top_self"][0]["name"] == "validate (pydantic/main.py)"
    assert summary["top_self"][0]["share"] == pytest.approx(0.75)
    buckets = {b["name"]: b["samples"] for b in summary["buckets"]}
    assert buckets == {"pydantic": 30, "enrichment": 10}
    totals = {t["name"]: t["samples"] for t in summary["top_total"]}
    assert totals["run (asyncio/base_events.py)"] == 40
    assert frame_name("f (a/b/c.py:3)") == "f (b/c.py)"
    assert bucket_of("send (/v/redis/asyncio/connection.py:1)") == "redis-py"
    assert bucket_of("read (redis/_parsers/resp3.py:9)") == "redis-py"
    assert bucket_of("step (shared/delivery/worker.py:186)") == "shared.delivery"


def test_result_json_shape_and_table(tmp_path: Path) -> None:
    figures = {
        "pipeline": {
            "items_per_s": figure([700, 650, 690], "items/s"),
            "cpu_us_per_item": figure([2300.0], "us/item"),
            "ingest_accept_per_s": figure([700.0], "items/s"),
        },
        "latency": {
            "rate_per_s": 500,
            "p50_ms": figure([9.0], "ms"),
            "p99_ms": figure([float("nan")], "ms"),
            "max_ms": figure([30.0], "ms"),
        },
    }
    result = {"schema": 1, "figures": figures, "targets": evaluate(figures), "errors": {}}
    out = tmp_path / "latest.json"
    write(result, out, final=True)
    loaded = json.loads(out.read_text())
    assert loaded["figures"]["pipeline"]["items_per_s"]["median"] == 690
    assert loaded["figures"]["latency"]["p99_ms"]["median"] is None
    assert not (tmp_path / "latest.json.tmp").exists()
    text = table(result)
    assert "pipeline via ingest: items/s" in text
    assert "miss          full pipeline through ingest" in text


def test_profiles_are_complete_plans() -> None:
    assert set(PROFILES) == {"quick", "default", "full"}
    assert all(isinstance(plan, Plan) for plan in PROFILES.values())
    assert PROFILES["full"].growth_sizes[-1] == 1_000_000
    assert PROFILES["default"].items == 20_000


def test_parse_perf_report() -> None:
    text = """# Samples: 425  of event 'cpu-clock'
#
# Overhead  Shared Object
# ........  ....................
#
    61.20%  libpython3.11.so.1.0
    20.05%  [kernel.kallsyms]
     0.75%  _pydantic_core.cpython-311-x86_64-linux-gnu.so
"""
    rows = parse_perf_report(text)
    assert rows[0] == {"name": "libpython3.11.so.1.0", "share": pytest.approx(0.612)}
    assert [r["name"] for r in rows][1:] == [
        "[kernel.kallsyms]",
        "_pydantic_core.cpython-311-x86_64-linux-gnu.so",
    ]


def test_markdown_table() -> None:
    figures = {
        "pipeline": {
            "items_per_s": figure([700.0], "items/s"),
            "cpu_us_per_item": figure([2300.0], "us/item"),
            "ingest_accept_per_s": figure([700.0], "items/s"),
        }
    }
    text = table({"figures": figures, "targets": evaluate(figures)}, markdown=True)
    assert text.splitlines()[0] == "| figure | median | unit | runs |"
    assert "| pipeline via ingest: items/s | 700 | items/s | 700 |" in text
    assert "| full pipeline through ingest, items/s | 700 | >= 3000 items/s | miss |" in text
