"""Ingest as real processes: two replicas poll a local feed server (sources from
a YAML file) onto news.ingested, hostile sources fail with their reason while the
service keeps serving, and `newsfeed import` submits files. (That news.ingested
reaches the gateway is tests/e2e/test_pipeline.py's business.)"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as sync_redis
from shared.streams import INGESTED

from tests.support.feed_fixtures import fixture
from tests.support.services import TOKEN, Pipeline
from tests.support.streams import stream
from tests.support.waiting import poll
from tools.devstack import RedisServer
from tools.devstack.feed_server import FeedServer, Route

REPO = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SOURCES = {
    "wire": "/e2e/wire.xml",
    "atom": "/e2e/atom.xml",
    "xxe": "/e2e/xxe.xml",
    "bomb": "/e2e/bomb",
}


@pytest.fixture(scope="module")
def feeds() -> Iterator[FeedServer]:
    server = FeedServer().start()
    server.serve("/e2e/wire.xml", Route(body=fixture("wire.rss.xml"), etag='"w1"'))
    server.serve("/e2e/atom.xml", Route(body=fixture("wire.atom.xml")))
    server.serve("/e2e/xxe.xml", Route(body=fixture("xxe.xml")))
    bomb = gzip.compress(b"\0" * 20_000_000)
    server.serve("/e2e/bomb", Route(body=bomb, headers={"Content-Encoding": "gzip"}))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, feeds: FeedServer) -> Iterator[Pipeline]:
    workdir = tmp_path_factory.mktemp("e2e-feeds")
    lines = ["sources:"]
    for source_id, path in SOURCES.items():
        lines += [f"  - id: {source_id}", f"    url: {feeds.url(path)}"]
    # Not on the allow list: the SSRF guard refuses it.
    lines += ["  - id: strict", f"    url: {feeds.url('/e2e/wire.xml', host='localhost')}"]
    lines += ["    authors: [{name: Strict desk, role: desk}]"]
    sources = workdir / "sources.yaml"
    sources.write_text("\n".join(lines) + "\n")
    server = RedisServer(workdir=workdir / "redis").start()
    running = Pipeline(
        server.url,
        workdir / "logs",
        extra_env={
            "NEWSFEED_SOURCES_FILE": str(sources),
            "NEWSFEED_FETCH_ALLOWED_PRIVATE_HOSTS": "127.0.0.1",
            "NEWSFEED_MIN_POLL_INTERVAL_SECONDS": "0",
            "NEWSFEED_SCHEDULER_TICK_SECONDS": "0.1",
            "NEWSFEED_FETCH_MAX_BYTES": "1000000",
            "NEWSFEED_FETCH_TIMEOUT_SECONDS": "5",
            "NEWSFEED_FETCH_CONTACT": "mailto:ops@newsroom.example",
        },
        replicas={"ingest": 2},
        only=("ingest",),
    ).start()
    yield running
    running.stop()
    server.stop()


def source_state(pipeline: Pipeline, source_id: str) -> dict[str, Any]:
    response = httpx.get(f"{pipeline.ingest}/v1/sources/{source_id}", headers=AUTH, timeout=5)
    assert response.status_code == 200, response.text
    return dict(response.json()["state"])


def settled(pipeline: Pipeline, source_id: str) -> dict[str, Any] | None:
    state = source_state(pipeline, source_id)
    return state if state.get("last_outcome") else None


def ingested(pipeline: Pipeline) -> list[dict[str, Any]]:
    client = sync_redis.Redis.from_url(pipeline.redis_url, decode_responses=True)
    try:
        return [json.loads(fields["data"]) for _, fields in client.xrange(stream(INGESTED))]
    finally:
        client.close()


def test_feed_entries_become_ingested_events_with_source_and_canonical_link(
    pipeline: Pipeline,
) -> None:
    def wire_items() -> list[dict[str, Any]]:
        return [i for i in ingested(pipeline) if i.get("source") == "wire"]

    items = poll(lambda: len(wire_items()) == 2 and wire_items())
    links = {item["link"] for item in items}
    assert "https://wire.example.org/news/zelensky-cyprus" in links
    assert all(item["version"] == 1 for item in items)


def test_each_source_is_fetched_once_by_two_replicas_and_its_state_is_shown(
    pipeline: Pipeline, feeds: FeedServer
) -> None:
    for source_id in ("wire", "atom"):
        state = poll(partial(settled, pipeline, source_id))
        assert state["last_outcome"] == "ok"
    assert source_state(pipeline, "wire")["kind"] == "rss2.0"
    assert source_state(pipeline, "atom")["kind"] == "atom1.0"
    assert feeds.count("/e2e/wire.xml") == 1  # "strict" never connected; two replicas, one fetch
    assert feeds.count("/e2e/atom.xml") == 1
    agent = feeds.seen("/e2e/wire.xml")[0].headers["User-Agent"]
    assert agent.endswith("(feed fetcher; +mailto:ops@newsroom.example)")
    listed = httpx.get(f"{pipeline.ingest}/v1/sources", headers=AUTH).json()
    assert {s["id"] for s in listed["sources"]} == {*SOURCES, "strict"}
    assert all(s["managed_by"] == "file" for s in listed["sources"])


@pytest.mark.parametrize(
    ("source_id", "reason"),
    [
        ("xxe", "external entity (XXE)"),
        ("bomb", "cap after decompression"),
        ("strict", "localhost resolves to"),
    ],
)
def test_a_hostile_or_refused_source_fails_with_its_reason_and_ingest_keeps_serving(
    pipeline: Pipeline, source_id: str, reason: str
) -> None:
    state = poll(lambda: settled(pipeline, source_id))
    assert state["last_outcome"] == "failed"
    assert reason in state["last_error"]
    assert state["consecutive_failures"] >= 1
    assert "next_due_at" in state
    for replica in pipeline.all_replicas["ingest"]:
        assert httpx.get(f"{replica.url}/readyz", timeout=5).status_code == 200
    accepted = pipeline.submit({"headline": f"Still serving after {source_id}"})
    assert accepted.status_code == 202


def test_a_forced_repoll_is_a_conditional_get_that_emits_nothing(
    pipeline: Pipeline, feeds: FeedServer
) -> None:
    poll(lambda: settled(pipeline, "wire"))
    client = sync_redis.Redis.from_url(pipeline.redis_url, decode_responses=True)
    before = client.xlen(stream(INGESTED))
    requests = feeds.count("/e2e/wire.xml")
    response = httpx.post(f"{pipeline.ingest}/v1/sources/wire/poll", headers=AUTH)
    assert response.status_code == 202
    poll(lambda: source_state(pipeline, "wire")["last_outcome"] == "not_modified")
    assert feeds.count("/e2e/wire.xml") == requests + 1
    assert feeds.seen("/e2e/wire.xml")[-1].headers["If-None-Match"] == '"w1"'
    assert client.xlen(stream(INGESTED)) == before
    client.close()


def run_import(pipeline: Pipeline, path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "NEWSFEED_INGEST_URL": pipeline.ingest,
        "NEWSFEED_INGEST_TOKEN": TOKEN,
        "COLUMNS": "200",
    }
    command = [sys.executable, "-c", "from newsfeed_cli.main import app; app()", "import"]
    return subprocess.run(
        [*command, str(path), *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_newsfeed_import_submits_json_lines_and_reports_rejections(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    items = [
        {"uri": "urn:newsfeed:import:1", "headline": "Imported one"},
        {"uri": "urn:newsfeed:import:2", "headline": "Imported two", "version": 4},
        {"uri": "urn:newsfeed:import:3", "headline": "", "body_html": ""},
    ]
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join(json.dumps(item) for item in items) + "\n")
    result = run_import(pipeline, path, "--json")
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["total"], summary["accepted"], summary["unchanged"]) == (3, 2, 0)
    (rejected,) = summary["rejected"]
    assert rejected["where"] == "line 3"
    assert "headline or a body_html" in rejected["reason"]
    assert summary["ignored_fields"] == {"version": 1}
    again = run_import(pipeline, path)
    assert again.returncode == 1
    assert "unchanged" in again.stdout
    assert any(i["uri"] == "urn:newsfeed:import:2" for i in ingested(pipeline))


def test_newsfeed_import_reads_the_demo_ninjs_file(pipeline: Pipeline) -> None:
    demo = REPO / "demo" / "items.json"
    if not demo.exists():
        pytest.skip("no demo items in this checkout")
    result = run_import(pipeline, demo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "accepted" in result.stdout
