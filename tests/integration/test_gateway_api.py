"""The gateway in-process over a real Redis, filled the real way: publication's handler
writes the read model and news.published, the gateway's tail follows it."""

from __future__ import annotations

import asyncio
import gzip
import re
from datetime import timedelta

import feedparser
import httpx
import orjson
import pytest
from gateway.addresses import openapi_document
from gateway.app import Settings, build
from gateway.render import api
from shared.items import (
    Author,
    ItemType,
    PubStatus,
    Rendition,
    TextStats,
    utcnow,
)
from shared.readmodel import Facet

from tests.support.builders import event_for, news_item
from tests.support.gateway_env import PAGE, Env, tagged, uris
from tests.support.redis_stats import redis_calls
from tests.support.schemas import assert_valid, validator
from tests.support.waiting import until

# --- pages ------------------------------------------------------------------------


async def test_show_more_never_repeats_or_skips_while_items_arrive(env: Env) -> None:
    """Walk the feed back in pages while another task keeps publishing at the top."""
    await env.publish(*(news_item(f"urn:old:{i:02d}", minute=i) for i in range(23)))
    stop = asyncio.Event()

    async def breaking_news() -> int:
        n = 0
        while not stop.is_set():
            await env.handle([event_for(news_item(f"urn:new:{n}", minute=100 + n))])
            n += 1
            await asyncio.sleep(0)  # let the pages be read between items
        return n

    publisher = asyncio.create_task(breaking_news())
    seen: list[str] = []
    cursor: str | None = None
    for path in ("/v1/feed", "/feed.json"):
        seen, cursor = [], None
        while True:
            params = {"limit": str(PAGE)} | ({"cursor": cursor} if cursor else {})
            response = await env.get(path, params=params)
            assert response.status_code == 200
            body = response.json()
            if path == "/v1/feed":
                seen += uris(response)
                cursor = body["next_cursor"]
            else:
                seen += [item["id"] for item in body["items"]]
                next_url = body.get("next_url")
                cursor = httpx.URL(next_url).params["cursor"] if next_url else None
            await asyncio.sleep(0.01)  # let breaking news land between pages
            if cursor is None:
                break
        old = [uri for uri in seen if uri.startswith("urn:old:")]
        assert old == [f"urn:old:{i:02d}" for i in reversed(range(23))], path
        assert len(seen) == len(set(seen))
    stop.set()
    assert await publisher > 0


async def test_filters_select_their_items_case_insensitively(env: Env) -> None:
    video = news_item("urn:v", minute=3).model_copy(update={"type": ItemType.video})
    await env.publish(
        tagged(news_item("urn:a", minute=1), "Diplomacy", "EU"),
        tagged(news_item("urn:b", minute=2), "Frontline"),
        video,
        news_item("urn:c", minute=4).model_copy(
            update={"authors": (Author(name="Olena Example"),), "language": "en-GB"}
        ),
    )
    assert uris(await env.get("/v1/feed?tag=diplomacy")) == ["urn:a"]
    assert uris(await env.get("/v1/feed?tag=DIPLOMACY")) == ["urn:a"]
    assert uris(await env.get("/v1/feed?type=video")) == ["urn:v"]
    assert uris(await env.get("/v1/feed?author=olena%20example")) == ["urn:c"]
    assert uris(await env.get("/v1/feed?language=en")) == ["urn:c"]
    assert uris(await env.get("/v1/feed?place=Nowhere")) == []
    rss = feedparser.parse((await env.get("/feed.rss?tag=Frontline")).content)
    assert [e.id for e in rss.entries] == ["urn:b"]
    assert rss.feed.link == "http://gw.test/?tag=Frontline"
    atom = feedparser.parse((await env.get("/feed.atom?type=video")).content)
    assert [e.id for e in atom.entries] == ["urn:v"]
    page = await env.get("/?tag=Frontline")
    assert "urn:b" in page.text
    assert "urn:a" not in page.text


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/v1/feed?colour=red", "unknown parameter 'colour'"),
        ("/v1/feed?tag=a&author=b", "one filter at a time"),
        ("/v1/feed?cursor=bm90LWEtY3Vyc29y", "cursor is not one this feed handed out"),
        ("/v1/feed?limit=1000", "invalid parameters"),
        ("/feed.rss?cursor=%%%", "cursor"),
        ("/feed.atom?tag=a&tag=b", "more than once"),
        ("/feed.json?sort=asc", "unknown parameter"),
        ("/v1/items/urn:a?format=xml", "invalid parameters"),
        ("/v1/items/urn:a/versions?x=1", "unknown parameter"),
        ("/v1/stream?tag=a&place=b", "one filter at a time"),
    ],
)
async def test_bad_input_is_a_400_with_a_json_message(env: Env, path: str, says: str) -> None:
    response = await env.get(path)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert says in response.json()["error"]
    assert response.headers["cache-control"] == "no-store"


async def test_bad_input_on_the_page_is_a_400_page(env: Env) -> None:
    for path in ("/?colour=red", "/?cursor=nonsense", "/fragments/feed?tag=a&type=text"):
        response = await env.get(path)
        assert response.status_code == 400
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert "<h1>Bad request</h1>" in response.text
    missing = await env.get("/no/such/page")
    assert missing.status_code == 404
    assert "There is nothing at this address." in missing.text
    api_missing = await env.get("/v1/nothing")
    assert api_missing.json() == {"error": "nothing here"}
    wrong_method = await env.client.post("/v1/feed")
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"error": "method not allowed"}


# --- items ------------------------------------------------------------------------


async def test_an_item_as_json_and_as_ninjs_and_its_versions(env: Env) -> None:
    first = tagged(news_item("urn:newsfeed:item:one"), "Diplomacy").model_copy(
        update={
            "text": TextStats(body_text="Zelensky met.", word_count=2, char_count=13),
            "renditions": {"video": Rendition(href="https://media.example.org/v.mp4")},
        }
    )
    await env.publish(first)
    await env.publish(first.model_copy(update={"version": 2, "headline": "Second take"}))
    item = await env.get("/v1/items/urn:newsfeed:item:one")
    assert item.status_code == 200
    assert item.json()["headline"] == "Second take"
    assert item.json()["updated"] == "2026-11-20T09:00:01Z"
    ninjs = await env.get("/v1/items/urn:newsfeed:item:one", params={"format": "ninjs"})
    assert_valid(validator("ninjs-schema_2.2.json"), ninjs.json())
    assert ninjs.json()["version"] == "2"
    versions = (await env.get("/v1/items/urn:newsfeed:item:one/versions")).json()
    assert versions["current"]["version"] == 2
    assert [v["version"] for v in versions["previous"]] == [1]
    page = await env.get("/items/urn:newsfeed:item:one")
    assert page.status_code == 200
    assert '<h1 class="headline"' in page.text
    assert "(Updated: " in page.text


async def test_unknown_is_404_and_killed_is_410_with_its_note(env: Env) -> None:
    await env.publish(news_item("urn:k", minute=1))
    await env.publish(
        news_item("urn:k", version=2, pubstatus=PubStatus.canceled, ednote="Sourcing failed.")
    )
    for path in ("/v1/items/urn:k", "/v1/items/urn:k?format=ninjs", "/v1/items/urn:k/versions"):
        gone = await env.get(path)
        assert gone.status_code == 410, path
        assert gone.json()["detail"] == {"ednote": "Sourcing failed."}
    page = await env.get("/items/urn:k")
    assert page.status_code == 410
    assert "Sourcing failed." in page.text
    assert (await env.get("/v1/items/urn:nope")).status_code == 404
    assert (await env.get("/v1/items/urn:nope/versions")).status_code == 404
    assert (await env.get("/items/urn:nope")).status_code == 404
    assert (await env.get("/fragments/items/urn:k")).status_code == 404
    assert (await env.get("/v1/items/" + "x" * 600)).status_code == 404
    assert "urn:k" not in uris(await env.get("/v1/feed"))


async def test_atom_feeds_carry_tombstones_of_recent_kills(env: Env) -> None:
    await env.publish(news_item("urn:stays", minute=1), news_item("urn:goes", minute=2))
    before = feedparser.parse((await env.get("/feed.atom")).content)
    assert [e.id for e in before.entries] == ["urn:goes", "urn:stays"]
    await env.publish(news_item("urn:goes", version=2, pubstatus=PubStatus.canceled, ednote="No."))
    body = (await env.get("/feed.atom")).text
    assert [e.id for e in feedparser.parse(body).entries] == ["urn:stays"]
    assert '<at:deleted-entry ref="urn:goes"' in body
    assert "<at:comment>No.</at:comment>" in body
    # Another replica, started after the kill, learns it from the stream itself.
    other = build(Settings(redis_url=env.url))
    async with other.router.lifespan_context(other):
        await until(lambda: other.state.gateway.tail.ready, interval=0.01)
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
            assert '<at:deleted-entry ref="urn:goes"' in (await client.get("/feed.atom")).text


# --- HTTP behaviour -----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/feed", "/feed.json", "/feed.rss", "/feed.atom", "/"])
async def test_etag_304_and_a_new_etag_after_an_event(env: Env, path: str) -> None:
    await env.publish(news_item("urn:a", minute=1))
    first = await env.get(path)
    etag = first.headers["etag"]
    assert etag.startswith('"')
    assert first.headers["cache-control"] in (
        "public, max-age=5, stale-while-revalidate=10",
        "no-cache",
    )
    assert first.headers["surrogate-key"] == "feed:all"
    again = await env.get(path, headers={"if-none-match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    await env.publish(news_item("urn:b", minute=2))
    changed = await env.get(path, headers={"if-none-match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert "urn:b" in changed.text


async def test_gzip_when_asked(env: Env) -> None:
    await env.publish(*(news_item(f"urn:z:{i}", minute=i) for i in range(5)))
    response = await env.get("/feed.rss", headers={"accept-encoding": "gzip"})
    # httpx decodes transparently; the raw headers show what was sent.
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "accept-encoding"
    assert feedparser.parse(response.content).entries
    plain = await env.get("/feed.rss", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == response.content
    assert gzip.compress(plain.content)  # sanity: the plain body is the real one


async def test_a_hot_first_page_costs_no_redis_round_trip(env: Env) -> None:
    await env.publish(*(news_item(f"urn:h:{i}", minute=i) for i in range(8)))
    paths = ["/v1/feed", "/feed.json", "/feed.rss", "/feed.atom", "/", "/v1/feed?tag=x"]
    for path in paths:
        assert (await env.get(path)).status_code == 200  # fills the cache
    before = await redis_calls(env.redis)
    for _ in range(20):
        for path in paths:
            assert (await env.get(path)).status_code == 200
    assert await redis_calls(env.redis) == before
    # Any event empties it: the next request reads Redis again and sees the change.
    await env.publish(news_item("urn:h:new", minute=30))
    assert uris(await env.get("/v1/feed"))[0] == "urn:h:new"
    assert await redis_calls(env.redis) > before


async def test_headers_for_pages_and_for_apis(env: Env) -> None:
    page = await env.get("/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    api = await env.get("/v1/feed")
    assert api.headers["access-control-allow-origin"] == "*"
    assert api.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    js = await env.get("/static/feed.js")
    assert js.headers["content-type"] == "text/javascript; charset=utf-8"
    assert js.headers["cache-control"] == "no-cache"
    versioned = page.text.split('<script src="', 1)[1].split('"', 1)[0]
    assert (await env.get(versioned)).headers["cache-control"].endswith("immutable")
    assert (await env.get("/static/nope.js")).status_code == 404


# --- the OpenAPI document -------------------------------------------------------------


def test_the_openapi_document_says_400_and_takes_one_filter() -> None:
    """Bad parameters are a 400 (never FastAPI's 422), and a feed takes one filter."""
    doc = openapi_document()
    assert all("422" not in op["responses"] for ops in doc["paths"].values() for op in ops.values())
    params = {p["name"]: p for p in doc["paths"]["/v1/feed"]["get"]["parameters"]}
    assert set(params) == {"limit", "cursor", "filter"}
    # The filters: one form-exploded object (?tag=x on the wire) of at most one of them.
    one_filter = params["filter"]
    assert (one_filter["style"], one_filter["explode"]) == ("form", True)
    assert one_filter["schema"]["maxProperties"] == 1
    assert set(one_filter["schema"]["properties"]) == {
        "tag",
        "type",
        "author",
        "language",
        "person",
        "place",
        "organisation",
    }


def test_every_reference_in_the_openapi_document_resolves() -> None:
    doc = openapi_document()
    text = orjson.dumps(doc).decode()
    refs = set(re.findall(r'"\$ref":"#/components/schemas/([^"]+)"', text))
    assert refs
    assert refs <= set(doc["components"]["schemas"])


async def test_the_openapi_document_is_served(env: Env) -> None:
    response = await env.get("/openapi.json")
    assert response.status_code == 200
    assert orjson.loads(response.content)["paths"].keys() == openapi_document()["paths"].keys()


async def test_json_pages_from_stored_documents_equal_the_readers_pages(env: Env) -> None:
    """The API's /v1/feed reads documents raw (ReadModelReader.documents): same bytes as
    going through the reader's models, the same visibility rule included."""
    items = [
        tagged(news_item(f"urn:raw:{i}", minute=i, headline=f"Zürich «{i}» — talks"), "EU")
        for i in range(7)
    ]
    items[2] = items[2].model_copy(
        update={
            "renditions": {"video": Rendition(href="https://media.example.org/v.mp4")},
            "text": TextStats(body_text="x", word_count=1, char_count=1),
            "reading_time_minutes": 1,
        }
    )
    await env.publish(*items)
    await env.publish(items[4].model_copy(update={"version": 2, "headline": "Updated"}))
    # A document that is no longer visible while its feed entry still is (a race
    # the reader guards against): withheld, or under an embargo not yet passed.
    withheld = items[5].model_copy(update={"pubstatus": PubStatus.withheld})
    await env.redis.set(
        env.gateway.reader.keys.item(withheld.uri), withheld.model_dump_json(exclude_none=True)
    )
    later = items[6].model_copy(update={"embargoed": utcnow() + timedelta(hours=1)})
    await env.redis.set(
        env.gateway.reader.keys.item(later.uri), later.model_dump_json(exclude_none=True)
    )
    for facet in (None, (Facet.tag, "eu")):
        cursor = None
        while True:
            raw = await env.gateway.reader.documents(3, cursor, facet)
            page = await env.gateway.reader.page(3, cursor, facet)
            assert api.stored_feed_body(raw.docs, raw.next_cursor) == api.feed_body(
                page.items, page.next_cursor
            )
            cursor = page.next_cursor
            if cursor is None:
                break
    shown = uris(await env.get("/v1/feed"))
    assert "urn:raw:5" not in shown
    assert "urn:raw:6" not in shown
    assert len(shown) == 5


async def test_several_items_come_as_one_fragment_for_the_live_page(env: Env) -> None:
    await env.publish(news_item("urn:f:1", minute=1), news_item("urn:f:2", minute=2))
    both = await env.get("/fragments/items?uri=urn:f:1&uri=urn:f:2&uri=urn:unknown")
    assert both.status_code == 200
    assert both.text.count('class="feed-item') == 2  # the unknown one is left out
    assert (await env.get("/fragments/items")).status_code == 400
    too_many = "&".join(f"uri=urn:f:{i}" for i in range(51))
    assert (await env.get(f"/fragments/items?{too_many}")).status_code == 400
    assert (await env.get("/fragments/items?url=urn:f:1")).status_code == 400
