"""The read model's writer against a real Redis: where an item is indexed, states
written by the previous version, and the event that carries the document."""

from __future__ import annotations

import orjson
import redis.asyncio as aioredis
from publication.handler import make_handler
from shared.events import decode
from shared.items import Entity, NewsItem, PubStatus
from shared.readmodel import (
    FEED_ALL,
    Facet,
    ReadModelKeys,
    ReadModelReader,
    ReadModelWriter,
    feed_member,
    index_key,
)
from shared.streams import PUBLISHED

from tests.support.builders import event_for, news_item
from tests.support.streams import stream

KEYS = ReadModelKeys()  # one partition, as ReadModelWriter(redis) writes


async def feed_uris(redis: aioredis.Redis, facet: tuple[Facet, str] | None = None) -> list[str]:
    page = await ReadModelReader(redis).page(100, facet=facet)
    return [item.uri for item in page.items]


def with_entities(uri: str, **entities: tuple[Entity, ...]) -> NewsItem:
    return news_item(uri).model_copy(update=entities)


async def test_entity_feeds_list_items_about_the_entity_not_passing_mentions(
    redis: aioredis.Redis,
) -> None:
    publish = make_handler(ReadModelWriter(redis))
    about = with_entities(
        "urn:t:about",
        people=(Entity(name="Nikos Christodoulides", relevance=60),),
        places=(Entity(name="Nicosia", relevance=40),),
        organisations=(Entity(name="UN"),),  # no relevance: named by the source
    )
    passing = with_entities(
        "urn:t:passing",
        people=(Entity(name="Nikos Christodoulides", relevance=20),),
        places=(Entity(name="Nicosia", relevance=20),),
        organisations=(Entity(name="UN", relevance=20),),
    )
    await publish([event_for(about), event_for(passing)])

    assert await feed_uris(redis) == ["urn:t:passing", "urn:t:about"]
    assert await feed_uris(redis, (Facet.person, "nikos christodoulides")) == ["urn:t:about"]
    assert await feed_uris(redis, (Facet.place, "Nicosia")) == ["urn:t:about"]
    assert await feed_uris(redis, (Facet.organisation, "un")) == ["urn:t:about"]


async def test_the_state_keeps_no_list_of_feed_sets(redis: aioredis.Redis) -> None:
    await make_handler(ReadModelWriter(redis))([event_for(news_item("urn:t:a"))])
    state = await redis.hgetall(KEYS.state("urn:t:a"))
    assert set(state) == {"version", "status", "member", "traceid"}


async def make_old_shape(redis: aioredis.Redis, item: NewsItem, extra: str) -> list[str]:
    """Turn the stored state of a published `item` into what the previous version
    wrote: an `indexes` list, here with one set (`extra`) today's rule would not
    put the item in, and the item in that set."""
    member = feed_member(item.firstcreated, item.uri)
    await redis.zadd(KEYS.feed(extra, 0), {member: 0})
    stored = await ReadModelWriter(redis).load(item.uri)
    assert stored is not None
    listed = [*stored.indexes, extra]
    await redis.hset(KEYS.state(item.uri), "indexes", orjson.dumps(listed).decode())
    return listed


async def test_an_update_moves_an_item_stored_by_the_previous_version_out_of_every_old_set(
    redis: aioredis.Redis,
) -> None:
    publish = make_handler(ReadModelWriter(redis))
    item = with_entities("urn:t:old", people=(Entity(name="Passing Mention", relevance=20),))
    await publish([event_for(item)])
    old_person = index_key(Facet.person, "Passing Mention")
    await make_old_shape(redis, item, old_person)
    assert await feed_uris(redis, (Facet.person, "passing mention")) == ["urn:t:old"]

    await publish([event_for(item.model_copy(update={"version": 2, "headline": "Revised"}))])

    assert await feed_uris(redis, (Facet.person, "passing mention")) == []
    assert await feed_uris(redis) == ["urn:t:old"]
    assert await redis.hget(KEYS.state("urn:t:old"), "indexes") is None


async def test_a_kill_of_an_item_stored_by_the_previous_version_leaves_no_feed(
    redis: aioredis.Redis,
) -> None:
    publish = make_handler(ReadModelWriter(redis))
    item = with_entities("urn:t:old", people=(Entity(name="Passing Mention", relevance=20),))
    await publish([event_for(item)])
    listed = await make_old_shape(redis, item, index_key(Facet.person, "Passing Mention"))

    await publish(
        [event_for(item.model_copy(update={"version": 2, "pubstatus": PubStatus.canceled}))]
    )

    member = feed_member(item.firstcreated, item.uri)
    for key in listed:
        assert await redis.zscore(KEYS.feed(key, 0), member) is None, key
    assert (await ReadModelReader(redis).item("urn:t:old")).killed


async def test_retention_of_an_item_stored_by_the_previous_version_leaves_no_feed(
    redis: aioredis.Redis,
) -> None:
    writer = ReadModelWriter(redis)
    item = with_entities("urn:t:old", people=(Entity(name="Passing Mention", relevance=20),))
    await make_handler(writer)([event_for(item)])
    listed = await make_old_shape(redis, item, index_key(Facet.person, "Passing Mention"))

    assert await writer.retire_beyond(0) == 1

    for key in [FEED_ALL, *listed]:
        assert await redis.zcard(KEYS.feed(key, 0)) == 0, key


async def test_the_published_event_carries_the_stored_document(redis: aioredis.Redis) -> None:
    """The document goes to the script once and is both what is stored and the
    event's data."""
    item = with_entities("urn:t:a", places=(Entity(name="Kyiv", relevance=80),))
    await make_handler(ReadModelWriter(redis))([event_for(item)])
    [(_, fields)] = await redis.xrange(stream(PUBLISHED))
    assert fields["data"] == await redis.get(KEYS.item("urn:t:a"))
    event = decode(fields)
    assert event.subject == "urn:t:a"
    assert event.data.places == item.places
    assert event.data.pubstatus is PubStatus.usable
