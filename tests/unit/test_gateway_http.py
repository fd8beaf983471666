"""Plain functions of the gateway's HTTP layer: parameters, validators, gzip, the page cache."""

from __future__ import annotations

import gzip

import pytest
from gateway.cache import PageCache
from gateway.query import BadRequest, FeedQuery, parse_feed, parse_item, parse_stream
from gateway.responses import accepts_gzip, none_match, render, respond
from shared.readmodel import Facet, encode_cursor, feed_member
from starlette.requests import Request

from tests.support.builders import BASE_TIME

CURSOR = encode_cursor(feed_member(BASE_TIME, "urn:newsfeed:item:a"))


def parse(query: str) -> FeedQuery:
    pairs = [tuple(p.split("=", 1)) for p in query.split("&") if p]
    return parse_feed(pairs, default_limit=20)  # type: ignore[arg-type]


# --- parameters -------------------------------------------------------------------


def test_a_feed_request_takes_a_limit_a_cursor_and_one_filter() -> None:
    assert parse("") == FeedQuery(20)
    assert parse(f"limit=5&cursor={CURSOR}&tag=Diplomacy") == FeedQuery(
        5, CURSOR, (Facet.tag, "Diplomacy")
    )
    assert parse("type=Video").facet == (Facet.type, "video")
    assert parse("organisation= NATO ").facet == (Facet.organisation, "NATO")


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("colour=red", "unknown parameter 'colour'"),
        ("tag=a&author=b", "one filter at a time, got tag and author"),
        ("tag=a&tag=b", "'tag' is given more than once"),
        ("limit=0", "invalid parameters"),
        ("limit=101", "invalid parameters"),
        ("limit=ten", "invalid parameters"),
        ("type=poem", "invalid parameters"),
        ("tag=", "invalid parameters"),
        ("cursor=not-a-cursor!", "cursor is not one this feed handed out"),
        ("cursor=" + encode_cursor("no-stamp|urn:a"), "cursor is not one this feed handed out"),
        ("cursor=" + "A" * 5000, "invalid parameters"),
    ],
)
def test_bad_feed_parameters_are_a_bad_request_that_says_why(query: str, says: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse(query)
    assert says in caught.value.message


def test_item_and_stream_parameters() -> None:
    assert parse_item([("format", "ninjs")]).format == "ninjs"
    with pytest.raises(BadRequest):
        parse_item([("format", "xml")])
    assert parse_stream([("tag", "x")], None) == ((Facet.tag, "x"), None)
    # The header wins over the query parameter (EventSource resends the header).
    assert parse_stream([("last_event_id", "5-0")], "7-1") == (None, ((7, 1),))
    # 0: from the start of what the stream holds; a position has one id per partition.
    assert parse_stream([("last_event_id", "0")], None) == (None, ())
    assert parse_stream([], "5-0.7-1") == (None, ((5, 0), (7, 1)))
    with pytest.raises(BadRequest):
        parse_stream([], "garbage")
    with pytest.raises(BadRequest):
        parse_stream([("last_event_id", "x")], None)


@pytest.mark.parametrize(
    ("query", "header"),
    [
        ([], f"1-{2**64}"),  # 20 digits, but past what Redis takes
        ([("last_event_id", f"{2**64}-0")], None),
        ([], "\u0661-0"),  # a digit, not an ASCII one
    ],
)
def test_a_last_event_id_redis_could_not_take_is_a_bad_request(
    query: list[tuple[str, str]], header: str | None
) -> None:
    with pytest.raises(BadRequest):
        parse_stream(query, header)
    top = 2**64 - 1
    assert parse_stream([], f"{top}-{top}") == (None, ((top, top),))


# --- validators and encodings -------------------------------------------------


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("gzip;q=0", False),
        ("identity", False),
        ("*", True),
        ("", False),
    ],
)
def test_accept_encoding(header: str, ok: bool) -> None:
    assert accepts_gzip(header) is ok


def test_if_none_match_compares_weakly_and_knows_both_representations() -> None:
    assert none_match('"abc"', '"abc"', None)
    assert none_match('W/"abc"', '"abc"', None)
    assert none_match('"x", "abc-gz"', '"abc"', '"abc-gz"')
    assert none_match("*", '"abc"', None)
    assert not none_match('"abd"', '"abc"', '"abc-gz"')


def request(headers: dict[str, str], method: str = "GET") -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": method, "path": "/", "headers": raw})


def test_a_rendered_body_is_served_plain_gzipped_or_not_modified() -> None:
    body = b'{"items": []}' * 200
    rendered = render(body, "application/json", "public, max-age=5")
    plain = respond(request({}), rendered)
    assert plain.body == body
    assert plain.headers["etag"] == rendered.etag
    assert plain.headers["vary"] == "accept-encoding"
    assert plain.headers["cache-control"] == "public, max-age=5"
    zipped = respond(request({"accept-encoding": "gzip"}), rendered)
    assert zipped.headers["content-encoding"] == "gzip"
    assert gzip.decompress(zipped.body) == body
    assert zipped.headers["etag"] != rendered.etag  # another representation, another strong tag
    assert int(zipped.headers["content-length"]) == len(zipped.body)
    for tag in (rendered.etag, zipped.headers["etag"]):
        not_modified = respond(request({"if-none-match": tag}), rendered)
        assert not_modified.status_code == 304
        assert not_modified.body == b""
        assert not_modified.headers["etag"] == rendered.etag
    stale = respond(request({"if-none-match": '"old"'}), rendered)
    assert stale.status_code == 200


def test_small_bodies_are_not_compressed() -> None:
    rendered = render(b"{}", "application/json", "no-store")
    assert not rendered.compressible
    assert "content-encoding" not in respond(request({"accept-encoding": "gzip"}), rendered).headers


# --- the first-page cache -----------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_cache_drops_everything_on_invalidation_and_refuses_stale_puts() -> None:
    cache = PageCache(10, 30, clock=Clock())
    page = render(b"page", "text/plain", "no-cache")
    generation = cache.generation
    cache.put("k", page, generation, "all")
    assert cache.get("k") is page
    cache.invalidate()
    assert cache.get("k") is None
    cache.put("k", page, generation, "all")  # computed before the invalidation: not stored
    assert cache.get("k") is None
    cache.put("k", page, cache.generation, "all")
    assert cache.get("k") is page


def test_the_cache_is_bounded_in_size_and_age() -> None:
    clock = Clock()
    cache = PageCache(2, 30, clock=clock)
    page = render(b"page", "text/plain", "no-cache")
    for key in ("a", "b"):
        cache.put(key, page, cache.generation, "all")
    assert cache.get("a") is page  # "a" is now the most recently used
    cache.put("c", page, cache.generation, "all")
    assert cache.get("b") is None
    assert cache.get("a") is page
    clock.now = 31
    assert cache.get("a") is None


def test_the_older_page_cache_is_bounded_in_bytes() -> None:
    cache = PageCache(100, 30, clock=Clock(), max_bytes=10)
    small, large = render(b"1234", "text/plain", "x"), render(b"x" * 11, "text/plain", "x")
    for key in ("a", "b"):
        cache.put(key, small, cache.generation, "all")
    cache.put("c", small, cache.generation, "all")  # 12 bytes: the least recently used goes
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, small, small)
    assert cache.bytes == 8
    cache.put("d", large, cache.generation, "all")  # larger than the whole cache: not kept
    assert cache.get("d") is None
    assert cache.get("b") is small
