"""One way to open Redis, so every service speaks to it alike.

`NEWSFEED_REDIS_URL` names one Redis or any node of a Redis Cluster: `connect`
asks the server (INFO cluster) and returns redis-py's `Redis` or `RedisCluster`
with the same options. Nothing else has to be set for a cluster.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Sequence
from typing import Any, TypeAlias

import hiredis
import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.cluster import LoadBalancingStrategy
from redis.exceptions import ClusterDownError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

# Either client: the services call the commands both have (keys of one slot per
# command, scripts, pipelines) and the helpers below where they differ.
Client: TypeAlias = aioredis.Redis | RedisCluster

# What redis-py raises while Redis is unavailable for a moment, to be waited
# out (503 for an HTTP request): down or restarting, or a cluster failing
# over. Its cluster client raises CLUSTERDOWN (and TRYAGAIN while a slot's
# keys move) to the caller after its own retries: seen by concurrent reads
# while a replica took over from a killed primary (7 of 83 errors in 25 s
# of 16 XREADs in a loop); uncaught, it stopped the service.
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, ClusterDownError, TryAgainError)

# How long `connect` tries to reach the server to tell a cluster from one node.
PROBE_SECONDS = 1.0


class HiredisPackingConnection(aioredis.Connection):  # type: ignore[misc]  # redis is untyped here
    """A TCP connection that packs commands with hiredis's C packer.

    redis-py's asyncio connection packs every argument in Python (its sync
    one can use hiredis); profiles put 10-16% of publication's CPU there,
    where one script call carries a 6 kB document and a few dozen keys.
    Values are checked the same way: str, bytes, int and float only (a None
    or a bool is refused with a TypeError instead of redis-py's DataError).

    A long bytes argument (an event's data, a document) is not packed: it goes
    to the socket as it is, between the packed runs of the others. hiredis
    copies every argument into a buffer of its own and then into the result;
    for a settle of 200 events (half a megabyte) that cost the enrichment
    worker 12 us of CPU per item (the no-op transport, 20,000 items, three
    alternated runs: 86-88 -> 74-77.5 us per item)."""

    def pack_command(self, *args: Any) -> list[bytes | memoryview]:
        # As redis-py does: a command name of several words ("CLIENT SETNAME")
        # goes to Redis as separate arguments.
        name = args[0].encode() if isinstance(args[0], str) else args[0]
        if b" " in name:
            args = (*name.split(), *args[1:])
        parts: list[bytes | memoryview] = [b"*%d\r\n" % len(args)]
        packed_from = 0  # the first argument not in `parts` yet
        for position, arg in enumerate(args):
            if type(arg) is bytes and len(arg) >= PASS_THROUGH_BYTES:
                parts += _packed_run(args[packed_from:position])
                parts += (b"$%d\r\n" % len(arg), arg, b"\r\n")
                packed_from = position + 1
        if packed_from == 0:
            return [hiredis.pack_command(args)]
        return parts + _packed_run(args[packed_from:])


# Bytes arguments at least this long are sent as they are (HiredisPackingConnection).
PASS_THROUGH_BYTES = 1024


def _packed_run(args: tuple[Any, ...]) -> list[memoryview]:
    """`args` in the protocol, without the array header (the caller writes one
    for the whole command)."""
    if not args:
        return []
    packed = hiredis.pack_command(args)
    return [memoryview(packed)[packed.index(b"\n") + 1 :]]


def is_cluster(url: str, *, timeout: float = PROBE_SECONDS) -> bool | None:
    """Whether the Redis at `url` runs in cluster mode; None when it cannot be
    reached within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with redis.Redis.from_url(
                url, socket_connect_timeout=timeout, socket_timeout=timeout
            ) as probe:
                return str(probe.info("cluster").get("cluster_enabled", 0)) == "1"
        except (RedisConnectionError, RedisTimeoutError, OSError):
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.1)


def connect(
    url: str,
    *,
    client_name: str | None = None,
    decode_responses: bool = True,
    read_from_replicas: bool = False,
    cluster: bool | None = None,
) -> Client:
    """A client for the Redis or the Redis Cluster at `url` (`cluster`: None asks it).

    A server that cannot be reached at start is taken for a single node (and
    logged): a service whose Redis is down builds, stays unready and connects
    later. On a cluster, start the services once the cluster answers (compose:
    `depends_on: condition: service_healthy`). `read_from_replicas` lets a
    cluster client send reads to replicas (the gateway may; writers never)."""
    if cluster is None:
        cluster = is_cluster(url)
        if cluster is None:
            log.warning("Redis at %s does not answer: taking it for a single node", _safe(url))
            cluster = False
    # Strings in, strings out: stream entries are UTF-8 text by contract.
    # A command that meets a dropped connection (Redis restarted, a stale
    # pooled socket) is retried for about a second and a half. That is safe
    # because every write is idempotent by design: ingest's and publication's
    # scripts compare versions, XACK repeats harmlessly, and a repeated XADD
    # of an event is deduplicated downstream by (uri, version).
    options: dict[str, Any] = {
        "decode_responses": decode_responses,
        "client_name": client_name,
        "health_check_interval": 30,
        "socket_connect_timeout": 5,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=5),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
    }
    if cluster:
        # As the single-node client: no read timeout (blocking XREADGROUPs wait
        # up to their BLOCK). A killed node closes its sockets, which is seen at once.
        return RedisCluster.from_url(
            url,
            socket_timeout=None,
            load_balancing_strategy=LoadBalancingStrategy.ROUND_ROBIN
            if read_from_replicas
            else None,
            **options,
        )
    # Only redis:// takes it: for rediss:// and unix:// the URL chooses
    # redis-py's own SSL or socket-file connection, which pack in Python.
    return aioredis.Redis.from_url(url, connection_class=HiredisPackingConnection, **options)


def cluster_mode(client: Client) -> bool:
    return isinstance(client, RedisCluster)


def with_bytes_replies(client: Client) -> Client:
    """A client to the same server(s) with the same settings whose replies are
    bytes; it owns its connections (close it as well)."""
    if isinstance(client, RedisCluster):
        accepted = inspect.signature(RedisCluster.__init__).parameters
        kwargs = {
            name: value
            for name, value in client.get_connection_kwargs().items()
            if name in accepted and name not in ("host", "port")
        }
        if client.get_connection_kwargs().get("connection_class") is aioredis.SSLConnection:
            kwargs["ssl"] = True
        node = known_node(client)
        return RedisCluster(
            host=node.host,
            port=node.port,
            load_balancing_strategy=client.load_balancing_strategy,
            retry=client.retry,
            **{**kwargs, "decode_responses": False},
        )
    pool = client.connection_pool
    kwargs = {**pool.connection_kwargs, "decode_responses": False}
    return aioredis.Redis.from_pool(
        aioredis.ConnectionPool(connection_class=pool.connection_class, **kwargs)
    )


def known_node(client: RedisCluster) -> ClusterNode:
    """A node of the cluster to build another client from: its default node, or,
    before the client's first command (it has no default node yet), a startup node."""
    node = client.get_default_node()
    if node is None:
        node = next(iter(client.nodes_manager.startup_nodes.values()))
    return node


async def get_many(client: Client, keys: Sequence[str]) -> list[Any]:
    """MGET, in order, of keys that may live in different slots: one MGET on a
    single node; on a cluster redis-py splits it by slot (one MGET per slot)."""
    if not keys:
        return []
    if isinstance(client, RedisCluster):
        return list(await client.mget_nonatomic(list(keys)))
    return list(await client.mget(list(keys)))


def _safe(url: str) -> str:
    """The URL without its password, for logs."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    return f"{scheme}{sep}***@{rest.rsplit('@', 1)[1]}"
