"""The `newsfeed` command against a real redis-server: what an operator types."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis as sync_redis
from newsfeed_cli import tail as tail_module
from newsfeed_cli.main import app
from rich.console import Console
from shared.delivery.deadletter import dead_letter_fields
from shared.events import encode
from shared.streams import DEAD_LETTER, ENRICHED, INGESTED, PUBLISHED, ROUTES
from typer.testing import CliRunner

from tests.support.builders import event_for, news_item
from tests.support.streams import stream
from tools.devstack import RedisServer, free_port

runner = CliRunner()


@pytest.fixture
def client(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[sync_redis.Redis]:
    """The tests' own Redis, flushed, with every group created; the CLI pointed at it."""
    monkeypatch.setenv("NEWSFEED_REDIS_URL", redis_server.url)
    redis = sync_redis.Redis.from_url(redis_server.url, decode_responses=True)
    redis.flushdb()
    for route in ROUTES:
        redis.xgroup_create(stream(route.stream), route.group, id="0", mkstream=True)
    yield redis
    redis.close()


def test_status_of_a_healthy_pipeline_exits_zero(client: sync_redis.Redis) -> None:
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert "news.ingested" in result.output
    assert "enrichment" in result.output
    assert "all streams healthy" in result.output


def test_status_shows_lag_and_pending_per_group(client: sync_redis.Redis) -> None:
    """5 entries, 2 delivered and not acknowledged: pending 2, lag 3."""
    for i in range(5):
        client.xadd(stream(INGESTED), encode(event_for(news_item(f"urn:t:{i}"))))
    client.xreadgroup("enrichment", "worker-1", {stream(INGESTED): ">"}, count=2)
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    streams = {s["name"]: s for s in json.loads(result.output)["streams"]}
    [group] = streams[INGESTED]["groups"]
    assert (group["pending"], group["lag"], group["consumers"]) == (2, 3, 1)
    assert streams[INGESTED]["length"] == 5


def test_status_exits_one_when_there_are_dead_letters_or_stuck_entries(
    client: sync_redis.Redis,
) -> None:
    client.xadd(stream(INGESTED), encode(event_for(news_item("urn:t:stuck"))))
    client.xreadgroup("enrichment", "gone", {stream(INGESTED): ">"}, count=1)
    stuck = runner.invoke(app, ["status", "--stuck-after", "0"])
    assert stuck.exit_code == 1
    assert "pending for" in stuck.output
    client.xadd(
        stream(DEAD_LETTER),
        dead_letter_fields(
            stream=stream(ENRICHED),
            group="publication",
            entry_id="1-0",
            error="boom",
            deliveries=5,
            original={"x": "y"},
        ),
    )
    dead = runner.invoke(app, ["status"])
    assert dead.exit_code == 1
    assert "1 dead letter(s)" in dead.output


def test_status_exits_one_when_a_group_reads_nothing(client: sync_redis.Redis) -> None:
    """Entries wait and nobody reads them (a service stopped, or a retired
    second pass's group): said, since the group keeps the stream from trimming."""
    client.xadd(stream(INGESTED), encode(event_for(news_item("urn:t:unread"))))
    waiting = runner.invoke(app, ["status", "--stuck-after", "0"])
    assert waiting.exit_code == 1
    assert "news.ingested/enrichment: an entry waiting to be read" in waiting.output
    assert runner.invoke(app, ["status"]).exit_code == 0  # not yet for the default 300 s
    client.xreadgroup("enrichment", "worker-1", {stream(INGESTED): ">"})
    read = runner.invoke(app, ["status", "--stuck-after", "0", "--json"])
    assert "waiting to be read" not in read.output


def test_status_exits_three_when_redis_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSFEED_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 3
    assert "cannot reach Redis" in result.output


@pytest.fixture
def nothing_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No NEWSFEED_* variable, in a directory no `make run` ran in."""
    for variable in ("NEWSFEED_REDIS_URL", "NEWSFEED_INGEST_URL", "NEWSFEED_INGEST_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_stack_file(directory: Path, **values: object) -> Path:
    """What tools/run_local.py records in .run/stack.json."""
    path = directory / ".run" / "stack.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(values))
    return path


def test_missing_settings_exit_two_and_name_the_variable(nothing_set: Path) -> None:
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 2
    assert "NEWSFEED_REDIS_URL" in result.output
    assert "make run" in result.output


def test_with_nothing_set_the_running_make_run_stack_is_used(
    client: sync_redis.Redis,
    redis_server: RedisServer,
    nothing_set: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """From the checkout or below it, `newsfeed status` finds .run/stack.json."""
    write_stack_file(nothing_set, pid=os.getpid(), redis_url=redis_server.url)
    below = nothing_set / "docs"
    below.mkdir()
    monkeypatch.chdir(below)
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert INGESTED in result.output


def test_a_variable_set_wins_over_the_stack_file(
    client: sync_redis.Redis,
    redis_server: RedisServer,
    nothing_set: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """NEWSFEED_REDIS_URL points at the tests' Redis, the file at nothing: the
    variable is used."""
    monkeypatch.setenv("NEWSFEED_REDIS_URL", redis_server.url)
    write_stack_file(nothing_set, pid=os.getpid(), redis_url=f"redis://127.0.0.1:{free_port()}/0")
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output


def test_one_variable_set_means_the_stack_file_is_not_used_and_says_so(
    redis_server: RedisServer, nothing_set: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_stack_file(nothing_set, pid=os.getpid(), redis_url=redis_server.url)
    monkeypatch.setenv("NEWSFEED_INGEST_URL", "http://127.0.0.1:1")
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 2, result.output
    assert "with NEWSFEED_INGEST_URL set, .run/stack.json is not used" in result.output


def test_a_stack_file_left_by_a_stopped_make_run_is_not_used(
    redis_server: RedisServer, nothing_set: Path
) -> None:
    stale = subprocess.Popen(["true"])  # its pid: a launcher that has exited
    stale.wait()
    path = write_stack_file(nothing_set, pid=stale.pid, redis_url=redis_server.url)
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 2, result.output
    assert "no longer running" in result.output
    assert path.name in result.output


def test_dlq_list_show_replay_and_drop(client: sync_redis.Redis) -> None:
    """A dead letter is listed, shown, replayed onto its stream as a new entry, and
    another one is dropped."""
    original = encode(event_for(news_item("urn:t:poison")))
    first = client.xadd(
        stream(DEAD_LETTER),
        dead_letter_fields(
            stream=stream(ENRICHED),
            group="publication",
            entry_id="5-0",
            error="ValueError: bad",
            deliveries=5,
            original=original,
        ),
    )
    second = client.xadd(
        stream(DEAD_LETTER),
        dead_letter_fields(
            stream=stream(ENRICHED),
            group="publication",
            entry_id="6-0",
            error="other",
            deliveries=5,
            original=original,
        ),
    )

    listed = runner.invoke(app, ["dlq", "list", "--json"])
    assert listed.exit_code == 0
    assert [letter["id"] for letter in json.loads(listed.output)] == [first, second]
    shown = runner.invoke(app, ["dlq", "show", first])
    assert json.loads(shown.output)["error"] == "ValueError: bad"
    assert runner.invoke(app, ["dlq", "show", "9-9"]).exit_code == 1

    before = client.xlen(stream(ENRICHED))
    replayed = runner.invoke(app, ["dlq", "replay", first])
    assert replayed.exit_code == 0, replayed.output
    assert client.xlen(stream(ENRICHED)) == before + 1
    [(_, fields)] = client.xrevrange(stream(ENRICHED), count=1)
    assert fields == original

    assert runner.invoke(app, ["dlq", "drop", "--all"], input="n\n").exit_code == 1
    assert runner.invoke(app, ["dlq", "drop", "--all", "--yes"]).exit_code == 0
    assert client.xlen(stream(DEAD_LETTER)) == 0
    assert runner.invoke(app, ["dlq", "replay"]).exit_code == 2


@pytest.mark.parametrize(
    "command", [["show", "garbage"], ["replay", f"1-{2**64}"], ["drop", "--yes", "1-1", "x-1"]]
)
def test_dlq_refuses_what_is_not_a_dead_letter_id_as_a_usage_error(
    client: sync_redis.Redis, command: list[str]
) -> None:
    result = runner.invoke(app, ["dlq", *command])
    assert result.exit_code == 2, result.output
    assert "not dead-letter ids" in result.output


@pytest.mark.parametrize("since", ["yesterday", f"1-{2**64}", "-1"])
def test_tail_refuses_a_since_redis_cannot_take(client: sync_redis.Redis, since: str) -> None:
    result = runner.invoke(app, ["tail", "--since", since, "--count", "1"])
    assert result.exit_code == 2, result.output
    assert "--since" in result.output


def test_tail_prints_published_events(client: sync_redis.Redis) -> None:
    for i in range(3):
        fields = encode(event_for(news_item(f"urn:t:tail{i}", headline=f"Headline {i}")))
        client.xadd(stream(PUBLISHED), {**fields, "type": "org.newsfeed.item.published"})
    result = runner.invoke(app, ["tail", "--since", "0", "--count", "2"])
    assert result.exit_code == 0, result.output
    assert "urn:t:tail0" in result.output
    assert "urn:t:tail1" in result.output
    assert "urn:t:tail2" not in result.output
    assert "published" in result.output


def published(client: sync_redis.Redis, uri: str, headline: str, entry_id: str = "*") -> str:
    fields = encode(event_for(news_item(uri, headline=headline)))
    entry = {**fields, "type": "org.newsfeed.item.published"}
    return str(client.xadd(stream(PUBLISHED), entry, id=entry_id))


def test_tail_says_where_it_follows_from_as_soon_as_it_is_connected(
    client: sync_redis.Redis, redis_server: RedisServer
) -> None:
    """A real `newsfeed tail`: before any event arrives it prints the id it follows
    from; the first event after it is printed, none before it."""
    before = published(client, "urn:t:before", "Before the tail")
    tail = subprocess.Popen(
        [str(Path(sys.prefix) / "bin" / "newsfeed"), "tail", "--count", "1"],
        env={**os.environ, "NEWSFEED_REDIS_URL": redis_server.url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert tail.stderr is not None
        first = tail.stderr.readline()  # blocks until it is connected and says so
        assert first.strip() == (
            f"following {PUBLISHED} after {before} (--since {before} resumes here)"
        )
        published(client, "urn:t:after", "After the tail")
        out, _ = tail.communicate(timeout=30)
    finally:
        tail.kill()
    assert tail.returncode == 0
    assert "urn:t:after" in out
    assert "urn:t:before" not in out


def test_tail_since_a_time_starts_at_that_time(client: sync_redis.Redis) -> None:
    at = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)
    ms = int(at.timestamp() * 1000)
    published(client, "urn:t:earlier", "Earlier", f"{ms - 1}-0")
    published(client, "urn:t:on-time", "On time", f"{ms}-0")
    published(client, "urn:t:later", "Later", f"{ms + 60_000}-0")
    result = runner.invoke(app, ["tail", "--since", "2026-12-04T17:00:00Z", "--count", "2"])
    assert result.exit_code == 0, result.output
    assert "urn:t:earlier" not in result.output
    assert "urn:t:on-time" in result.output
    assert "urn:t:later" in result.output


LONG_HEADLINE = (
    "Zelensky meets Cypriot president Nikos Christodoulides in Nicosia to discuss "
    "reconstruction, air defence and the next round of sanctions"
)


def test_tail_lines_are_never_cut_inside_a_word(
    client: sync_redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Piped, a line is whole; on an 80-column terminal the headline is cut between
    words to fit, never wrapped."""
    published(client, "urn:t:long", LONG_HEADLINE)
    piped = runner.invoke(app, ["tail", "--since", "0", "--count", "1"], env={"COLUMNS": "80"})
    assert piped.exit_code == 0, piped.output
    [line] = [line for line in piped.output.splitlines() if "urn:t:long" in line]
    assert line.endswith(LONG_HEADLINE)

    screen = io.StringIO()
    monkeypatch.setattr(tail_module, "console", Console(file=screen, width=80, force_terminal=True))
    assert runner.invoke(app, ["tail", "--since", "0", "--count", "1"]).exit_code == 0
    [line] = screen.getvalue().splitlines()
    assert len(line) <= 80
    shown = line.split("urn:t:long  ", 1)[1]
    assert shown.endswith("…")
    assert LONG_HEADLINE.startswith(shown[:-1])
    assert LONG_HEADLINE[len(shown) - 1] == " "  # the cut is between two words


def test_tail_json_is_one_object_per_line_even_for_an_undecodable_entry(
    client: sync_redis.Redis,
) -> None:
    """Each line names the stream entry (entry_id, what --since takes) beside the
    event's own fields, its CloudEvents id among them; an entry that is no event
    is printed as stored, so a script reading the lines never meets plain text."""
    entry_id = published(client, "urn:t:json", "As JSON")
    broken = str(client.xadd(stream(PUBLISHED), {"subject": "urn:t:broken"}))
    result = runner.invoke(app, ["tail", "--since", "0", "--count", "2", "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [(line["entry_id"], line["subject"]) for line in lines] == [
        (entry_id, "urn:t:json"),
        (broken, "urn:t:broken"),
    ]
    assert lines[0]["id"] != entry_id  # the event's id, not the entry's
    assert "undecodable" not in result.stdout
