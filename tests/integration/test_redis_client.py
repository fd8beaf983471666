"""`connect` tells a cluster from one node by asking it, and both clients serve alike."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from shared.redis_client import connect, get_many, with_bytes_replies

from tools.devstack import RedisCluster, RedisServer


async def test_any_node_of_a_cluster_gives_a_cluster_client(redis_cluster: RedisCluster) -> None:
    redis_cluster.flush()
    for node in redis_cluster.nodes:
        client = connect(node.url, client_name="probe")
        try:
            assert isinstance(client, AsyncRedisCluster)
            keys = [f"k:{{{n}}}" for n in range(30)]
            for n, key in enumerate(keys):
                await client.set(key, f"v{n}")
            assert await get_many(client, [*keys, "k:{absent}"]) == [
                *(f"v{n}" for n in range(30)),
                None,
            ]
            raw = with_bytes_replies(client)
            try:
                assert await get_many(raw, keys[:2]) == [b"v0", b"v1"]
            finally:
                await raw.aclose()
        finally:
            await client.aclose()


async def test_a_single_node_gives_the_plain_client(redis_server: RedisServer) -> None:
    client = connect(redis_server.url)
    try:
        assert isinstance(client, aioredis.Redis)
        await client.set("a", "1")
        assert await get_many(client, ["a", "b"]) == ["1", None]
        raw = with_bytes_replies(client)
        assert await raw.get("a") == b"1"
        await raw.aclose()
    finally:
        await client.aclose()


@pytest.mark.parametrize("url", ["redis://127.0.0.1:1/0"])
def test_a_server_that_does_not_answer_is_taken_for_one_node(url: str) -> None:
    assert isinstance(connect(url), aioredis.Redis)


async def test_reads_may_go_to_replicas(redis_cluster: RedisCluster) -> None:
    """With read_from_replicas (the gateway's NEWSFEED_READ_FROM_REPLICAS) reads
    reach the replicas; writes still go to the primaries."""
    redis_cluster.flush()
    writer = connect(redis_cluster.url)
    reader = connect(redis_cluster.url, read_from_replicas=True)
    try:
        keys = [f"r:{{{n}}}" for n in range(12)]
        for key in keys:
            await writer.set(key, "v")
        for primary in redis_cluster.current_primaries():
            with primary.client() as admin:
                assert int(admin.execute_command("WAIT", 1, 5000)) >= 1
        replicas = [n for n in redis_cluster.nodes if n.alive and n.role() == "slave"]

        def replica_gets() -> int:
            calls = 0
            for node in replicas:
                with node.client() as admin:
                    calls += int(admin.info("commandstats").get("cmdstat_get", {}).get("calls", 0))
            return calls

        before = replica_gets()
        for _ in range(4):
            assert await get_many(reader, keys) == ["v"] * len(keys)
            assert [await reader.get(key) for key in keys] == ["v"] * len(keys)
        assert replica_gets() > before
    finally:
        await writer.aclose()
        await reader.aclose()
