"""The gateway's outputs, each parsed back or validated by something that did not write it:
JSON Feed and ninjs against JSON Schemas (tests/fixtures/schemas), RSS and Atom with
feedparser, Atom tombstones with lxml."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import feedparser
import jsonschema
import orjson
import pytest
from gateway.query import FeedQuery
from gateway.render import syndication
from gateway.render.jsonfeed import json_feed
from gateway.render.links import FeedLinks
from gateway.render.ninjs import ninjs_uri, to_ninjs
from gateway.tail import Tombstone
from lxml import etree
from shared.items import (
    Author,
    Correction,
    Entity,
    ItemType,
    NewsItem,
    PubStatus,
    Rendition,
    TextStats,
)
from shared.readmodel import Facet

from tests.support.builders import BASE_TIME, news_item
from tests.support.schemas import assert_valid, format_checker, validator

BASE = "https://news.example.org"


def rich_item(uri: str = "urn:newsfeed:item:rich", minute: int = 5) -> NewsItem:
    base = news_item(uri, minute=minute, headline="Talks in Nicosia & beyond <maybe>")
    return base.model_copy(
        update={
            "version": 3,
            "type": ItemType.video,
            "language": "en-GB",
            "description_text": "Zelensky met Christodoulides.",
            "ednote": "Corrected the spokesperson's name.",
            "link": "https://example.org/story/1",
            "updated": BASE_TIME + timedelta(minutes=minute + 30),
            "corrections": (
                Correction(version=2, note="Corrected a date.", at=BASE_TIME + timedelta(hours=1)),
            ),
            "renditions": {
                "video": Rendition(
                    href="https://media.example.org/v.mp4", contenttype="video/mp4", duration=92.5
                ),
                "poster": Rendition(href="https://media.example.org/p.jpg", width=640, height=360),
            },
            "subjects": (
                Entity(name="Diplomacy", confidence=0.83, relevance=72.4, creator="enrichment"),
                Entity(name="EU", uri="http://cv.iptc.org/newscodes/mediatopic/11000000"),
            ),
            "people": (Entity(name="Volodymyr Zelensky", rel="mentioned", uri="Q3881"),),
            "places": (Entity(name="Nicosia", uri="https://www.geonames.org/146268"),),
            "organisations": (Entity(name="European Union", literal="eu"),),
            "authors": (
                Author(
                    name="Newsfeed desk",
                    role="desk",
                    biography="The desk.",
                    avatar_url="https://static.example.org/desk.png",
                ),
                Author(name="Olena Example"),
            ),
            "text": TextStats(body_text="President Zelensky met him.", word_count=4, char_count=27),
            "reading_time_minutes": 1,
        }
    )


def odd_item() -> NewsItem:
    """No headline, a uri that is not a URI, text XML cannot carry, a CDATA end marker."""
    return news_item("item-7?#x%é", minute=1, headline="").model_copy(
        update={
            "body_html": "<p>Control\x0bchar and ]]&gt; and ]]> here.</p>",
            "description_text": "Bell\x07 inside",
            "authors": (),
            "text": TextStats(body_text="Control char and here.", word_count=4, char_count=22),
        }
    )


def links(query: FeedQuery | None = None) -> FeedLinks:
    return FeedLinks(BASE, query or FeedQuery(20), 20)


# --- JSON Feed --------------------------------------------------------------------


def test_json_feed_validates_and_carries_authors_dates_and_paging() -> None:
    items = [rich_item(), news_item("urn:newsfeed:item:plain", minute=1), odd_item()]
    query = FeedQuery(20, facet=(Facet.tag, "Diplomacy"))
    doc = orjson.loads(
        orjson.dumps(
            json_feed(items, "CURSOR123", links(query), title="News Feed", description="d")
        )
    )
    assert_valid(validator("jsonfeed-1.1.schema.json"), doc)
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    assert doc["feed_url"] == f"{BASE}/feed.json?tag=Diplomacy"
    assert doc["home_page_url"] == f"{BASE}/?tag=Diplomacy"
    next_url = urlsplit(doc["next_url"])
    assert parse_qs(next_url.query) == {"tag": ["Diplomacy"], "cursor": ["CURSOR123"]}
    assert doc["next_url"] != doc["feed_url"]
    first = doc["items"][0]
    assert first["id"] == "urn:newsfeed:item:rich"
    assert first["url"] == f"{BASE}/items/urn:newsfeed:item:rich"
    assert first["external_url"] == "https://example.org/story/1"
    assert first["authors"] == [
        {"name": "Newsfeed desk", "avatar": "https://static.example.org/desk.png"},
        {"name": "Olena Example"},
    ]
    assert first["date_published"] == "2026-11-20T09:05:00Z"
    assert first["date_modified"] == "2026-11-20T09:35:00Z"  # the "(Updated: …)" time
    assert first["tags"] == ["Diplomacy", "EU"]
    assert first["attachments"][0] == {
        "url": "https://media.example.org/v.mp4",
        "mime_type": "video/mp4",
        "title": "video",
        "duration_in_seconds": 92.5,
    }
    assert first["attachments"][1]["mime_type"] == "image/jpeg"  # guessed from the URL
    assert first["_newsfeed"]["reading_time_minutes"] == 1
    assert first["_newsfeed"]["corrections"] == ["Corrected a date."]
    # Never updated: date_modified is the version's time.
    assert doc["items"][1]["date_modified"] == "2026-11-20T09:01:01Z"
    # A uri with '?' and '#' is percent-encoded in the permalink, kept as the id.
    assert doc["items"][2]["id"] == "item-7?#x%é"
    assert doc["items"][2]["url"] == f"{BASE}/items/item-7%3F%23x%25%C3%A9"


def test_last_json_feed_page_has_no_next_url() -> None:
    doc = json_feed([news_item("urn:a")], None, links(), title="t", description="d")
    assert "next_url" not in doc
    assert_valid(validator("jsonfeed-1.1.schema.json"), doc)


def test_the_jsonfeed_schema_rejects_what_the_spec_forbids() -> None:
    """The hand-written schema is only worth something if it says no."""
    check = validator("jsonfeed-1.1.schema.json")
    good = {"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": []}
    assert check.is_valid(good)
    assert not check.is_valid({**good, "items": [{"id": "1"}]})  # no content
    assert not check.is_valid({**good, "items": [{"id": "1", "content_text": "x", "titel": "t"}]})
    assert not check.is_valid({**good, "authors": [{}]})
    assert not check.is_valid({**good, "next_url": "not a url"})
    item = {"id": "1", "content_html": "", "date_published": "yesterday"}
    assert not check.is_valid({**good, "items": [item]})
    assert check.is_valid(
        {
            **good,
            "_ext": {"a": 1},
            "items": [{**item, "date_published": "2026-01-01T00:00:00Z", "_x": 1}],
        }
    )


# --- ninjs ------------------------------------------------------------------------


@pytest.mark.parametrize("item", [rich_item(), odd_item(), news_item("urn:newsfeed:item:min")])
def test_ninjs_output_validates_against_the_official_schema(item: NewsItem) -> None:
    doc = orjson.loads(orjson.dumps(to_ninjs(item)))
    assert_valid(validator("ninjs-schema_2.2.json"), doc)


def test_ninjs_maps_the_item_fields() -> None:
    doc = to_ninjs(rich_item())
    assert doc["uri"] == "urn:newsfeed:item:rich"
    assert doc["version"] == "3"
    assert doc["type"] == "video"
    assert doc["pubstatus"] == "usable"
    assert doc["language"] == "en-GB"
    assert doc["headlines"] == [
        {"role": "main", "contenttype": "text/plain", "value": "Talks in Nicosia & beyond <maybe>"}
    ]
    assert [b["contenttype"] for b in doc["bodies"]] == ["text/html", "text/plain"]
    assert doc["bodies"][1]["wordcount"] == 4
    assert doc["by"] == "Newsfeed desk, Olena Example"
    assert doc["subjects"][0] == {
        "name": "Diplomacy",
        "creator": "enrichment",
        "relevance": 72,
        "confidence": 83,
    }
    # "Q3881" is not a URI: it is kept, as a literal.
    assert doc["people"] == [{"name": "Volodymyr Zelensky", "rel": "mentioned", "literal": "Q3881"}]
    assert doc["places"] == [{"name": "Nicosia", "uri": "https://www.geonames.org/146268"}]
    assert {
        "name": "video",
        "href": "https://media.example.org/v.mp4",
        "contenttype": "video/mp4",
        "duration": 92.5,
    } in doc["renditions"]
    assert {"role": "correction", "contenttype": "text/plain", "value": "Corrected a date."} in doc[
        "descriptions"
    ]
    assert {"role": "canonical-url", "value": "https://example.org/story/1"} in doc["altids"]
    assert doc["standard"]["version"] == "2.2"


def test_a_uri_that_is_not_a_uri_gets_one_and_keeps_the_original_as_altid() -> None:
    doc = to_ninjs(odd_item())
    assert doc["uri"] == "urn:newsfeed:id:item-7%3F%23x%25%C3%A9" == ninjs_uri("item-7?#x%é")
    assert {"role": "newsfeed-uri", "value": "item-7?#x%é"} in doc["altids"]


def test_a_killed_item_is_canceled_in_ninjs() -> None:
    killed = news_item("urn:k", version=2, pubstatus=PubStatus.canceled, ednote="Withdrawn.")
    doc = to_ninjs(killed)
    assert doc["pubstatus"] == "canceled"
    assert_valid(validator("ninjs-schema_2.2.json"), doc)


# --- RSS and Atom -----------------------------------------------------------------


def test_rss_parses_back_with_everything_readers_need() -> None:
    items = [rich_item(), news_item("urn:newsfeed:item:plain", minute=1), odd_item()]
    body = syndication.rss(items, "NEXT", links(), title="News Feed", description="Latest")
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "rss20"
    assert parsed.feed.title == "News Feed"
    assert parsed.feed.link == f"{BASE}/"
    assert [e.id for e in parsed.entries] == [i.uri for i in items]
    first = parsed.entries[0]
    assert first.title == "Talks in Nicosia & beyond <maybe>"
    assert first.link == f"{BASE}/items/urn:newsfeed:item:rich"
    assert [a.name for a in first.authors] == ["Newsfeed desk", "Olena Example"]  # dc:creator
    assert first.summary == "Zelensky met Christodoulides."
    assert "President Volodymyr Zelensky met" in first.content[0].value
    assert (
        first.enclosures[0].href == "https://media.example.org/v.mp4"
    )  # the video, not the poster
    assert [t.term for t in first.tags] == ["Diplomacy", "EU"]
    assert first.published_parsed[:5] == (2026, 11, 20, 9, 5)
    # No headline: a title made from the text; characters XML cannot carry are gone.
    assert parsed.entries[2].title == "Control char and here."
    assert "]]>" in parsed.entries[2].content[0].value


def test_atom_parses_back_with_updated_times_and_a_next_link() -> None:
    items = [rich_item(), news_item("urn:newsfeed:item:plain", minute=1)]
    query = FeedQuery(20, facet=(Facet.author, "Newsfeed desk"))
    body = syndication.atom(
        items, "NEXT", links(query), title="News Feed", description="Latest", tombstones=[]
    )
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    rels = {link.rel: link.href for link in parsed.feed.links}
    assert rels["self"] == f"{BASE}/feed.atom?author=Newsfeed+desk"
    assert rels["next"] == f"{BASE}/feed.atom?author=Newsfeed+desk&cursor=NEXT"
    assert rels["alternate"] == f"{BASE}/?author=Newsfeed+desk"
    first = parsed.entries[0]
    assert first.id == "urn:newsfeed:item:rich"
    assert first.updated_parsed[:5] == (2026, 11, 20, 9, 35)
    assert first.published_parsed[:5] == (2026, 11, 20, 9, 5)
    assert [a.name for a in first.authors] == ["Newsfeed desk", "Olena Example"]
    assert first.content[0].type == "text/html"
    assert parsed.feed.updated_parsed[:5] == (2026, 11, 20, 9, 35)  # the newest change


def test_atom_lists_kills_as_rfc6721_tombstones() -> None:
    when = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    tombstones = [
        Tombstone("urn:newsfeed:item:gone", when, "Sourcing failed.", None),
        Tombstone("plain-id-9", when - timedelta(hours=1), None, frozenset({"all"})),
    ]
    body = syndication.atom(
        [news_item("urn:a")], None, links(), title="t", description="d", tombstones=tombstones
    )
    assert not feedparser.parse(body).bozo
    root = etree.fromstring(body)
    ns = {"at": syndication.TOMBSTONES_NS, "atom": "http://www.w3.org/2005/Atom"}
    deleted = root.findall("at:deleted-entry", ns)
    assert [(d.get("ref"), d.get("when")) for d in deleted] == [
        ("urn:newsfeed:item:gone", "2026-11-20T12:00:00Z"),
        ("urn:newsfeed:id:plain-id-9", "2026-11-20T11:00:00Z"),
    ]
    assert deleted[0].findtext("at:comment", namespaces=ns) == "Sourcing failed."
    # The feed is as new as its newest kill.
    assert root.findtext("atom:updated", namespaces=ns) == "2026-11-20T12:00:00+00:00"


def test_the_same_page_renders_to_the_same_bytes() -> None:
    """No clock in the output: equal pages, equal ETags, across renders and replicas."""
    items = [rich_item(), news_item("urn:b")]
    renders: list[Callable[[], bytes]] = [
        lambda: syndication.rss(items, None, links(), title="t", description="d"),
        lambda: syndication.atom(items, None, links(), title="t", description="d", tombstones=[]),
        lambda: orjson.dumps(json_feed(items, None, links(), title="t", description="d")),
    ]
    for render in renders:
        assert render() == render()


def test_an_empty_feed_is_still_a_valid_feed() -> None:
    for body in (
        syndication.rss([], None, links(), title="t", description="d"),
        syndication.atom([], None, links(), title="t", description="d", tombstones=[]),
    ):
        parsed = feedparser.parse(body)
        assert not parsed.bozo
        assert parsed.entries == []


@pytest.mark.parametrize("item", [rich_item(), odd_item(), news_item("urn:newsfeed:item:plain")])
def test_ninjs_output_matches_the_schema_the_openapi_document_gives_it(item: NewsItem) -> None:
    """A client generated from the document can read `?format=ninjs` answers."""
    from gateway.addresses import openapi_document

    doc = openapi_document()
    answer = doc["paths"]["/v1/items/{uri}"]["get"]["responses"]["200"]
    ninjs = {"$ref": "#/components/schemas/NinjsItem"}
    assert ninjs in answer["content"]["application/json"]["schema"]["oneOf"]
    schema = {**ninjs, "components": doc["components"]}
    assert_valid(
        jsonschema.Draft202012Validator(schema, format_checker=format_checker()), to_ninjs(item)
    )


def test_feeds_carry_an_episode_file_with_its_size_and_its_cover_as_the_image() -> None:
    episode = news_item("urn:newsfeed:item:episode").model_copy(
        update={
            "type": ItemType.audio,
            "renditions": {
                "audio": Rendition(
                    href="https://cdn.example.org/ep.mp3",
                    contenttype="audio/mpeg",
                    sizeinbytes=36030594,
                    duration=2227,
                ),
                "thumbnail": Rendition(href="https://cdn.example.org/cover.jpg"),
                "video": Rendition(
                    href="https://www.youtube-nocookie.com/embed/abc", contenttype="text/html"
                ),
            },
        }
    )
    parsed = feedparser.parse(syndication.rss([episode], None, links(), title="t", description="d"))
    (enclosure,) = [e for e in parsed.entries[0].enclosures if e.type == "audio/mpeg"]
    assert (enclosure.href, enclosure.length) == ("https://cdn.example.org/ep.mp3", "36030594")
    assert not [e for e in parsed.entries[0].enclosures if e.type == "text/html"]  # a player page
    doc = orjson.loads(
        orjson.dumps(json_feed([episode], None, links(), title="t", description="d"))
    )
    assert_valid(validator("jsonfeed-1.1.schema.json"), doc)
    item = doc["items"][0]
    assert item["image"] == "https://cdn.example.org/cover.jpg"
    assert item["attachments"][0]["size_in_bytes"] == 36030594
