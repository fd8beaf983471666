"""`newsfeed sources …` against a running ingest service."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from newsfeed_cli.main import app
from typer.testing import CliRunner

from tests.support.services import TOKEN, Pipeline
from tools.devstack import RedisServer, free_port

runner = CliRunner()


@pytest.fixture(scope="module")
def ingest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An ingest service (scheduler off: no fetching in this test) on a Redis of its own."""
    workdir: Path = tmp_path_factory.mktemp("cli-sources")
    server = RedisServer(workdir=workdir / "redis").start()
    running = Pipeline(
        server.url,
        workdir / "logs",
        only=("ingest",),
        extra_env={"NEWSFEED_SCHEDULER_ENABLED": "false"},
    ).start()
    yield running.ingest
    running.stop()
    server.stop()


@pytest.fixture
def operator(ingest: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSFEED_INGEST_URL", ingest)
    monkeypatch.setenv("NEWSFEED_INGEST_TOKEN", TOKEN)


def test_add_list_disable_and_enable_a_source(operator: None) -> None:
    added = runner.invoke(
        app,
        [
            "sources",
            "add",
            "kyiv-wire",
            "https://example.org/feed.xml",
            "--interval",
            "600",
            "--language",
            "uk",
        ],
    )
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["sources", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    [source] = [s for s in json.loads(listed.output)["sources"] if s["id"] == "kyiv-wire"]
    assert (source["poll_interval_seconds"], source["language"]) == (600, "uk")
    assert runner.invoke(app, ["sources", "disable", "kyiv-wire"]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["sources", "list", "--json"]).output)
    assert [s["enabled"] for s in listed["sources"] if s["id"] == "kyiv-wire"] == [False]
    assert runner.invoke(app, ["sources", "enable", "kyiv-wire"]).exit_code == 0
    assert "kyiv-wire" in runner.invoke(app, ["sources", "list"]).output


def test_errors_have_exit_codes_scripts_can_trust(
    operator: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    duplicate = runner.invoke(app, ["sources", "add", "dup", "https://example.org/a.xml"])
    assert duplicate.exit_code == 0
    again = runner.invoke(app, ["sources", "add", "dup", "https://example.org/a.xml"])
    assert again.exit_code == 1
    assert "409" in again.output
    assert runner.invoke(app, ["sources", "disable", "no-such-source"]).exit_code == 1
    bad_url = runner.invoke(app, ["sources", "add", "bad", "ftp://example.org/feed"])
    assert bad_url.exit_code == 1
    monkeypatch.setenv("NEWSFEED_INGEST_TOKEN", "wrong-token-0123456789")
    assert runner.invoke(app, ["sources", "list"]).exit_code == 2
    monkeypatch.setenv("NEWSFEED_INGEST_URL", f"http://127.0.0.1:{free_port()}")
    assert runner.invoke(app, ["sources", "list"]).exit_code == 3
    monkeypatch.delenv("NEWSFEED_INGEST_TOKEN")
    assert runner.invoke(app, ["sources", "list"]).exit_code == 2
