"""Consumer groups: created early, at id 0, and their loss made loud."""

from __future__ import annotations

from collections.abc import Iterable

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from shared.streams import Route


class GroupLost(RuntimeError):
    """Redis no longer has the stream or group: it restarted empty or was wiped.

    Carrying on would hang or silently re-create an empty group, so the
    service stops with a non-zero exit and says why (docs/delivery.md).
    """


def is_group_lost(error: ResponseError) -> bool:
    # NOGROUP: the group is gone. UNBLOCKED: the stream vanished under a blocked read.
    message = str(error)
    return message.startswith("NOGROUP") or message.startswith("UNBLOCKED")


async def ensure_groups(redis: aioredis.Redis, routes: Iterable[Route]) -> list[Route]:
    """Create each group at id 0 (with its stream) unless it exists; return the new ones.

    At id 0, not `$`: entries written before the consumer first started are
    delivered to it. An existing group keeps its position.
    """
    created = []
    for route in routes:
        try:
            await redis.xgroup_create(route.stream, route.group, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        else:
            created.append(route)
    return created


async def groups_present(redis: aioredis.Redis, routes: Iterable[Route]) -> bool:
    for route in routes:
        try:
            groups = await redis.xinfo_groups(route.stream)
        except ResponseError:
            return False
        if not any(group["name"] == route.group for group in groups):
            return False
    return True
