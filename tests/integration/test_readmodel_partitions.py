"""The read model split into 16 partitions, on one redis-server and on a Redis
Cluster: one feed however the items are spread, stable Show More, kills,
embargo release and retention across partitions, reads after a failover."""

from __future__ import annotations

from datetime import timedelta

import httpx
import orjson
import pytest
from gateway.app import Settings as GatewaySettings
from gateway.app import build
from publication.handler import make_handler
from publication.scheduler import apply_retention, release_due
from redis.crc import key_slot
from shared.acl import USERS, render
from shared.events import decode
from shared.items import Entity, NewsItem, PubStatus, utcnow
from shared.partitions import Partitions
from shared.readmodel import (
    Facet,
    ReadModelKeys,
    ReadModelReader,
    ReadModelWriter,
    feed_member,
    index_key,
)
from shared.readmodel.migrate import drop_old, migrate
from shared.redis_client import Client, connect, with_bytes_replies
from shared.streams import PUBLISHED

from tests.support.builders import event_for, news_item
from tools.devstack import RedisCluster

PARTITIONS = Partitions(16)
KEYS = ReadModelKeys(PARTITIONS)


def stream_of(partition: int) -> str:
    """news.published in the partition's slot, as the script needs on a cluster."""
    return PARTITIONS.key(PUBLISHED, partition)


def writer_on(redis: Client) -> ReadModelWriter:
    return ReadModelWriter(redis, keys=KEYS)


def item(n: int, *, tags: tuple[str, ...] = ()) -> NewsItem:
    return news_item(f"urn:t:p{n:03d}", minute=n).model_copy(
        update={"subjects": tuple(Entity(name=tag) for tag in tags)}
    )


async def all_pages(
    reader: ReadModelReader, limit: int, facet: tuple[Facet, str] | None = None
) -> list[list[str]]:
    """The uris of each page, following Show More to the end."""
    pages, cursor = [], None
    while True:
        page = await reader.page(limit, cursor, facet)
        pages.append([found.uri for found in page.items])
        cursor = page.next_cursor
        if cursor is None:
            return pages


async def whole_feed(
    reader: ReadModelReader, limit: int, facet: tuple[Facet, str] | None = None
) -> list[str]:
    return [uri for page in await all_pages(reader, limit, facet) for uri in page]


async def test_the_partitions_merge_into_one_feed_newest_first(any_redis: Client) -> None:
    items = [item(n, tags=("odd",) if n % 2 else ()) for n in range(60)]
    await make_handler(writer_on(any_redis))([event_for(i) for i in items])
    assert len({KEYS.partition(i.uri) for i in items}) >= 12  # spread, not one slot

    reader = ReadModelReader(any_redis, KEYS)
    pages = await all_pages(reader, 7)

    assert [len(page) for page in pages] == [7] * 8 + [4]
    assert [uri for page in pages for uri in page] == [i.uri for i in reversed(items)]
    odd = await whole_feed(reader, 5, (Facet.tag, "odd"))
    assert odd == [i.uri for i in reversed(items) if int(i.uri[-3:]) % 2]


async def test_show_more_neither_repeats_nor_skips_while_items_arrive(any_redis: Client) -> None:
    publish = make_handler(writer_on(any_redis))
    await publish([event_for(item(n)) for n in range(40)])
    reader = ReadModelReader(any_redis, KEYS)
    first = await reader.page(10)

    await publish([event_for(item(n)) for n in range(100, 130)])  # newer, in every partition
    rest = []
    cursor = first.next_cursor
    while cursor:
        page = await reader.page(10, cursor)
        rest += [found.uri for found in page.items]
        cursor = page.next_cursor

    shown = [found.uri for found in first.items] + rest
    assert shown == [item(n).uri for n in reversed(range(40))]


async def test_each_write_stays_in_its_items_slot_and_emits_in_its_partition(
    any_redis: Client,
) -> None:
    items = [item(n, tags=("Kyiv",)) for n in range(30)]
    await make_handler(writer_on(any_redis))([event_for(i) for i in items])

    for found in items:
        partition = KEYS.partition(found.uri)
        slot = PARTITIONS.slot(partition)
        keys = [
            KEYS.state(found.uri),
            KEYS.item(found.uri),
            KEYS.feed(index_key(Facet.tag, "kyiv"), partition),
        ]
        assert {key_slot(key.encode()) for key in keys} == {slot}
        assert await any_redis.exists(*keys) == 3
    events = {}
    for partition in PARTITIONS.indexes:
        for _, fields in await any_redis.xrange(stream_of(partition)):
            event = decode(fields)
            assert KEYS.partition(event.subject) == partition
            events[event.subject] = event
    assert set(events) == {i.uri for i in items}


async def test_a_kill_and_an_update_change_only_their_item(any_redis: Client) -> None:
    publish = make_handler(writer_on(any_redis))
    await publish([event_for(item(n)) for n in range(20)])
    killed = item(7).model_copy(update={"version": 2, "pubstatus": PubStatus.canceled})
    updated = item(8).model_copy(update={"version": 2, "headline": "Revised"})
    await publish([event_for(killed), event_for(updated)])

    reader = ReadModelReader(any_redis, KEYS)
    shown = await whole_feed(reader, 6)
    assert shown == [item(n).uri for n in reversed(range(20)) if n != 7]
    assert (await reader.item(killed.uri)).killed
    found = await reader.versions(updated.uri)
    assert found.current is not None
    assert found.current.headline == "Revised"
    assert [v.version for v in found.previous] == [1]


async def test_embargoes_are_released_from_every_partition_once(any_redis: Client) -> None:
    writer = writer_on(any_redis)
    publish = make_handler(writer)
    # Far enough ahead that publishing 24 items on a loaded machine's cluster
    # ends before it (300 ms did not always: the items were then not embargoed).
    soon = utcnow() + timedelta(seconds=2)
    held = [item(n).model_copy(update={"embargoed": soon}) for n in range(24)]
    await publish([event_for(i) for i in held])
    assert utcnow() < soon, "publishing took longer than the embargo: the test proves nothing"
    reader = ReadModelReader(any_redis, KEYS)
    assert (await reader.page(50)).items == []

    released = 0
    while released < len(held):
        assert utcnow() < soon + timedelta(seconds=10), "embargoes not released"
        released += await release_due(writer)
    assert await release_due(writer) == 0
    shown = await whole_feed(reader, 10)
    assert shown == [i.uri for i in reversed(held)]


async def test_retention_keeps_the_newest_items_over_all_partitions(any_redis: Client) -> None:
    writer = writer_on(any_redis)
    await make_handler(writer)([event_for(item(n, tags=("t",))) for n in range(50)])

    assert await apply_retention(writer, max_items=12, max_age_days=0) == 38

    reader = ReadModelReader(any_redis, KEYS)
    kept = [item(n).uri for n in reversed(range(38, 50))]
    assert await whole_feed(reader, 5) == kept
    assert await whole_feed(reader, 5, (Facet.tag, "t")) == kept
    assert (await reader.item(item(0).uri)).item is None


@pytest.mark.timeout(120)
async def test_pages_read_after_a_primary_fails_over(redis_cluster: RedisCluster) -> None:
    redis_cluster.flush()
    client = connect(redis_cluster.url)
    try:
        items = [item(n) for n in range(48)]
        await make_handler(writer_on(client))([event_for(i) for i in items])
        victim = redis_cluster.primary_of_slot(PARTITIONS.slot(0))
        for primary in redis_cluster.current_primaries():  # replicas have it all
            with primary.client() as admin:
                assert int(admin.execute_command("WAIT", 1, 5000)) >= 1

        redis_cluster.kill(victim)
        redis_cluster.wait_for_failover(victim)

        reader = ReadModelReader(client, KEYS)
        assert await whole_feed(reader, 9) == [i.uri for i in reversed(items)]
    finally:
        await client.aclose()
        redis_cluster.heal()


async def test_pages_as_stored_documents_are_the_readers_pages(any_redis: Client) -> None:
    """The reader's fast path (documents as bytes) merges the partitions alike."""
    await make_handler(writer_on(any_redis))([event_for(item(n)) for n in range(25)])
    reader = ReadModelReader(any_redis, KEYS)
    raw_client = with_bytes_replies(any_redis)
    try:
        cursor = None
        while True:
            raw = await ReadModelReader(raw_client, KEYS).documents(6, cursor)
            page = await reader.page(6, cursor)
            assert [orjson.loads(doc)["uri"] for doc in raw.docs] == [i.uri for i in page.items]
            assert raw.next_cursor == page.next_cursor
            cursor = page.next_cursor
            if cursor is None:
                break
    finally:
        await raw_client.aclose()


# -- from the single-slot layout -------------------------------------------------------

OLD = "rm:{news.published}:"


async def write_old_layout(redis: Client, stored: NewsItem, status: str, **extra: str) -> str:
    """What the read model before partitions held for an item; its feed member."""
    member = feed_member(stored.firstcreated, stored.uri)
    await redis.hset(
        f"{OLD}state:{stored.uri}",
        mapping={"version": stored.version, "status": status, "member": member, "traceid": "a" * 32}
        | extra,
    )
    await redis.set(f"{OLD}item:{stored.uri}", stored.model_dump_json(exclude_none=True))
    if status == "usable":
        for name in ("feed:all", "feed:tag:kyiv"):
            await redis.zadd(OLD + name, {member: 0})
    return member


async def test_a_single_node_read_model_moves_onto_a_cluster(
    redis: Client, cluster_redis: Client
) -> None:
    shown = [item(n, tags=("Kyiv",)) for n in range(12)]
    for found in shown:
        await write_old_layout(redis, found, "usable", indexes='["feed:all", "feed:tag:kyiv"]')
    await redis.lpush(
        f"{OLD}versions:{shown[0].uri}",
        item(0).model_copy(update={"headline": "Earlier"}).model_dump_json(),
    )
    killed = item(20).model_copy(update={"pubstatus": PubStatus.canceled})
    await write_old_layout(redis, killed, "canceled")
    await redis.pexpire(f"{OLD}item:{killed.uri}", 600_000)
    held = item(21).model_copy(update={"embargoed": utcnow() - timedelta(seconds=1)})
    await write_old_layout(redis, held, "embargoed")
    await redis.zadd(f"{OLD}embargo", {held.uri: 1})

    assert await migrate(redis, cluster_redis, KEYS) == 14
    assert await migrate(redis, cluster_redis, KEYS) == 14  # again: the same result

    reader = ReadModelReader(cluster_redis, KEYS)
    expected = [found.uri for found in reversed(shown)]
    assert await whole_feed(reader, 5) == expected
    assert await whole_feed(reader, 5, (Facet.tag, "kyiv")) == expected
    assert (await reader.item(killed.uri)).killed
    assert 0 < await cluster_redis.pttl(KEYS.item(killed.uri)) <= 600_000
    assert len((await reader.versions(shown[0].uri)).previous) == 1
    assert await cluster_redis.hget(KEYS.state(shown[0].uri), "indexes") is None
    assert await release_due(writer_on(cluster_redis)) == 1
    assert (await reader.page(1)).items[0].uri == held.uri

    assert await drop_old(redis) > 0
    assert await redis.keys(OLD + "*") == []


# -- under the services' ACL users -----------------------------------------------------


async def test_publication_and_gateway_users_work_on_a_cluster(redis_cluster: RedisCluster) -> None:
    """The ACL users of shared.acl (set on every node as the file would) can find
    the cluster's nodes, write the read model and read it back."""
    passwords = {user.name: f"pw-{user.name}-0123456789" for user in USERS}
    lines = [
        line.split(" ", 2)
        for line in render(passwords, "admin-0123456789").splitlines()
        if line.startswith("user ") and line.split(" ")[1] in ("publication", "gateway")
    ]
    for node in redis_cluster.nodes:
        with node.client() as admin:
            for _, name, rules in lines:
                admin.execute_command("ACL", "SETUSER", name, *rules.split(" "))
    node = redis_cluster.nodes[0]

    def url(name: str) -> str:
        return f"redis://{name}:{passwords[name]}@127.0.0.1:{node.port}/0"

    redis_cluster.flush()
    publication, gateway = connect(url("publication")), connect(url("gateway"))
    try:
        items = [item(n) for n in range(20)]
        await make_handler(writer_on(publication))([event_for(i) for i in items])
        reader = ReadModelReader(gateway, KEYS)
        assert await whole_feed(reader, 6) == [i.uri for i in reversed(items)]
    finally:
        await publication.aclose()
        await gateway.aclose()
        for node in redis_cluster.nodes:
            with node.client() as admin:
                admin.execute_command("ACL", "DELUSER", "publication", "gateway")


# -- the gateway on a cluster ------------------------------------------------------------


async def test_the_gateway_pages_a_partitioned_feed_on_a_cluster(
    redis_cluster: RedisCluster,
) -> None:
    """The gateway pointed at one node of the cluster (NEWSFEED_PARTITIONS=16):
    the API's pages (byte fast path), the HTML page and an item."""
    redis_cluster.flush()
    client = connect(redis_cluster.url)
    items = [item(n, tags=("Kyiv",)) for n in range(30)]
    await make_handler(writer_on(client))([event_for(i) for i in items])
    await client.aclose()
    app = build(
        GatewaySettings(redis_url=redis_cluster.nodes[-1].url, partitions=16, tail_block_ms=50),
        streams=[stream_of(p) for p in PARTITIONS.indexes],
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as http:
            shown, cursor = [], None
            while True:
                params = {"limit": "7", **({"cursor": cursor} if cursor else {})}
                page = (await http.get("/v1/feed", params=params)).json()
                shown += [found["uri"] for found in page["items"]]
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            assert shown == [i.uri for i in reversed(items)]
            tagged = (await http.get("/v1/feed", params={"tag": "kyiv", "limit": "100"})).json()
            assert len(tagged["items"]) == 30
            assert (await http.get(f"/v1/items/{items[3].uri}")).json()["uri"] == items[3].uri
            html = await http.get("/")
            assert html.status_code == 200
            assert items[-1].headline in html.text
