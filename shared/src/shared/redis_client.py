"""One way to open Redis, so every service speaks to it alike."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


def connect(url: str, *, client_name: str | None = None) -> aioredis.Redis:
    # Strings in, strings out: stream entries are UTF-8 text by contract.
    # A command that meets a dropped connection (Redis restarted, a stale
    # pooled socket) is retried for about a second and a half. That is safe
    # because every write is idempotent by design: ingest's and publication's
    # scripts compare versions, XACK repeats harmlessly, and a repeated XADD
    # of an event is deduplicated downstream by (uri, version).
    return aioredis.Redis.from_url(
        url,
        decode_responses=True,
        client_name=client_name,
        health_check_interval=30,
        socket_connect_timeout=5,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=5),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )
