"""Stream names as the services write them: a stage's stream in one partition;
and a blocking client for a test's own look at them, on one node or a cluster."""

from __future__ import annotations

from typing import TypeAlias

import redis
from shared.partitions import Partitions
from shared.redis_client import is_cluster

ONE = Partitions(1)  # the default NEWSFEED_PARTITIONS

SyncClient: TypeAlias = "redis.Redis | redis.RedisCluster"


def stream(name: str, partition: int = 0, partitions: Partitions = ONE) -> str:
    """`name` (INGESTED, ENRICHED, ...) in `partition` of `partitions`."""
    return partitions.key(name, partition)


def sync_client(url: str) -> SyncClient:
    """A blocking client (strings in, strings out) for the Redis or the cluster node at `url`."""
    if is_cluster(url):
        return redis.RedisCluster.from_url(url, decode_responses=True)
    return redis.Redis.from_url(url, decode_responses=True)


def stream_length(client: SyncClient, name: str, partitions: Partitions = ONE) -> int:
    """Entries of stream `name` summed over its partitions."""
    return sum(int(client.xlen(key)) for key in partitions.keys(name))
