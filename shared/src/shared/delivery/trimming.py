"""Trimming that never drops an entry some group still needs.

Redis 7.0 trims pending entries without a word (MAXLEN/XTRIM have no ACKED
option before 8.2), so a stream read by groups is trimmed with MINID at the
lowest id any group still needs: its oldest pending entry, or the first entry
after what it was last delivered. A group far behind therefore holds the
stream above its cap; that lag is visible in `newsfeed status` rather than
being lost.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis
from redis.exceptions import ResponseError


def _next_id(entry_id: str) -> str:
    ms, seq = entry_id.split("-")
    return f"{ms}-{int(seq) + 1}"


def _lower(a: str, b: str) -> str:
    return a if tuple(map(int, a.split("-"))) <= tuple(map(int, b.split("-"))) else b


async def safe_floor(redis: aioredis.Redis, stream: str) -> str | None:
    """The lowest entry id some group still needs, or None if no group reads the stream."""
    try:
        groups = await redis.xinfo_groups(stream)
    except ResponseError:
        return None
    floor: str | None = None
    for group in groups:
        needed = _next_id(str(group["last-delivered-id"]))
        if group["pending"]:
            # Its last pending entry may be acknowledged between the two calls:
            # then XPENDING has no minimum, and what it was delivered is the floor.
            oldest = (await redis.xpending(stream, group["name"]))["min"]
            if oldest is not None:
                needed = str(oldest)
        floor = needed if floor is None else _lower(floor, needed)
    return floor


async def trim_stream(redis: aioredis.Redis, stream: str, max_len: int) -> int:
    """Trim `stream` towards `max_len` entries without losing what groups need."""
    if await redis.xlen(stream) <= max_len:
        return 0
    floor = await safe_floor(redis, stream)
    if floor is None:
        return int(await redis.xtrim(stream, maxlen=max_len, approximate=True))
    return int(await redis.xtrim(stream, minid=floor, approximate=True))


class Trimmer:
    """Calls trim_stream at most once per interval, from a producer's write path."""

    def __init__(self, redis: aioredis.Redis, max_len: int, interval_s: float = 5.0) -> None:
        self._redis = redis
        self._max_len = max_len
        self._interval = interval_s
        self._last: dict[str, float] = {}

    async def maybe_trim(self, stream: str) -> int:
        now = time.monotonic()
        if now - self._last.get(stream, 0.0) < self._interval:
            return 0
        self._last[stream] = now
        return await trim_stream(self._redis, stream, self._max_len)
