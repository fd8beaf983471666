"""Entry point: one Typer app; each command group lives in its own module."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="newsfeed",
    help="Operate a newsfeed: status, dead letters, sources, import, tail.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """Settings come from NEWSFEED_* environment variables (see README)."""
