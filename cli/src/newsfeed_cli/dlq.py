"""`newsfeed dlq list|show|replay|drop`: look at and re-drive dead letters."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import redis.asyncio as aioredis
import typer
from rich.table import Table
from shared.delivery.deadletter import (
    DeadLetter,
    drop_dead_letter,
    get_dead_letter,
    list_dead_letters,
    replay_dead_letter,
)
from shared.delivery.groups import recorded_partitions
from shared.streams import is_entry_id

from newsfeed_cli import exit_codes
from newsfeed_cli.common import console, fail, with_redis

dlq = typer.Typer(help="Dead letters: entries that failed too often.", no_args_is_help=True)
MAX_LIST = 10_000


@dlq.command("list")
def list_(
    limit: int = typer.Option(50, min=1, max=MAX_LIST),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List dead letters, oldest first."""
    letters = with_redis(lambda redis: _list(redis, limit))
    if as_json:
        console.print_json(json.dumps([asdict(letter) for letter in letters]))
        return
    table = Table(title=f"dead letters ({len(letters)})")
    for column in ("id", "stream", "group", "subject", "deliveries", "failed at", "error"):
        table.add_column(column)
    for letter in letters:
        table.add_row(
            letter.id,
            letter.stream,
            letter.group,
            letter.original.get("subject", "?"),
            str(letter.deliveries),
            letter.failed_at,
            letter.error[:80],
        )
    console.print(table)


@dlq.command()
def show(dead_letter_id: str) -> None:
    """Show one dead letter with its error and original entry."""
    _check_ids([dead_letter_id])
    letter = with_redis(lambda redis: _get(redis, dead_letter_id))
    if letter is None:
        fail(f"no dead letter {dead_letter_id}", exit_codes.PROBLEMS)
    console.print_json(json.dumps(asdict(letter)))


# Each partition has its dead letters; the partition count is the one the data
# was written with, as recorded in Redis.
async def _list(redis: aioredis.Redis, limit: int) -> list[DeadLetter]:
    return await list_dead_letters(redis, await recorded_partitions(redis), count=limit)


async def _get(redis: aioredis.Redis, dead_letter_id: str) -> DeadLetter | None:
    return await get_dead_letter(redis, await recorded_partitions(redis), dead_letter_id)


async def _all_ids(redis: aioredis.Redis) -> list[str]:
    return [letter.id for letter in await _list(redis, MAX_LIST)]


def _chosen(ids: list[str], every: bool) -> list[str]:
    if every and ids:
        fail("give dead-letter ids or --all, not both", exit_codes.USAGE)
    if every:
        return with_redis(_all_ids)
    if not ids:
        fail("give dead-letter ids, or --all", exit_codes.USAGE)
    _check_ids(ids)
    return ids


def _check_ids(ids: list[str]) -> None:
    wrong = [i for i in ids if not is_entry_id(i)]
    if wrong:
        fail(f"not dead-letter ids (they look like 1732480000000-0): {wrong[:5]}", exit_codes.USAGE)


@dlq.command()
def replay(
    ids: Annotated[list[str] | None, typer.Argument(help="dead-letter ids")] = None,
    every: bool = typer.Option(False, "--all", help="replay every dead letter"),
) -> None:
    """Append the original entries to their streams again (after a fix)."""
    chosen = _chosen(ids or [], every)

    async def run(redis: aioredis.Redis) -> list[tuple[str, str | None]]:
        partitions = await recorded_partitions(redis)
        return [(i, await replay_dead_letter(redis, partitions, i)) for i in chosen]

    missing = 0
    for letter_id, new_id in with_redis(run):
        if new_id is None:
            missing += 1
            console.print(f"[yellow]no dead letter {letter_id}[/]")
        else:
            console.print(f"replayed {letter_id} as {new_id}")
    raise typer.Exit(exit_codes.PROBLEMS if missing else exit_codes.OK)


@dlq.command()
def drop(
    ids: Annotated[list[str] | None, typer.Argument(help="dead-letter ids")] = None,
    every: bool = typer.Option(False, "--all", help="drop every dead letter"),
    yes: bool = typer.Option(False, "--yes", help="do not ask"),
) -> None:
    """Delete dead letters for good."""
    chosen = _chosen(ids or [], every)
    if not yes and not typer.confirm(f"drop {len(chosen)} dead letter(s) for good?"):
        raise typer.Exit(exit_codes.PROBLEMS)

    async def run(redis: aioredis.Redis) -> int:
        partitions = await recorded_partitions(redis)
        return sum([await drop_dead_letter(redis, partitions, i) for i in chosen])

    dropped = with_redis(run)
    console.print(f"dropped {dropped} dead letter(s)")
    raise typer.Exit(exit_codes.OK if dropped == len(chosen) else exit_codes.PROBLEMS)
