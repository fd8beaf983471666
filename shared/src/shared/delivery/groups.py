"""Consumer groups: created early, at id 0, on every partition, and their loss
made loud; the partition count checked against the one the data was written with."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from shared.partitions import Partitions
from shared.redis_client import UNAVAILABLE
from shared.streams import INGESTED, Route

log = logging.getLogger("newsfeed.delivery")
REDIS_DOWN = (*UNAVAILABLE, OSError)

# The partition count the data in this Redis was written with (set by the first
# service to start). Any slot: it is read once at start.
PARTITIONS_KEY = "newsfeed:partitions"


class GroupLost(RuntimeError):
    """Redis no longer has the stream or group: it restarted empty or was wiped.

    Carrying on would hang or silently re-create an empty group, so the
    service stops with a non-zero exit and says why (docs/delivery.md).
    """


class PartitionsChanged(RuntimeError):
    """NEWSFEED_PARTITIONS differs from the count the data was written with:
    items would move to other partitions and their order and state would split
    (docs/scaling.md says how to migrate)."""


async def until_redis(start: Callable[[], Awaitable[Any]], stopping: asyncio.Event) -> bool:
    """Run `start` until Redis answers, backing off from 0.1 s up to 5 s; False
    if `stopping` is set first. A service whose Redis is not up yet waits,
    unready, instead of exiting (exit 3 means Redis lost the data)."""
    backoff = 0.1
    while not stopping.is_set():
        try:
            await start()
            return True
        except REDIS_DOWN as error:
            log.warning("redis unreachable, retrying in %.1fs: %s", backoff, error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=backoff)
            backoff = min(backoff * 2, 5.0)
    return False


def is_group_lost(error: ResponseError) -> bool:
    # NOGROUP: the group is gone. UNBLOCKED: the stream vanished under a blocked read.
    message = str(error)
    return message.startswith("NOGROUP") or message.startswith("UNBLOCKED")


async def check_partitions(redis: aioredis.Redis, partitions: Partitions) -> None:
    """Record the partition count on first start; refuse a different one later."""
    recorded = await redis.set(PARTITIONS_KEY, partitions.count, nx=True, get=True)
    if recorded is not None and int(recorded) != partitions.count:
        raise PartitionsChanged(
            f"NEWSFEED_PARTITIONS={partitions.count}, but the data in this Redis was written "
            f"with {int(recorded)} partitions; set it back to {int(recorded)}, or migrate "
            "(docs/delivery.md, 'Changing the number of partitions')"
        )
    if idle := primaries_without_partition(redis, partitions):
        log.warning(
            "NEWSFEED_PARTITIONS=%d leaves %d primaries of this Redis Cluster without work: "
            "every stream and feed index lives in the partitions' slots; a cluster wants N at "
            "least its primaries, better a multiple (docs/scaling.md, 'How to size N')",
            partitions.count,
            idle,
        )


def primaries_without_partition(redis: aioredis.Redis, partitions: Partitions) -> int:
    """On a Redis Cluster, how many primaries hold no partition's slot: they take
    none of the streams' or the read model's work (docs/scaling.md, "How to size N").
    Zero on one Redis. Uses the slot map the client has once it has run a command."""
    if not isinstance(redis, RedisCluster):
        return 0
    used = {redis.get_node_from_key(partitions.key(INGESTED, p)).name for p in partitions.indexes}
    return len({node.name for node in redis.get_primaries()} - used)


async def recorded_partitions(redis: aioredis.Redis) -> Partitions:
    """The partitions the data was written with (one if nothing started yet):
    what operators' tools use, so they need no setting of their own."""
    recorded = await redis.get(PARTITIONS_KEY)
    return Partitions(int(recorded) if recorded else 1)


async def ensure_groups(
    redis: aioredis.Redis, routes: Iterable[Route], partitions: Partitions
) -> list[str]:
    """Create each group at id 0 on every partition of its stream (with the
    stream) unless it exists; return the partition streams where one was created.

    At id 0, not `$`: entries written before the consumer first started are
    delivered to it. An existing group keeps its position."""
    await check_partitions(redis, partitions)
    created = []
    for route in routes:
        for stream in partitions.keys(route.stream):
            try:
                await redis.xgroup_create(stream, route.group, id="0", mkstream=True)
            except ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise
            else:
                created.append(stream)
    return created


async def groups_present(
    redis: aioredis.Redis, routes: Iterable[Route], partitions: Partitions
) -> bool:
    for route in routes:
        for stream in partitions.keys(route.stream):
            try:
                groups = await redis.xinfo_groups(stream)
            except ResponseError:
                return False
            if not any(group["name"] == route.group for group in groups):
                return False
    return True
