"""Dead letters: entries that failed too often, kept with their error.

Each partition has its own dead-letter stream (`news.deadletter` in partition
p, beside the stream the entry came from), so dead-lettering is one script in
one slot: append the letter, XACK the entry, drop its error note.

A dead-letter entry is a flat map of strings: `stream` (the partition stream
the entry came from), `group`, `entry_id` (the original entry), `error`,
`deliveries`, `failed_at` (RFC 3339) and `original` (the original entry's
fields as JSON).

Its id looks like any entry id (`1732480000000-3`) and is unique across the
partitions: the script picks the sequence number `s` with `s mod N = p`, so
the id alone names its partition, and ids sort by time across all of them.
Replaying one appends the original fields to its stream again, as a new
entry; effects are idempotent, so a replay of something that did succeed
changes nothing.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass

import orjson
import redis.asyncio as aioredis

from shared.items import utcnow
from shared.partitions import Partitions
from shared.streams import DEAD_LETTER

DEAD_LETTER_MAX_LEN = 1_000_000

# KEYS: the partition's dead-letter stream, the entry's stream, its error notes.
# ARGV: group, entry id, partition, partition count, max length, letter fields...
DEAD_LETTER_SCRIPT = """
local p = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local seq = p
local ok, info = pcall(redis.call, 'XINFO', 'STREAM', KEYS[1])
if ok then
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      local last_ms, last_seq = string.match(info[i + 1], '(%d+)-(%d+)')
      last_ms = tonumber(last_ms)
      last_seq = tonumber(last_seq)
      if last_ms >= ms then
        ms = last_ms
        seq = last_seq + 1 + ((p - last_seq - 1) % n)
      end
    end
  end
end
local id = string.format('%.0f-%.0f', ms, seq)
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], id, unpack(ARGV, 6))
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2])
return id
"""


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
    def from_entry(cls, entry_id: str, fields: Mapping[str, str]) -> DeadLetter:
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
    *,
    stream: str,
    group: str,
    entry_id: str,
    error: str,
    deliveries: int,
    original: Mapping[str, str | bytes],
) -> dict[str, str]:
    """A dead letter's fields; `original` as JSON text (bytes that are not
    UTF-8 with U+FFFD where they were not)."""
    text = {k: v if isinstance(v, str) else v.decode(errors="replace") for k, v in original.items()}
    return {
        "stream": stream,
        "group": group,
        "entry_id": entry_id,
        "error": error[:4000],
        "deliveries": str(deliveries),
        "failed_at": utcnow().isoformat().replace("+00:00", "Z"),
        "original": orjson.dumps(text).decode(),
    }


def _order(entry_id: str) -> tuple[int, int]:
    ms, seq = entry_id.split("-")
    return int(ms), int(seq)


def partition_of(partitions: Partitions, dead_letter_id: str) -> int:
    """The partition a dead letter lives in: its sequence number modulo N."""
    return _order(dead_letter_id)[1] % partitions.count


async def list_dead_letters(
    redis: aioredis.Redis, partitions: Partitions, *, start: str = "-", count: int = 100
) -> list[DeadLetter]:
    """The oldest `count` dead letters from `start` on, across every partition."""
    per_partition = []
    for stream in partitions.keys(DEAD_LETTER):
        entries = await redis.xrange(stream, min=start, max="+", count=count)
        per_partition.append([DeadLetter.from_entry(i, fields) for i, fields in entries])
    merged = heapq.merge(*per_partition, key=lambda letter: _order(letter.id))
    return [letter for letter, _ in zip(merged, range(count), strict=False)]


async def count_dead_letters(redis: aioredis.Redis, partitions: Partitions) -> int:
    return sum([int(await redis.xlen(stream)) for stream in partitions.keys(DEAD_LETTER)])


async def get_dead_letter(
    redis: aioredis.Redis, partitions: Partitions, dead_letter_id: str
) -> DeadLetter | None:
    stream = partitions.key(DEAD_LETTER, partition_of(partitions, dead_letter_id))
    entries = await redis.xrange(stream, min=dead_letter_id, max=dead_letter_id, count=1)
    return DeadLetter.from_entry(*entries[0]) if entries else None


async def replay_dead_letter(
    redis: aioredis.Redis, partitions: Partitions, dead_letter_id: str
) -> str | None:
    """Append the original entry to its stream again and drop the dead letter,
    in one MULTI (both keys are in the letter's partition).

    Returns the new entry id, or None when there is no such dead letter.
    """
    letter = await get_dead_letter(redis, partitions, dead_letter_id)
    if letter is None:
        return None
    stream = partitions.key(DEAD_LETTER, partition_of(partitions, dead_letter_id))
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xadd(letter.stream, letter.original)
        pipe.xdel(stream, dead_letter_id)
        new_id, _ = await pipe.execute()
    return str(new_id)


async def drop_dead_letter(
    redis: aioredis.Redis, partitions: Partitions, dead_letter_id: str
) -> bool:
    stream = partitions.key(DEAD_LETTER, partition_of(partitions, dead_letter_id))
    return bool(await redis.xdel(stream, dead_letter_id))
