"""The state of the streams and groups, read from Redis: for `newsfeed status`
and for the metrics every service exports."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from shared.streams import DEAD_LETTER, ENRICHED, INGESTED, PUBLISHED

STREAMS = (INGESTED, ENRICHED, PUBLISHED, DEAD_LETTER)


@dataclass(frozen=True)
class GroupStatus:
    name: str
    consumers: int
    pending: int
    lag: int | None  # entries not yet delivered to the group; None when Redis cannot tell
    last_delivered_id: str
    oldest_pending_age_s: float | None


@dataclass(frozen=True)
class StreamStatus:
    name: str
    length: int
    exists: bool
    groups: list[GroupStatus] = field(default_factory=list)


def entry_age_s(entry_id: str, now_ms: float) -> float:
    return max(0.0, (now_ms - int(entry_id.split("-")[0])) / 1000)


async def stream_status(
    redis: aioredis.Redis, streams: tuple[str, ...] = STREAMS
) -> list[StreamStatus]:
    now_ms = time.time() * 1000
    result = []
    for stream in streams:
        if not await redis.exists(stream):
            result.append(StreamStatus(stream, 0, exists=False))
            continue
        groups = []
        try:
            infos = await redis.xinfo_groups(stream)
            last_id = str((await redis.xinfo_stream(stream))["last-generated-id"])
        except ResponseError:
            infos, last_id = [], ""
        for info in infos:
            oldest = None
            if int(info["pending"]):
                summary = await redis.xpending(stream, info["name"])
                oldest = entry_age_s(str(summary["min"]), now_ms)
            lag = info.get("lag")
            if str(info["last-delivered-id"]) == last_id:
                # Delivered the stream's last entry: nothing is waiting. (After an
                # AOF reload Redis 7.0 can report a stale non-zero lag here.)
                lag = 0
            groups.append(
                GroupStatus(
                    name=str(info["name"]),
                    consumers=int(info["consumers"]),
                    pending=int(info["pending"]),
                    lag=int(lag) if lag is not None else None,
                    last_delivered_id=str(info["last-delivered-id"]),
                    oldest_pending_age_s=oldest,
                )
            )
        result.append(StreamStatus(stream, int(await redis.xlen(stream)), True, groups))
    return result
