"""One way to open Redis, so every service speaks to it alike."""

from __future__ import annotations

from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


class HiredisPackingConnection(aioredis.Connection):  # type: ignore[misc]  # redis is untyped here
    """A TCP connection that packs commands with hiredis's C packer.

    redis-py's asyncio connection packs every argument in Python (its sync
    one can use hiredis); profiles put 10-16% of publication's CPU there,
    where one script call carries a 6 kB document and a few dozen keys.
    Values are checked the same way: str, bytes, int and float only (a None
    or a bool is refused with a TypeError instead of redis-py's DataError)."""

    def pack_command(self, *args: Any) -> list[bytes]:
        # As redis-py does: a command name of several words ("CLIENT SETNAME")
        # goes to Redis as separate arguments.
        name = args[0].encode() if isinstance(args[0], str) else args[0]
        if b" " in name:
            args = (*name.split(), *args[1:])
        return [hiredis.pack_command(args)]


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
        # Only redis:// takes it: for rediss:// and unix:// the URL chooses
        # redis-py's own SSL or socket-file connection, which pack in Python.
        connection_class=HiredisPackingConnection,
    )
