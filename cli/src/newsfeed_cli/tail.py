"""`newsfeed tail`: follow what is published, as it happens."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from datetime import datetime, timedelta

import redis.asyncio as aioredis
import typer
from rich.markup import escape
from shared.delivery.groups import recorded_partitions
from shared.events import UndecodableEntry, decode
from shared.redis_client import cluster_mode
from shared.streams import ENTRY_ID_PART_MAX, PUBLISHED, is_entry_id

from newsfeed_cli.common import console, errors, fail, fit, with_redis
from newsfeed_cli.exit_codes import USAGE

AGO = re.compile(r"(\d{1,9})([smhd])")
AGO_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
SINCE_HELP = (
    "where to start: $ (now), 0 (the whole stream), a stream id (1732480000000-0), "
    "a time (2026-12-04T17:00:00Z; without a zone, this machine's) or how long ago "
    "(90s, 15m, 2h, 1d)"
)


def start_after(since: str, now: datetime | None = None) -> str:
    """The stream id to read after, or "$"; ValueError when `since` is none of SINCE_HELP."""
    if since == "$":
        return since
    if is_entry_id(since):
        return since
    if since.isascii() and since.isdigit() and is_entry_id(f"{since}-0"):
        return f"{since}-0"  # a bare millisecond time, as Redis reads it
    ago = AGO.fullmatch(since)
    if ago:
        at = (now or datetime.now().astimezone()) - timedelta(
            **{AGO_UNITS[ago.group(2)]: int(ago.group(1))}
        )
    else:
        try:
            at = datetime.fromisoformat(since)
        except ValueError:
            raise ValueError(since) from None
    ms = round(at.astimezone().timestamp() * 1000)
    # Reads are exclusive: start just before the time, so entries of that very ms come too.
    return f"{ms - 1}-{ENTRY_ID_PART_MAX}" if ms > 0 else "0-0"


def _order(entry_id: str) -> tuple[int, int]:
    ms, seq = entry_id.split("-")
    return int(ms), int(seq)


async def last_entry_id(redis: aioredis.Redis, stream: str) -> str:
    """What "$" stands for now: the newest entry's id ("0-0" for an empty stream)."""
    newest = await redis.xrevrange(stream, count=1)
    return str(newest[0][0]) if newest else "0-0"


def tail(
    count: int = typer.Option(0, min=0, help="stop after this many events (0: until Ctrl-C)"),
    since: str = typer.Option("$", help=SINCE_HELP),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="one JSON object per line: the event's fields and its entry_id (what --since takes)",
    ),
) -> None:
    """Print published, updated, corrected, killed and released events.

    As soon as it is connected it prints (on stderr) the id it follows from: pass it
    to --since to resume exactly there."""
    try:
        start = start_after(since)
    except ValueError:
        fail(f"--since takes {SINCE_HELP}; not {since!r}", USAGE)

    async def follow(redis: aioredis.Redis) -> None:
        # "$" is pinned to a real id once: re-reading "$" after an empty wait would
        # skip whatever arrived between two reads.
        # Every partition of news.published is followed from one id: ids are
        # times, so the same id is the same moment in each partition.
        streams = (await recorded_partitions(redis)).keys(PUBLISHED)
        last = (
            max([await last_entry_id(redis, s) for s in streams], key=_order)
            if start == "$"
            else start
        )
        errors.print(
            f"following {PUBLISHED} after {last} (--since {last} resumes here)", soft_wrap=True
        )
        positions = dict.fromkeys(streams, last)
        reader = PartitionReader(redis, positions)
        seen = 0
        try:
            while count == 0 or seen < count:
                for stream, entries in await reader.read():
                    for entry_id, fields in entries:
                        positions[stream] = entry_id
                        seen += 1
                        show(entry_id, fields, as_json)
                        if count and seen >= count:
                            return
        finally:
            reader.close()

    with contextlib.suppress(KeyboardInterrupt):
        with_redis(follow)


Reply = list[tuple[str, list[tuple[str, dict[str, str]]]]]


class PartitionReader:
    """XREADs of every partition stream after its position in `positions` (which
    the caller moves on). On one Redis, one command for them all. On a cluster a
    command cannot span slots, and each partition has its own: one XREAD per
    partition in flight at once, whichever answers first is returned, the others
    stay blocked for the next call (so none is lost or read twice)."""

    def __init__(self, redis: aioredis.Redis, positions: dict[str, str]) -> None:
        self.redis = redis
        self.positions = positions
        self.reading: dict[str, asyncio.Task[Reply]] = {}

    async def read(self, count: int = 100, block_ms: int = 1000) -> Reply:
        if not cluster_mode(self.redis):
            return list(await self.redis.xread(dict(self.positions), count, block_ms) or [])
        for stream, position in self.positions.items():
            if stream not in self.reading:
                self.reading[stream] = asyncio.create_task(
                    self.redis.xread({stream: position}, count, block_ms)
                )
        await asyncio.wait(self.reading.values(), return_when=asyncio.FIRST_COMPLETED)
        reply: Reply = []
        for stream, task in list(self.reading.items()):
            if task.done():
                del self.reading[stream]
                reply.extend(task.result() or [])
        return reply

    def close(self) -> None:
        for task in self.reading.values():
            task.cancel()


def show(entry_id: str, fields: dict[str, str], as_json: bool) -> None:
    if as_json:
        # The entry as stored, decodable or not: every line stays one JSON object.
        # Not "id": that is the event's own (CloudEvents) id, one of its fields.
        print(json.dumps({"entry_id": entry_id, **fields}), flush=True)
        return
    try:
        event = decode(fields)
    except UndecodableEntry as error:
        console.print(f"{entry_id} [red]undecodable[/]: {escape(str(error))}", soft_wrap=True)
        return
    kind = event.type.value.rsplit(".", 1)[1]
    line = f"{entry_id} {kind:9} v{event.data.version} {event.subject}  "
    # On a terminal the headline fills what is left of the line, cut between words;
    # piped, lines are whole (scripts want --json anyway).
    room = console.width - len(line) if console.is_terminal else None
    headline = event.data.headline if room is None else fit(event.data.headline, room)
    console.print(f"{line}{headline}", soft_wrap=True, markup=False, highlight=False)
