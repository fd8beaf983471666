"""The state of the streams and groups, read from Redis: for `newsfeed status`
and for the metrics every service exports."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from shared.delivery.groups import recorded_partitions
from shared.partitions import Partitions
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
    # How long the first entry not yet delivered to the group has waited: a
    # group nobody reads (its service stopped, or retired) holds the stream.
    oldest_waiting_age_s: float | None = None


@dataclass(frozen=True)
class StreamStatus:
    name: str
    length: int
    exists: bool
    groups: list[GroupStatus] = field(default_factory=list)


def entry_age_s(entry_id: str, now_ms: float) -> float:
    return max(0.0, (now_ms - int(entry_id.split("-")[0])) / 1000)


async def stream_status(
    redis: aioredis.Redis, streams: tuple[str, ...] = STREAMS, partitions: Partitions | None = None
) -> list[StreamStatus]:
    """Each stream as one, summed over its partitions (the count the data was
    written with, unless given): length, and per group its pending entries and
    lag; consumers are those of the busiest partition, the oldest pending
    entry the oldest in any."""
    partitions = partitions or await recorded_partitions(redis)
    result = []
    for stream in streams:
        parts = [await _one_stream(redis, key) for key in partitions.keys(stream)]
        result.append(_merged(stream, parts))
    return result


def _merged(name: str, parts: list[StreamStatus]) -> StreamStatus:
    present = [part for part in parts if part.exists]
    if not present:
        return StreamStatus(name, 0, exists=False)
    groups: dict[str, list[GroupStatus]] = {}
    for part in present:
        for group in part.groups:
            groups.setdefault(group.name, []).append(group)
    merged = [
        GroupStatus(
            name=group_name,
            consumers=max(g.consumers for g in same),
            pending=sum(g.pending for g in same),
            lag=None if any(g.lag is None for g in same) else sum(g.lag or 0 for g in same),
            last_delivered_id=max(
                (g.last_delivered_id for g in same), key=lambda i: tuple(map(int, i.split("-")))
            ),
            oldest_pending_age_s=max(
                (g.oldest_pending_age_s for g in same if g.oldest_pending_age_s is not None),
                default=None,
            ),
            oldest_waiting_age_s=max(
                (g.oldest_waiting_age_s for g in same if g.oldest_waiting_age_s is not None),
                default=None,
            ),
        )
        for group_name, same in groups.items()
    ]
    return StreamStatus(name, sum(part.length for part in present), True, merged)


async def _one_stream(redis: aioredis.Redis, stream: str) -> StreamStatus:
    now_ms = time.time() * 1000
    if not await redis.exists(stream):
        return StreamStatus(stream, 0, exists=False)
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
            if summary["min"] is not None:  # acknowledged in between
                oldest = entry_age_s(str(summary["min"]), now_ms)
        lag = info.get("lag")
        delivered = str(info["last-delivered-id"])
        waiting = None
        if delivered == last_id:
            # Delivered the stream's last entry: nothing is waiting. (After an
            # AOF reload Redis 7.0 can report a stale non-zero lag here.)
            lag = 0
        else:
            first = await redis.xrange(stream, f"({delivered}", "+", count=1)
            if first:
                waiting = entry_age_s(str(first[0][0]), now_ms)
        groups.append(
            GroupStatus(
                name=str(info["name"]),
                consumers=int(info["consumers"]),
                pending=int(info["pending"]),
                lag=int(lag) if lag is not None else None,
                last_delivered_id=delivered,
                oldest_pending_age_s=oldest,
                oldest_waiting_age_s=waiting,
            )
        )
    return StreamStatus(stream, int(await redis.xlen(stream)), True, groups)
