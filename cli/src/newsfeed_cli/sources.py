"""`newsfeed sources list|add|disable|enable|poll`: the feeds ingest polls, via its API."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from newsfeed_cli import exit_codes
from newsfeed_cli.common import call, console

sources = typer.Typer(help="Sources: the feeds ingest polls.", no_args_is_help=True)


def _health(state: dict[str, Any]) -> str:
    failures = int(state.get("consecutive_failures", 0))
    if failures:
        return f"[red]failing ×{failures}[/]: {state.get('last_error', '')[:50]}"
    return str(state.get("last_outcome", "not fetched yet"))


@sources.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List sources and their health; exit 1 if any is failing."""
    body = call(lambda client: client.get("/v1/sources")).json()
    failing = [s for s in body["sources"] if s.get("state", {}).get("consecutive_failures")]
    if as_json:
        console.print_json(json.dumps(body))
    else:
        table = Table(title=f"sources ({body['count']})")
        for column in ("id", "url", "enabled", "last fetch", "next due", "health"):
            table.add_column(column, no_wrap=column == "id")
        for source in body["sources"]:
            state = source.get("state", {})
            table.add_row(
                source["id"],
                source["url"],
                "yes" if source.get("enabled", True) else "no",
                str(state.get("last_fetch_at", "-")),
                str(state.get("next_due_at", "-")),
                _health(state),
            )
        console.print(table)
    raise typer.Exit(exit_codes.PROBLEMS if failing else exit_codes.OK)


@sources.command()
def add(
    source_id: Annotated[str, typer.Argument(help="a short stable id, e.g. kyiv-wire")],
    url: Annotated[str, typer.Argument(help="the feed's http(s) URL")],
    interval: Annotated[int | None, typer.Option(help="poll interval in seconds")] = None,
    language: Annotated[str | None, typer.Option(help="default language, e.g. en")] = None,
) -> None:
    """Register a feed (ingest detects RSS, Atom or JSON Feed)."""
    body: dict[str, Any] = {"id": source_id, "url": url}
    if interval is not None:
        body["poll_interval_seconds"] = interval
    if language is not None:
        body["language"] = language
    created = call(lambda client: client.post("/v1/sources", json=body)).json()
    console.print(f"added {created['id']} ({created['url']})")


def _set_enabled(source_id: str, enabled: bool) -> None:
    call(lambda client: client.patch(f"/v1/sources/{source_id}", json={"enabled": enabled}))
    console.print(f"{'enabled' if enabled else 'disabled'} {source_id}")


@sources.command()
def disable(source_id: str) -> None:
    """Stop polling a source (its state is kept)."""
    _set_enabled(source_id, False)


@sources.command()
def enable(source_id: str) -> None:
    """Poll a disabled source again."""
    _set_enabled(source_id, True)


@sources.command()
def poll(source_id: str) -> None:
    """Make a source due now."""
    call(lambda client: client.post(f"/v1/sources/{source_id}/poll"))
    console.print(f"{source_id} will be polled now")
