"""Entry point: one Typer app; each command group lives in its own module."""

from __future__ import annotations

import typer

from newsfeed_cli.dlq import dlq
from newsfeed_cli.importer import import_items
from newsfeed_cli.sources import sources
from newsfeed_cli.status import status
from newsfeed_cli.tail import tail

app = typer.Typer(
    name="newsfeed",
    help="Operate a newsfeed: status, dead letters, sources, import, tail.",
    no_args_is_help=True,
    add_completion=False,
    # Click's plain help: Typer's rich panels list every flag as taking a value
    # ("--json <bool>", "--help <bool>") and draw boxes that wrap mid-sentence.
    rich_markup_mode=None,
)


@app.callback()
def main() -> None:
    """Settings come from NEWSFEED_* environment variables, or else from the stack
    `make run` records in .run/stack.json (see README)."""


app.command()(status)
app.command()(tail)
app.add_typer(dlq, name="dlq")
app.command("import")(import_items)
app.add_typer(sources, name="sources")
