"""What the `newsfeed` command prints, at the 80 columns of a plain terminal."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest
import typer
from newsfeed_cli import status as status_module
from newsfeed_cli.common import fit
from newsfeed_cli.main import app
from newsfeed_cli.tail import start_after
from rich.console import Console
from shared.observability.status import GroupStatus, StreamStatus
from typer.core import TyperGroup
from typer.testing import CliRunner

runner = CliRunner()


def every_command() -> list[list[str]]:
    """The argv of each command and group, from the app itself."""
    found: list[list[str]] = []

    # Typer 0.26 vendors Click: its groups are TyperGroups, not click.Groups.
    def walk(command: object, path: list[str]) -> None:
        found.append(path)
        if isinstance(command, TyperGroup):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


@pytest.mark.parametrize("command", every_command(), ids=lambda argv: " ".join(argv) or "newsfeed")
def test_help_shows_flags_as_flags_within_80_columns(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    assert "--help  " in result.output or "--help\n" in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80


@pytest.mark.parametrize(
    ("text", "width", "shown"),
    [
        ("Zelensky arrives in Cyprus", 40, "Zelensky arrives in Cyprus"),
        ("Zelensky arrives in Cyprus", 20, "Zelensky arrives in…"),
        ("Zelensky arrives in Cyprus", 18, "Zelensky arrives…"),
        ("Zelensky arrives in Cyprus", 17, "Zelensky arrives…"),
        ("Zelensky arrives in Cyprus", 16, "Zelensky…"),
        ("Christodoulides", 8, "…"),
    ],
)
def test_fit_cuts_between_words(text: str, width: int, shown: str) -> None:
    assert fit(text, width) == shown
    assert len(fit(text, width)) <= width


NOW = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


@pytest.mark.parametrize(
    ("since", "after"),
    [
        ("$", "$"),
        ("0", "0-0"),
        ("1732480000000-5", "1732480000000-5"),
        ("1732480000000", "1732480000000-0"),
        ("2026-12-04T17:00:00Z", f"{NOW_MS - 1}-{2**64 - 1}"),
        ("2026-12-04T18:00:00+01:00", f"{NOW_MS - 1}-{2**64 - 1}"),
        ("90s", f"{NOW_MS - 90_000 - 1}-{2**64 - 1}"),
        ("15m", f"{NOW_MS - 15 * 60_000 - 1}-{2**64 - 1}"),
        ("2h", f"{NOW_MS - 2 * 3_600_000 - 1}-{2**64 - 1}"),
        ("1d", f"{NOW_MS - 86_400_000 - 1}-{2**64 - 1}"),
    ],
)
def test_since_takes_ids_times_and_how_long_ago(since: str, after: str) -> None:
    """A time means "from that moment on": reads are after an id, so the id is the
    last one possible just before it."""
    assert start_after(since, now=NOW) == after


@pytest.mark.parametrize("since", ["yesterday", "-1", "15 minutes", "1w", f"1-{2**64}"])
def test_since_refuses_anything_else(since: str) -> None:
    with pytest.raises(ValueError, match=re.escape(since)):
        start_after(since, now=NOW)


def streams_named(*names: str) -> list[StreamStatus]:
    group = GroupStatus(
        name="publication",
        consumers=2,
        pending=678,
        lag=12345,
        last_delivered_id="1-0",
        oldest_pending_age_s=4000.0,
    )
    return [StreamStatus(name=name, length=100_000, exists=True, groups=[group]) for name in names]


def printed_status(monkeypatch: pytest.MonkeyPatch, streams: list[StreamStatus]) -> str:
    out = io.StringIO()
    monkeypatch.setattr(status_module, "console", Console(file=out, width=80))
    status_module.show_streams(streams)
    return out.getvalue()


@pytest.mark.parametrize(
    "names",
    [
        ("news.ingested", "news.enriched"),  # one partition: a table
        ("news.enriched:{nf16.15.61}", "news.published:{nf16.15.61}"),  # too wide for one
    ],
)
def test_status_fits_80_columns_with_every_name_and_number_whole(
    monkeypatch: pytest.MonkeyPatch, names: tuple[str, ...]
) -> None:
    text = printed_status(monkeypatch, streams_named(*names))
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80, text
    for name in names:
        assert any(name in line for line in lines), text
    for word in ("publication", "100000", "12345", "678", "67m", "consumers", "pending"):
        assert any(word in re.split(r"[\s,:]+", line) for line in lines), (word, text)
