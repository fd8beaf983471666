"""Issue 14 on a real Redis: identities that hold, no update churn on re-polls,
media items with renditions, a bad entry that does not fail its feed, and the
ninjs round trip through the submission API. Every feed of the corpus
(feedparser's own test feeds) is polled twice: the second poll of the same
bytes emits nothing, and distinct guids never share an item."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import redis.asyncio as aioredis
from gateway.render.ninjs import to_ninjs
from ingest.app import Settings
from ingest.media import Media, xml_entry_media
from ingest.source_state import SourceStore
from shared.events import decode
from shared.items import Entity, NewsItem, TextStats
from shared.streams import INGESTED

from tests.support.corpus import CorpusFeed, corpus_feeds
from tests.support.ingest_app import ingest_client
from tests.support.poll_rig import Repolled, repoll
from tests.support.streams import stream
from tools.devstack import RedisServer

BASE = "https://pod.example.org/feed.xml"
NINJS_SCHEMA = (
    Path(__file__).resolve().parents[1] / "fixtures" / "schemas" / "ninjs-schema_2.2.json"
)


def rss(items: str) -> bytes:
    return (
        '<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>t</title>'
        f"<link>https://e.org/</link><description>d</description>{items}</channel></rss>"
    ).encode()


async def items_of(redis: aioredis.Redis) -> list[NewsItem]:
    return [decode(fields).data for _, fields in await redis.xrange(stream(INGESTED))]


# -- 14.1: an unchanged feed emits nothing ----------------------------------------------------


async def test_two_entries_on_one_link_give_two_items_and_no_updates_on_a_re_poll(
    redis: aioredis.Redis,
) -> None:
    body = rss(
        "<item><title>Episode 2</title><link>https://pod.example.org/</link><guid>ep-2</guid>"
        "<description>two</description></item>"
        "<item><title>Episode 1</title><link>https://pod.example.org/</link><guid>ep-1</guid>"
        "<description>one</description></item>"
    )
    got = await repoll(redis, "pod", "issue 14.1", body, BASE)
    assert got.first["new"] == 2
    assert got.second["emitted"] == 0
    assert got.second["unchanged"] == 2
    assert sorted(i.headline for i in await items_of(redis)) == ["Episode 1", "Episode 2"]


async def test_a_duplicated_guid_is_one_item_taken_from_the_first_listed_and_stays_quiet(
    redis: aioredis.Redis,
) -> None:
    body = rss(
        "<item><title>Newer text</title><guid>same</guid><description>new</description></item>"
        "<item><title>Older text</title><guid>same</guid><description>old</description></item>"
    )
    got = await repoll(redis, "dup", "duplicated guid", body, BASE)
    assert got.first["new"] == 1
    assert got.first["rejected"] == 1  # named the same item as the entry before it
    assert got.second["emitted"] == 0
    assert [i.headline for i in await items_of(redis)] == ["Newer text"]


# -- 14.2: distinct guids are distinct items ----------------------------------------------------


async def test_podcast_episodes_that_all_link_to_the_show_stay_distinct_items(
    redis: aioredis.Redis,
) -> None:
    body = rss(
        "".join(
            f"<item><title>Episode {n}</title><link>https://pod.example.org/</link>"
            f"<guid isPermaLink='false'>pod-{n}</guid><pubDate>Mon, 0{n} Jun 2026 10:00:00 GMT"
            "</pubDate><enclosure url='https://cdn.example.org/{n}.mp3' type='audio/mpeg'/></item>"
            for n in range(1, 8)
        )
    )
    got = await repoll(redis, "podcast", "home-page links", body, BASE)
    assert got.items == 7
    assert got.merged_guids == 0
    assert got.second["emitted"] == 0
    items = await items_of(redis)
    assert sorted(i.headline for i in items) == [f"Episode {n}" for n in range(1, 8)]
    assert all(i.type.value == "audio" and i.renditions for i in items)


async def test_posts_linking_to_one_day_page_with_fragments_keep_their_headline_and_date(
    redis: aioredis.Redis,
) -> None:
    body = rss(
        "".join(
            f"<item><title>Post {n}</title><link>https://blog.example.org/2026/06/01#p{n}</link>"
            f"<guid isPermaLink='false'>post-{n}</guid>"
            f"<pubDate>Mon, 01 Jun 2026 1{n}:00:00 GMT</pubDate><description>Text {n}</description>"
            "</item>"
            for n in range(1, 5)
        )
        + "<item><title></title><link>https://blog.example.org/2026/06/01#p5</link>"
        "<guid isPermaLink='false'>post-5</guid><description>Untitled</description></item>"
    )
    got = await repoll(redis, "blog", "fragment links", body, BASE)
    assert got.items == 5
    assert got.merged_guids == 0
    by_headline = {i.headline: i for i in await items_of(redis)}
    assert set(by_headline) == {"Post 1", "Post 2", "Post 3", "Post 4", ""}
    assert by_headline["Post 3"].firstcreated.hour == 13


async def test_a_retitled_entry_stays_one_item_by_its_guid_or_its_link(
    redis: aioredis.Redis,
) -> None:
    first = rss(
        "<item><title>Draft title</title><guid>g-1</guid><link>https://e.org/a-draft</link></item>"
        "<item><title>No guid</title><link>https://e.org/b</link></item>"
    )
    retitled = rss(
        "<item><title>Final title</title><guid>g-1</guid><link>https://e.org/a-final</link></item>"
        "<item><title>No guid, retitled</title><link>https://e.org/b</link></item>"
    )
    await repoll(redis, "retitle", "first", first, BASE)
    await repoll(redis, "retitle2", "unused", rss(""), BASE)  # another source: no effect
    got = await repoll(redis, "retitle", "retitled", retitled, BASE)
    assert got.first["updated"] == 2
    assert got.first["new"] == 0
    versions = Counter(i.uri for i in await items_of(redis))
    assert sorted(versions.values()) == [2, 2]


async def test_an_entry_with_a_guid_joins_the_item_the_api_made_for_its_link(
    redis: aioredis.Redis, redis_server: RedisServer
) -> None:
    settings = Settings.model_validate(
        {"redis_url": redis_server.url, "ingest_token": "t" * 24, "scheduler_enabled": False}
    )
    async with ingest_client(settings) as api:
        answer = await api.post(
            "/v1/items",
            json={"uri": "urn:desk:1", "headline": "Desk story", "link": "https://e.org/story"},
            headers={"Authorization": "Bearer " + "t" * 24},
        )
    assert answer.status_code == 202, answer.text
    body = rss(
        "<item><title>Desk story</title><guid>wire-1</guid><link>https://e.org/story</link>"
        "<description>As the wire tells it.</description></item>"
        "<item><title>Other</title><guid>wire-2</guid><link>https://e.org/story</link></item>"
    )
    await repoll(redis, "wire", "joins", body, BASE)
    uris = [i.uri for i in await items_of(redis)]
    assert uris.count("urn:desk:1") == 2  # the API's, then the feed's version of it
    assert len(set(uris)) == 2  # the second guid is an item of its own


# -- 18.3: one bad entry does not fail its feed -------------------------------------------------


async def test_a_summary_that_breaks_python_s_html_parser_fails_no_entry(
    redis: aioredis.Redis,
) -> None:
    body = rss(
        "<item><title>Tricky</title><guid>1</guid><description>&lt;![&gt;</description>"
        '<content:encoded xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        "&lt;p&gt;Full text&lt;/p&gt;</content:encoded></item>"
        + "".join(f"<item><title>Fine {n}</title><guid>f{n}</guid></item>" for n in range(5))
    )
    got = await repoll(redis, "tricky", "<![>", body, BASE)
    assert got.outcome == "ok"
    assert got.first["new"] == 6


async def test_an_entry_that_cannot_be_read_is_skipped_and_counted_in_the_sources_state(
    redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ingest.parse

    real = xml_entry_media

    # what html.parser's AssertionError did
    def breaks_on_the_second(entry: Mapping[str, Any], base_url: str) -> tuple[Media, ...]:
        if entry.get("id") == "e2":
            raise AssertionError("expected name token at '<![>'")
        return real(entry, base_url)

    monkeypatch.setattr(ingest.parse, "xml_entry_media", breaks_on_the_second)
    body = rss(
        "".join(
            f"<item><title>Entry {n}</title><guid isPermaLink='false'>e{n}</guid></item>"
            for n in range(1, 5)
        )
    )
    got = await repoll(redis, "skips", "one unreadable entry", body, BASE)
    assert got.outcome == "ok"
    assert got.first["new"] == 3
    assert got.first["rejected"] == 1
    state = await SourceStore(redis).state("skips")
    assert state.rejected_last_fetch == 1
    assert state.last_rejection is not None
    assert state.last_rejection.startswith("unreadable entry 2 (e2): AssertionError")


# -- 14.8: the gateway's ninjs, posted back, is an update of its item ---------------------------


async def test_an_items_own_ninjs_document_posted_back_is_an_update_of_that_item(
    redis: aioredis.Redis, redis_server: RedisServer
) -> None:
    token = "n" * 24
    auth = {"Authorization": f"Bearer {token}"}
    settings = Settings.model_validate(
        {"redis_url": redis_server.url, "ingest_token": token, "scheduler_enabled": False}
    )
    original = {
        "uri": "urn:desk:ninjs|1",  # not a URI: the gateway rewrites it and keeps it in altids
        "headline": "Grid repaired",
        "body_html": "<p>Power is back.</p>",
        "description_text": "Power is back in Kharkiv.",
        "type": "video",
        "authors": [{"name": "Olena Kovalenko"}],
        "language": "en",
        "link": "https://e.org/grid",
        "renditions": {"web": {"href": "https://cdn.e.org/v.mp4", "contenttype": "video/mp4"}},
        "subjects": [{"name": "Energy", "creator": "editor"}],
    }
    async with ingest_client(settings) as api:
        first = await api.post("/v1/items", json=original, headers=auth)
        assert first.status_code == 202, first.text
        (stored,) = await items_of(redis)
        # What the gateway serves: the item after enrichment, as ninjs 2.2.
        enriched = stored.model_copy(
            update={
                "text": TextStats(body_text="Power is back.", word_count=3, char_count=14),
                "people": (Entity(name="Olena Kovalenko"),),
                "subjects": (*stored.subjects, Entity(name="Kharkiv", confidence=0.8)),
            }
        )
        document = to_ninjs(enriched)
        jsonschema.validate(document, json.loads(NINJS_SCHEMA.read_text()))
        assert isinstance(document["renditions"], list)
        again = await api.post("/v1/items", json=document, headers=auth)
    assert again.status_code == 202, again.text
    answer = again.json()
    assert answer["uri"] == "urn:desk:ninjs|1"
    assert "people" in answer["ignored"]
    assert "standard" in answer["ignored"]
    items = await items_of(redis)
    latest = items[-1]
    assert latest.uri == "urn:desk:ninjs|1"
    assert latest.headline == "Grid repaired"
    assert latest.body_html == "<p>Power is back.</p>"
    assert latest.description_text == "Power is back in Kharkiv."
    assert latest.type.value == "video"
    assert str(latest.renditions["web"].href) == "https://cdn.e.org/v.mp4"
    assert str(latest.link) == "https://e.org/grid"
    assert {s.name: s.confidence for s in latest.subjects} == {"Energy": None, "Kharkiv": 0.8}


async def test_a_ninjs_batch_item_is_taken_too(
    redis: aioredis.Redis, redis_server: RedisServer
) -> None:
    token = "b" * 24
    settings = Settings.model_validate(
        {"redis_url": redis_server.url, "ingest_token": token, "scheduler_enabled": False}
    )
    document = {
        "uri": "urn:partner:7",
        "headlines": [{"value": "From a partner"}],
        "renditions": [{"name": "thumb", "href": "https://cdn.e.org/t.jpg"}],
    }
    async with ingest_client(settings) as api:
        answer = await api.post(
            "/v1/items:batch",
            json={"items": [document]},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 202, answer.text
    (item,) = await items_of(redis)
    assert (item.uri, item.headline, list(item.renditions)) == (
        "urn:partner:7",
        "From a partner",
        ["thumb"],
    )


# -- the corpus ---------------------------------------------------------------------------------


async def test_every_corpus_feed_polled_again_unchanged_emits_nothing_and_merges_no_guids(
    redis: aioredis.Redis,
) -> None:
    feeds = list(corpus_feeds())
    # Sixteen feeds at a time: each is its own source, and the wait is Redis round trips.
    gate = asyncio.Semaphore(16)

    async def poll_twice(number: int, feed: CorpusFeed) -> Repolled:
        async with gate:
            base = "http://127.0.0.1:8097/tests/" + feed.name
            return await repoll(redis, f"c{number}", feed.name, feed.body, base)

    results = await asyncio.gather(*(poll_twice(n, f) for n, f in enumerate(feeds, 1)))
    problems = [
        f"{got.name}: {got}"
        for got in results
        if got.second["emitted"]
        or got.merged_guids
        or got.media_items != got.media_items_with_renditions
    ]
    assert problems == []
    assert len(results) > 2000
    assert sum(got.items for got in results) > 700
    assert sum(got.guids for got in results) > 20


async def test_the_api_still_refuses_what_is_neither_shape(redis_server: RedisServer) -> None:
    token = "r" * 24
    settings = Settings.model_validate(
        {"redis_url": redis_server.url, "ingest_token": token, "scheduler_enabled": False}
    )
    async with ingest_client(settings) as api:
        answer = await api.post(
            "/v1/items",
            json={"headline": "h", "colour": "red"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 422
    assert isinstance(answer, httpx.Response)
