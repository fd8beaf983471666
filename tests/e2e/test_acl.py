"""Each service runs as its own Redis ACL user with only what it needs."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis as sync_redis
from shared.acl import USERS, render
from shared.partitions import Partitions
from shared.readmodel import ReadModelKeys
from shared.streams import DEAD_LETTER, ENRICHED, INGESTED, PUBLISHED

from tests.support.services import TOKEN, Pipeline
from tests.support.waiting import poll
from tools.devstack import RedisCluster, RedisServer

PASSWORDS = {user.name: secrets.token_hex(16) for user in USERS}
ADMIN = secrets.token_hex(16)


@pytest.fixture(scope="module")
def acl_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis whose only users are the ones shared.acl renders."""
    workdir = tmp_path_factory.mktemp("acl")
    acl_file = workdir / "users.acl"
    acl_file.write_text(render(PASSWORDS, ADMIN))
    server = RedisServer(
        workdir=workdir / "redis", extra_args=("--aclfile", str(acl_file)), password=ADMIN
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def pipeline(
    acl_redis: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    """The four services, each connecting as its own ACL user."""
    per_service = {
        name: {"NEWSFEED_REDIS_URL": acl_redis.url_for(name, password)}
        for name, password in PASSWORDS.items()
    }
    running = Pipeline(
        acl_redis.url, tmp_path_factory.mktemp("acl-logs"), service_env=per_service
    ).start()
    yield running
    running.stop()


def as_user(server: RedisServer, name: str) -> sync_redis.Redis:
    return sync_redis.Redis.from_url(server.url_for(name, PASSWORDS[name]), decode_responses=True)


def test_the_whole_pipeline_works_under_per_service_users(
    pipeline: Pipeline, acl_redis: RedisServer
) -> None:
    response = pipeline.submit({"uri": "urn:t:acl", "headline": "Runs with least privilege"})
    assert response.status_code == 202
    poll(
        lambda: any(
            item["uri"] == "urn:t:acl"
            for item in httpx.get(f"{pipeline.gateway}/v1/feed").json()["items"]
        ),
        failure="the item never reached the feed under ACLs",
    )
    for name in ("ingest", "enrichment", "publication", "gateway"):
        assert httpx.get(f"{pipeline.services[name].url}/readyz").status_code == 200
        assert httpx.get(f"{pipeline.services[name].url}/metrics").status_code == 200
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.get(f"{pipeline.ingest}/v1/sources", headers=auth).status_code == 200
    assert httpx.get(f"{pipeline.ingest}/v1/deadletters", headers=auth).status_code == 200
    # Nothing any service did so far was refused (the tests below are, on purpose).
    admin = sync_redis.Redis.from_url(acl_redis.url, decode_responses=True)
    denied = [(entry["username"], entry["object"], entry["reason"]) for entry in admin.acl_log()]
    assert denied == []


OWN_STREAM = {"ingest": INGESTED, "enrichment": ENRICHED, "publication": PUBLISHED}
# Keys of other services' state: one each a service must not touch.
OTHERS_KEYS = {
    "ingest": ("SET", "rm:{news.published}:item:x", "{}"),
    "enrichment": ("HSET", "rm:{news.published}:state:x", "version", "9"),
    "publication": ("HSET", "ingest:{news.ingested}:item:x", "version", "9"),
    "gateway": ("SET", "rm:{news.published}:item:x", "{}"),
}


def forbidden(user: str) -> list[tuple[str, ...]]:
    """What a compromised service must not be able to do to the pipeline."""
    commands: list[tuple[str, ...]] = [
        OTHERS_KEYS[user],
        ("DEL", DEAD_LETTER),
        ("XGROUP", "DESTROY", INGESTED, "enrichment"),
        ("XGROUP", "DESTROY", ENRICHED, "publication"),
        ("XGROUP", "SETID", INGESTED, "enrichment", "$"),
        ("XSETID", INGESTED, "99999999999999-0"),
        ("FUNCTION", "FLUSH"),
        ("FUNCTION", "LOAD", "#!lua name=x\nredis.register_function('x', function() end)"),
        ("SCRIPT", "FLUSH"),
        ("FLUSHALL",),
        ("CONFIG", "SET", "appendonly", "no"),
        ("KEYS", "*"),
    ]
    for stream in (INGESTED, ENRICHED, PUBLISHED):
        # Appending and trimming are a service's own stream's; wiping is no one's.
        commands.append(("DEL", stream))
        if stream == OWN_STREAM.get(user):
            continue
        partition = Partitions(4).key(stream, 1)
        commands += [
            ("XADD", stream, "*", "forged", "1"),
            ("XADD", partition, "*", "forged", "1"),
            ("UNLINK", stream),
            ("XTRIM", stream, "MAXLEN", "0"),
            ("XDEL", stream, "1-0"),
        ]
    return commands


CASES = [(user.name, command) for user in USERS for command in forbidden(user.name)]


@pytest.mark.parametrize(
    ("user", "command"), CASES, ids=[f"{u}-{' '.join(c[:2])}" for u, c in CASES]
)
def test_a_service_cannot_do_what_it_does_not_need(
    pipeline: Pipeline, acl_redis: RedisServer, user: str, command: tuple[str, ...]
) -> None:
    with pytest.raises(sync_redis.exceptions.NoPermissionError):
        as_user(acl_redis, user).execute_command(*command)


def test_each_writer_may_append_to_its_own_stream_and_its_partitions(
    acl_redis: RedisServer,
) -> None:
    for user, stream in OWN_STREAM.items():
        partitioned = Partitions(4).key(stream, 2)
        client = as_user(acl_redis, user)
        assert client.xadd(partitioned, {"probe": "1"})
        assert client.xtrim(partitioned, maxlen=0) == 1


def test_the_default_user_is_off(acl_redis: RedisServer) -> None:
    anonymous = sync_redis.Redis(port=acl_redis.port)
    with pytest.raises(sync_redis.exceptions.AuthenticationError):
        anonymous.ping()


def test_the_gateway_can_read_the_read_model(pipeline: Pipeline, acl_redis: RedisServer) -> None:
    gateway = as_user(acl_redis, "gateway")
    assert gateway.xlen(Partitions(1).key("news.published", 0)) >= 1
    assert gateway.get(ReadModelKeys().item("urn:t:acl")) is not None


@pytest.fixture
def cluster_users(redis_cluster: RedisCluster) -> Iterator[RedisCluster]:
    """The tests' cluster, flushed, with shared.acl's service users on every node
    (as docker-compose.cluster.yml's ACL file gives them); removed afterwards."""
    rules = [
        line.split(" ", 2)[1:]
        for line in render(PASSWORDS, ADMIN).splitlines()
        if line.startswith("user ") and line.split(" ")[1] in PASSWORDS
    ]
    redis_cluster.flush()
    for node in redis_cluster.nodes:
        with node.client() as admin:
            for name, rule in rules:
                admin.execute_command("ACL", "SETUSER", name, *rule.split(" "))
            admin.execute_command("ACL", "LOG", "RESET")
    yield redis_cluster
    for node in redis_cluster.nodes:
        with node.client() as admin:
            admin.execute_command("ACL", "DELUSER", *PASSWORDS)


def test_the_whole_pipeline_works_under_per_service_users_on_a_cluster(
    cluster_users: RedisCluster, tmp_path: Path
) -> None:
    """As docker-compose.cluster.yml runs it: each service its own ACL user, each
    pointed at another node, 16 partitions. An item reaches the feed and no node
    refused any command."""
    nodes = cluster_users.nodes
    per_service = {
        name: {
            "NEWSFEED_REDIS_URL": f"redis://{name}:{password}@127.0.0.1:{node.port}/0",
        }
        for (name, password), node in zip(PASSWORDS.items(), nodes, strict=False)
    }
    pipeline = Pipeline(
        cluster_users.url,
        tmp_path / "logs",
        extra_env={"NEWSFEED_PARTITIONS": "16"},
        service_env=per_service,
    ).start()
    try:
        response = pipeline.submit({"uri": "urn:t:acl-cluster", "headline": "Least privilege"})
        assert response.status_code == 202, response.text
        poll(
            lambda: any(
                item["uri"] == "urn:t:acl-cluster"
                for item in httpx.get(f"{pipeline.gateway}/v1/feed").json()["items"]
            ),
            failure="the item never reached the feed under ACLs on the cluster",
        )
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.get(f"{pipeline.ingest}/v1/deadletters", headers=auth).status_code == 200
    finally:
        pipeline.stop()
    denied = []
    for node in nodes:
        with node.client() as admin:
            log = admin.acl_log()
        denied += [(entry["username"], entry["object"], entry["reason"]) for entry in log]
    assert denied == []
