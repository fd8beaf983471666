"""Publication against a real redis-server: every lifecycle path, as readers see it."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from publication.handler import make_handler
from publication.scheduler import apply_retention, release_due
from shared.delivery import Handler, ensure_groups
from shared.events import decode, encode
from shared.items import Entity, NewsItem, PubStatus, utcnow
from shared.readmodel import (
    FEED_ALL,
    Facet,
    ReadModelKeys,
    ReadModelReader,
    ReadModelWriter,
    feed_member,
)
from shared.streams import ENRICHED, PUBLISHED, ROUTES

from tests.support.builders import event_for, news_item
from tests.support.streams import ONE, stream
from tests.support.waiting import poll
from tools.devstack import RedisServer, ServiceProcess, free_port

# The one feed:all set of a single partition (what ReadModelWriter(redis) writes).
ALL_ITEMS = ReadModelKeys().feed(FEED_ALL, 0)


def publisher(redis: aioredis.Redis, **options: Any) -> Handler:
    return make_handler(ReadModelWriter(redis, **options))


async def published_types(redis: aioredis.Redis, uri: str) -> list[str]:
    return [
        fields["type"].rsplit(".", 1)[1]
        for _, fields in await redis.xrange(stream(PUBLISHED))
        if fields["subject"] == uri
    ]


async def feed_uris(redis: aioredis.Redis, facet: tuple[Facet, str] | None = None) -> list[str]:
    page = await ReadModelReader(redis).page(100, facet=facet)
    return [item.uri for item in page.items]


async def test_publish_update_correct_kill_as_a_reader_sees_them(redis: aioredis.Redis) -> None:
    """Each step is visible through the reader and announced on news.published."""
    publish = publisher(redis)
    reader = ReadModelReader(redis)
    uri = "urn:t:story"
    await publish([event_for(news_item(uri))])
    assert await feed_uris(redis) == [uri]

    await publish([event_for(news_item(uri, version=2, body_html="<p>New detail.</p>"))])
    current = (await reader.item(uri)).item
    assert current is not None
    assert current.version == 2
    assert current.updated == news_item(uri, version=2).versioncreated

    note = "An earlier version gave the wrong date."
    await publish([event_for(news_item(uri, version=3, ednote=note))])
    corrected = (await reader.item(uri)).item
    assert corrected is not None
    assert [c.note for c in corrected.corrections] == [note]

    kill = news_item(uri, version=4, pubstatus=PubStatus.canceled, ednote="Sourcing failed.")
    await publish([event_for(kill)])
    assert await feed_uris(redis) == []
    gone = await reader.item(uri)
    assert gone.killed
    assert gone.item is not None
    assert gone.item.ednote == "Sourcing failed."
    assert await published_types(redis, uri) == ["published", "updated", "corrected", "killed"]


async def test_out_of_order_versions_never_replace_a_newer_one(redis: aioredis.Redis) -> None:
    """Version 3 arriving before version 2 stays; a stale version after a kill
    does not bring the item back."""
    publish = publisher(redis)
    uri = "urn:t:ooo"
    await publish([event_for(news_item(uri, version=3, headline="Third"))])
    await publish([event_for(news_item(uri, version=2, headline="Second"))])
    item = (await ReadModelReader(redis).item(uri)).item
    assert item is not None
    assert item.headline == "Third"

    await publish([event_for(news_item(uri, version=5, pubstatus=PubStatus.canceled))])
    await publish([event_for(news_item(uri, version=4, headline="Fourth"))])
    assert (await ReadModelReader(redis).item(uri)).killed
    assert await feed_uris(redis) == []
    assert await published_types(redis, uri) == ["published", "killed"]


async def test_a_duplicate_delivery_has_one_effect(redis: aioredis.Redis) -> None:
    publish = publisher(redis)
    event = event_for(news_item("urn:t:dup"))
    await publish([event, event])
    await publish([event])
    assert await published_types(redis, "urn:t:dup") == ["published"]
    assert await feed_uris(redis) == ["urn:t:dup"]


async def test_withheld_hides_until_a_later_usable_version(redis: aioredis.Redis) -> None:
    publish = publisher(redis)
    uri = "urn:t:held"
    await publish([event_for(news_item(uri))])
    await publish([event_for(news_item(uri, version=2, pubstatus=PubStatus.withheld))])
    assert await feed_uris(redis) == []
    assert (await ReadModelReader(redis).item(uri)).item is None
    await publish([event_for(news_item(uri, version=3))])
    assert await feed_uris(redis) == [uri]


def richly_indexed(uri: str) -> NewsItem:
    return news_item(uri).model_copy(
        update={
            "language": "en",
            "subjects": (Entity(name="Diplomacy", creator="rules"),),
            "people": (Entity(name="Mikhail Galuzin"),),
            "places": (Entity(name="Ukraine"),),
            "organisations": (Entity(name="TASS"),),
        }
    )


async def all_feed_sets(redis: aioredis.Redis) -> list[str]:
    return [key async for key in redis.scan_iter(match="rm:*:feed:*")]


async def test_a_kill_removes_the_item_from_every_index_it_was_in(redis: aioredis.Redis) -> None:
    """An item in eight feeds (all, type, language, author, tag, person, place,
    organisation) is in none after its kill."""
    publish = publisher(redis)
    item = richly_indexed("urn:t:everywhere")
    await publish([event_for(item)])
    member = feed_member(item.firstcreated, item.uri)
    containing = [
        key for key in await all_feed_sets(redis) if await redis.zscore(key, member) is not None
    ]
    assert len(containing) >= 8
    for facet, value in [
        (Facet.tag, "diplomacy"),
        (Facet.person, "MIKHAIL GALUZIN"),
        (Facet.place, "ukraine"),
        (Facet.organisation, "TASS"),
        (Facet.type, "text"),
        (Facet.language, "en"),
    ]:
        assert await feed_uris(redis, (facet, value)) == [item.uri]

    await publish(
        [event_for(item.model_copy(update={"version": 2, "pubstatus": PubStatus.canceled}))]
    )
    for key in await all_feed_sets(redis):
        assert await redis.zscore(key, member) is None, key


async def test_changed_tags_move_the_item_between_indexes(redis: aioredis.Redis) -> None:
    """An update that drops a tag removes the item from that tag's feed."""
    publish = publisher(redis)
    item = richly_indexed("urn:t:retag")
    await publish([event_for(item)])
    retagged = item.model_copy(update={"version": 2, "subjects": (Entity(name="War"),)})
    await publish([event_for(retagged)])
    assert await feed_uris(redis, (Facet.tag, "diplomacy")) == []
    assert await feed_uris(redis, (Facet.tag, "war")) == [item.uri]


async def test_an_update_does_not_make_an_old_item_jump(redis: aioredis.Redis) -> None:
    publish = publisher(redis)
    await publish([event_for(news_item(f"urn:t:{i}", minute=i)) for i in range(3)])
    await publish([event_for(news_item("urn:t:0", minute=0, version=2, headline="Revised"))])
    assert await feed_uris(redis) == ["urn:t:2", "urn:t:1", "urn:t:0"]


async def test_earlier_versions_are_kept_up_to_the_cap(redis: aioredis.Redis) -> None:
    publish = publisher(redis, history_cap=3)
    uri = "urn:t:versions"
    for version in range(1, 7):
        await publish([event_for(news_item(uri, version=version, headline=f"Take {version}"))])
    found = await ReadModelReader(redis).versions(uri)
    assert found.current is not None
    assert found.current.headline == "Take 6"
    assert [item.headline for item in found.previous] == ["Take 5", "Take 4", "Take 3"]


async def test_an_embargoed_item_is_invisible_until_released_once(redis: aioredis.Redis) -> None:
    """Stored but not shown, not even by the item endpoint; released by the
    scheduler at its time, with a released event, exactly once."""
    publish = publisher(redis)
    writer = ReadModelWriter(redis)
    reader = ReadModelReader(redis)
    release_at = utcnow() + timedelta(milliseconds=600)
    item = news_item("urn:t:embargo").model_copy(update={"embargoed": release_at})
    await publish([event_for(item)])
    assert await feed_uris(redis) == []
    assert (await reader.item(item.uri)).item is None
    assert await release_due(writer) == 0
    # The embargo's time must pass: `release_due` is called by hand, not polled.
    await asyncio.sleep(max(0.0, (release_at - utcnow()).total_seconds()) + 0.05)
    assert await release_due(writer) == 1
    assert await release_due(writer) == 0
    assert await feed_uris(redis) == [item.uri]
    assert await published_types(redis, item.uri) == ["released"]
    page_member = (await redis.zrange(ALL_ITEMS, 0, -1))[0]
    assert page_member == feed_member(release_at, item.uri)


async def test_the_reader_hides_an_embargoed_document_even_a_moment_early(
    redis: aioredis.Redis,
) -> None:
    """Whatever is stored, the reader checks the embargo against its own clock."""
    item = news_item("urn:t:early").model_copy(
        update={"embargoed": utcnow() + timedelta(seconds=30)}
    )
    await redis.set(ReadModelKeys().item(item.uri), item.model_dump_json())
    await redis.zadd(ALL_ITEMS, {feed_member(item.firstcreated, item.uri): 0})
    assert (await ReadModelReader(redis).item(item.uri)).item is None
    assert await feed_uris(redis) == []


async def test_retention_removes_items_cleanly_from_every_index(redis: aioredis.Redis) -> None:
    """Beyond the item cap (and the age limit) items leave every feed set and
    their documents go; nothing dangles."""
    publish = publisher(redis)
    items = [
        richly_indexed(f"urn:t:r{i:02d}").model_copy(
            update={"firstcreated": news_item("x", minute=i).firstcreated}
        )
        for i in range(30)
    ]
    await publish([event_for(item) for item in items])
    writer = ReadModelWriter(redis)
    assert await apply_retention(writer, max_items=10, max_age_days=0) == 20
    kept = await feed_uris(redis)
    assert kept == [f"urn:t:r{i:02d}" for i in reversed(range(20, 30))]
    for key in await all_feed_sets(redis):
        members = await redis.zrange(key, 0, -1)
        assert all(m.split("|", 1)[1] in kept for m in members), key
    assert await redis.get(ReadModelKeys().item(items[0].uri)) is None
    # Everything is older than a day here: an age limit of one day retires the rest.
    assert await apply_retention(writer, max_items=0, max_age_days=1) == 10
    assert await redis.zcard(ALL_ITEMS) == 0
    assert await redis.keys("rm:*:feed:*") == []


async def test_a_retired_item_is_not_revived_by_a_stale_redelivery(redis: aioredis.Redis) -> None:
    publish = publisher(redis)
    event = event_for(news_item("urn:t:old"))
    await publish([event])
    await apply_retention(ReadModelWriter(redis), max_items=0, max_age_days=1)
    await publish([event])
    assert await feed_uris(redis) == []


def test_embargoes_survive_a_restart_and_two_replicas_release_each_once(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """Embargoed items scheduled while one publication process runs are released
    after it is killed, by two fresh replicas racing: each exactly once."""
    import redis as sync_redis

    client = sync_redis.Redis.from_url(redis_server.url, decode_responses=True)
    client.flushdb()
    asyncio.run(ensure_groups(aioredis.Redis.from_url(redis_server.url), ROUTES, ONE))
    env = {
        "NEWSFEED_REDIS_URL": redis_server.url,
        "NEWSFEED_RELEASE_INTERVAL_MS": "20",
        "NEWSFEED_BLOCK_MS": "50",
    }

    def replica(name: str) -> ServiceProcess:
        process = ServiceProcess("publication", free_port(), env, tmp_path / f"{name}.log")
        process.start()
        process.wait_ready()
        return process

    first = replica("first")
    release_at = utcnow() + timedelta(seconds=3)
    uris = [f"urn:t:embargo:{i}" for i in range(20)]
    for uri in uris:
        item = news_item(uri).model_copy(update={"embargoed": release_at})
        client.xadd(stream(ENRICHED), encode(event_for(item)))
    poll(lambda: client.zcard(ReadModelKeys().embargo(0)) == 20)
    first.signal(signal.SIGKILL)
    first.stop()
    replicas = [replica("second"), replica("third")]
    try:
        poll(lambda: client.zcard(ALL_ITEMS) == 20)
        time.sleep(0.3)  # give a double release the chance to show itself
        released = Counter(
            decode(fields).subject
            for _, fields in client.xrange(stream(PUBLISHED))
            if fields["type"].endswith(".released")
        )
        assert released == Counter({uri: 1 for uri in uris})
        assert utcnow() >= release_at
    finally:
        for process in replicas:
            process.stop()


async def test_versions_of_one_item_in_one_batch_land_oldest_first(redis: aioredis.Redis) -> None:
    """A batch mixing items and several versions of one is applied in stream order
    per item, in a couple of round trips."""
    publish = publisher(redis)
    batch = [
        event_for(news_item("urn:t:a", headline="A1")),
        event_for(news_item("urn:t:b", headline="B1")),
        event_for(news_item("urn:t:a", version=2, headline="A2")),
        event_for(news_item("urn:t:a", version=2, headline="A2")),
        event_for(news_item("urn:t:a", version=3, pubstatus=PubStatus.canceled)),
        event_for(news_item("urn:t:b", version=2, headline="B2")),
    ]
    assert len(await publish(batch)) == len(batch)
    assert await published_types(redis, "urn:t:a") == ["published", "updated", "killed"]
    assert await published_types(redis, "urn:t:b") == ["published", "updated"]
    b = (await ReadModelReader(redis).item("urn:t:b")).item
    assert b is not None
    assert b.headline == "B2"
