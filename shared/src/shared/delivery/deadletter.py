"""Dead letters: entries that failed too often, kept with their error.

A dead-letter entry on `news.deadletter` is a flat map of strings:
`stream`, `group`, `entry_id` (the original entry), `error`, `deliveries`,
`failed_at` (RFC 3339) and `original` (the original entry's fields as JSON).
Replaying one appends the original fields to its stream again, as a new
entry; effects are idempotent, so a replay of something that did succeed
changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import redis.asyncio as aioredis

from shared.items import utcnow
from shared.streams import DEAD_LETTER

DEAD_LETTER_MAX_LEN = 1_000_000


@dataclass(frozen=True)
class DeadLetter:
    id: str
    stream: str
    group: str
    entry_id: str
    error: str
    deliveries: int
    failed_at: str
    original: dict[str, str]

    @classmethod
    def from_entry(cls, entry_id: str, fields: dict[str, str]) -> DeadLetter:
        return cls(
            id=entry_id,
            stream=fields.get("stream", ""),
            group=fields.get("group", ""),
            entry_id=fields.get("entry_id", ""),
            error=fields.get("error", ""),
            deliveries=int(fields.get("deliveries", "0") or 0),
            failed_at=fields.get("failed_at", ""),
            original=orjson.loads(fields.get("original", "{}")),
        )


def dead_letter_fields(
    *, stream: str, group: str, entry_id: str, error: str, deliveries: int, original: dict[str, str]
) -> dict[str, str]:
    return {
        "stream": stream,
        "group": group,
        "entry_id": entry_id,
        "error": error[:4000],
        "deliveries": str(deliveries),
        "failed_at": utcnow().isoformat().replace("+00:00", "Z"),
        "original": orjson.dumps(original).decode(),
    }


async def list_dead_letters(
    redis: aioredis.Redis, *, start: str = "-", count: int = 100
) -> list[DeadLetter]:
    entries = await redis.xrange(DEAD_LETTER, min=start, max="+", count=count)
    return [DeadLetter.from_entry(entry_id, fields) for entry_id, fields in entries]


async def get_dead_letter(redis: aioredis.Redis, dead_letter_id: str) -> DeadLetter | None:
    entries = await redis.xrange(DEAD_LETTER, min=dead_letter_id, max=dead_letter_id, count=1)
    return DeadLetter.from_entry(*entries[0]) if entries else None


async def replay_dead_letter(redis: aioredis.Redis, dead_letter_id: str) -> str | None:
    """Append the original entry to its stream again and drop the dead letter.

    Returns the new entry id, or None when there is no such dead letter.
    """
    letter = await get_dead_letter(redis, dead_letter_id)
    if letter is None:
        return None
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xadd(letter.stream, letter.original)
        pipe.xdel(DEAD_LETTER, dead_letter_id)
        new_id, _ = await pipe.execute()
    return str(new_id)


async def drop_dead_letter(redis: aioredis.Redis, dead_letter_id: str) -> bool:
    return bool(await redis.xdel(DEAD_LETTER, dead_letter_id))
