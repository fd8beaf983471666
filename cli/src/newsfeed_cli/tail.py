"""`newsfeed tail`: follow what is published, as it happens."""

from __future__ import annotations

import contextlib
import json

import redis.asyncio as aioredis
import typer
from shared.events import UndecodableEntry, decode
from shared.streams import PUBLISHED, is_entry_id

from newsfeed_cli.common import console, fail, with_redis
from newsfeed_cli.exit_codes import USAGE


def tail(
    count: int = typer.Option(0, min=0, help="stop after this many events (0: until Ctrl-C)"),
    since: str = typer.Option("$", help="stream id to start after; 0 for the whole stream"),
    as_json: bool = typer.Option(False, "--json", help="one JSON event per line"),
) -> None:
    """Print published, updated, corrected, killed and released events."""
    if since != "$" and not is_entry_id(since) and not is_entry_id(f"{since}-0"):
        fail(f"--since takes $, a stream id like 1732480000000-0, or its time: {since!r}", USAGE)

    async def follow(redis: aioredis.Redis) -> None:
        last, seen = since, 0
        while count == 0 or seen < count:
            reply = await redis.xread({PUBLISHED: last}, count=100, block=1000)
            for _, entries in reply or []:
                for entry_id, fields in entries:
                    last = entry_id
                    seen += 1
                    try:
                        event = decode(fields)
                    except UndecodableEntry as error:
                        console.print(f"{entry_id} [red]undecodable[/]: {error}")
                        continue
                    if as_json:
                        print(json.dumps({"id": entry_id, **fields}), flush=True)
                    else:
                        kind = event.type.value.rsplit(".", 1)[1]
                        console.print(
                            f"{entry_id} [bold]{kind:9}[/] v{event.data.version} "
                            f"{event.subject}  {event.data.headline[:60]}"
                        )
                    if count and seen >= count:
                        return

    with contextlib.suppress(KeyboardInterrupt):
        with_redis(follow)
