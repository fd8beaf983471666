"""`newsfeed status`: streams, groups, lag, pending and dead letters at a glance."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer
from rich import box
from rich.measure import Measurement
from rich.table import Table
from shared.observability.status import StreamStatus, stream_status
from shared.streams import DEAD_LETTER, ROUTES

from newsfeed_cli import exit_codes
from newsfeed_cli.common import console, with_redis


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    return f"{seconds / 60:.0f}m" if seconds < 7200 else f"{seconds / 3600:.1f}h"


def problems_in(streams: list[StreamStatus], stuck_after_s: float) -> list[str]:
    """What an operator must look at; empty when all is well."""
    found = []
    by_name = {stream.name: stream for stream in streams}
    for route in ROUTES:
        stream = by_name.get(route.stream)
        if stream is None or not any(g.name == route.group for g in stream.groups):
            found.append(f"group {route.group!r} on {route.stream!r} is missing")
    for stream in streams:
        for group in stream.groups:
            age = group.oldest_pending_age_s
            if age is not None and age > stuck_after_s:
                found.append(f"{stream.name}/{group.name}: an entry pending for {_age(age)}")
            waiting = group.oldest_waiting_age_s
            if waiting is not None and waiting > stuck_after_s:
                found.append(
                    f"{stream.name}/{group.name}: an entry waiting to be read for {_age(waiting)} "
                    "(is its service running? a group nobody reads keeps the stream from "
                    "being trimmed)"
                )
    dead = by_name.get(DEAD_LETTER)
    if dead is not None and dead.length:
        found.append(f"{dead.length} dead letter(s): see `newsfeed dlq list`")
    return found


NATURAL_WIDTH_LIMIT = 10_000
COLUMNS = ("stream", "length", "group", "consumers", "lag", "pending", "oldest pending")


def rows(streams: list[StreamStatus]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for stream in streams:
        if not stream.groups:
            out.append((stream.name, str(stream.length), "-", "-", "-", "-", "-"))
        for group in stream.groups:
            out.append(
                (
                    stream.name,
                    str(stream.length),
                    group.name,
                    str(group.consumers),
                    "?" if group.lag is None else str(group.lag),
                    str(group.pending),
                    _age(group.oldest_pending_age_s),
                )
            )
    return out


def show_streams(streams: list[StreamStatus]) -> None:
    """A table when it fits the terminal with every name whole; else a line per stream
    and per group, wrapped between words. Nothing is cut inside a name or number."""
    table = Table(title="newsfeed streams", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in COLUMNS:
        is_name = column in ("stream", "group")
        # Headers wrap between words only ("oldest pending" over two lines).
        width = max(len(word) for word in column.split())
        table.add_column(
            column, justify="left" if is_name else "right", no_wrap=is_name, min_width=width
        )
    lines = rows(streams)
    for line in lines:
        table.add_row(*line)
    # Measured unbounded: the narrowest it can be with whole names and header words.
    unbounded = console.options.update(max_width=NATURAL_WIDTH_LIMIT)
    if Measurement.get(console, unbounded, table).minimum <= console.width:
        console.print(table)
        return
    console.print("[bold]newsfeed streams[/]")
    previous = None
    for name, length, group, *numbers in lines:
        if name != previous:
            console.print(f"{name}  length {length}", markup=False)
            previous = name
        if group != "-":
            facts = zip(COLUMNS[3:], numbers, strict=True)
            console.print(
                f"  {group}: {', '.join(f'{label} {value}' for label, value in facts)}",
                markup=False,
            )


def status(
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
    stuck_after: float = typer.Option(
        300.0, help="seconds after which a pending entry counts as stuck"
    ),
) -> None:
    """Show every stream and group; exit 1 if something needs attention, 3 if Redis is down."""
    streams = with_redis(stream_status)
    problems = problems_in(streams, stuck_after)
    if as_json:
        console.print_json(
            json.dumps({"streams": [asdict(s) for s in streams], "problems": problems})
        )
    else:
        show_streams(streams)
        for problem in problems:
            console.print(f"[yellow]![/] {problem}")
        if not problems:
            console.print("[green]all streams healthy[/]")
    raise typer.Exit(exit_codes.PROBLEMS if problems else exit_codes.OK)
