"""One way to open Redis, so every service speaks to it alike."""

from __future__ import annotations

import redis.asyncio as aioredis


def connect(url: str, *, client_name: str | None = None) -> aioredis.Redis:
    # Strings in, strings out: stream entries are UTF-8 text by contract.
    return aioredis.Redis.from_url(
        url,
        decode_responses=True,
        client_name=client_name,
        health_check_interval=30,
        socket_connect_timeout=5,
        retry_on_timeout=False,
    )
