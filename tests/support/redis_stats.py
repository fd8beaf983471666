"""What a Redis server was asked: the user-visible side of a cache (a page from
memory costs no read)."""

from __future__ import annotations

import redis.asyncio as aioredis

# The commands a feed page is read with (shared.readmodel): index, documents.
PAGE_READS = ("zrange", "mget", "get")


async def redis_calls(redis: aioredis.Redis, *commands: str) -> int:
    """Calls of `commands` (default: the page reads) the server has answered so far."""
    stats = await redis.info("commandstats")
    names = commands or PAGE_READS
    return sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in names)
