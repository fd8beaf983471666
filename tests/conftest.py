"""Fixtures shared by every tier."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from shared.redis_client import Client, connect

from tools.devstack import RedisCluster, RedisServer

# Fixtures that live with their helpers in tests/support.
pytest_plugins = ["tests.support.gateway_env"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--chaos-items",
        type=int,
        default=600,
        help="items per fault scenario (make chaos runs 10000; make test a short form)",
    )


@pytest.fixture
def chaos_items(request: pytest.FixtureRequest) -> int:
    """How many items each fault scenario submits."""
    return int(request.config.getoption("--chaos-items"))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of the tests' own, shared by a session; each test gets a clean db."""
    server = RedisServer(workdir=tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """A client on the tests' own server, flushed before each test (never the machine's)."""
    client = connect(redis_server.url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server for one test alone: for tests that kill or restart it."""
    server = RedisServer(workdir=tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A Redis Cluster of the tests' own (3 primaries, 3 replicas), shared by a
    session. A test that kills nodes calls `heal()` at its end; tests that need
    it empty call `flush()`."""
    cluster = RedisCluster(workdir=tmp_path_factory.mktemp("cluster")).start()
    yield cluster
    cluster.stop()


@pytest.fixture
async def cluster_redis(redis_cluster: RedisCluster) -> AsyncIterator[Client]:
    """A cluster client (shared.redis_client.connect) on the tests' own cluster,
    flushed before each test."""
    redis_cluster.flush()
    client = connect(redis_cluster.url)
    yield client
    await client.aclose()


@pytest.fixture(params=["one node", "cluster"])
async def any_redis(request: pytest.FixtureRequest) -> AsyncIterator[Client]:
    """The test runs twice: on the tests' single redis-server, then on their
    cluster (each flushed first), with the client `connect` gives for each."""
    if request.param == "one node":
        url = request.getfixturevalue("redis_server").url
    else:
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        cluster.flush()
        url = cluster.url
    client = connect(url)
    if request.param == "one node":
        await client.flushdb()
    yield client
    await client.aclose()
