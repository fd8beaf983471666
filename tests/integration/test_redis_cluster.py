"""The tests' own Redis Cluster: it serves every slot, and survives a primary's death."""

from __future__ import annotations

from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

from tools.devstack import RedisCluster


async def test_a_write_replicated_before_its_primary_dies_is_read_back_after_the_failover(
    redis_cluster: RedisCluster,
) -> None:
    redis_cluster.flush()
    client = AsyncRedisCluster.from_url(redis_cluster.url, decode_responses=True)
    try:
        keys = [f"item:{{p{n}}}" for n in range(60)]
        assert len({redis_cluster.primary_of_key(key).port for key in keys}) == 3
        for n, key in enumerate(keys):
            await client.set(key, f"v{n}")
        victim = redis_cluster.primary_of_key(keys[0])
        # Replication is asynchronous: WAIT on the victim's slot makes sure its
        # replica has everything before the kill (what NEWSFEED_ACK_REPLICAS does).
        acked = await client.execute_command(
            "WAIT", 1, 5000, target_nodes=client.get_node_from_key(keys[0])
        )
        assert int(acked) >= 1

        redis_cluster.kill(victim)
        promoted = redis_cluster.wait_for_failover(victim)

        assert promoted.port != victim.port
        assert redis_cluster.primary_of_key(keys[0]).port == promoted.port
        assert [await client.get(key) for key in keys] == [f"v{n}" for n in range(60)]

        redis_cluster.restart(victim)
        redis_cluster.wait_healthy()
        assert victim.role() == "slave"
        assert await client.get(keys[0]) == "v0"
    finally:
        await client.aclose()
        redis_cluster.heal()
