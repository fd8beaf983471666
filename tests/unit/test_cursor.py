"""Feed members and keyset cursors: "Show More" must neither repeat nor skip an item."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from gateway.app import Settings, build
from shared.items import URI_MAX
from shared.readmodel import (
    BadCursor,
    DocumentPage,
    ReadModelReader,
    decode_cursor,
    encode_cursor,
    feed_member,
    member_uri,
)
from starlette.types import ASGIApp, Message

AT = datetime(2026, 1, 7, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "uri",
    [
        "urn:newsfeed:item:3f2a",
        "https://kyivindependent.com/україна-нато",
        "urn:desk|feed|item|42",
        "urn:emoji:🇺🇦",
        "x",
        "u" * URI_MAX,
    ],
    ids=["plain", "cyrillic", "pipes", "emoji", "one-char", "longest"],
)
def test_cursor_round_trips_the_member(uri: str) -> None:
    member = feed_member(AT, uri)
    cursor = encode_cursor(member)
    assert decode_cursor(cursor) == member
    assert member_uri(decode_cursor(cursor)) == uri


def test_cursor_is_url_safe_without_padding() -> None:
    for uri in ("urn:a", "urn:ab", "urn:abc", "urn:україна?"):
        cursor = encode_cursor(feed_member(AT, uri))
        assert set(cursor) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )


def test_member_is_a_fifteen_digit_stamp_then_uri() -> None:
    """Milliseconds since 0001-01-01 UTC, 15 digits, so every date sorts and parses."""
    year_one_to_1970_ms = 62_135_596_800_000
    assert feed_member(AT, "urn:x") == f"{1767780000000 + year_one_to_1970_ms:015d}|urn:x"
    assert feed_member(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC), "urn:z") == (
        f"{1000 + year_one_to_1970_ms:015d}|urn:z"
    )
    assert feed_member(datetime(1, 1, 1, tzinfo=UTC), "urn:first") == "000000000000000|urn:first"


def test_member_uri_keeps_pipes_in_the_uri() -> None:
    assert member_uri(feed_member(AT, "urn:a|b|c")) == "urn:a|b|c"


def _b64(text: str) -> str:
    return encode_cursor(text)  # encode_cursor is plain url-safe base64 of any text


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "garbage",
        "%%%%",
        "*",
        "YQ",  # "a"
        "=",
        "é",
        "MTc2Nzc4MDAwMDAwMA=====x",
        _b64("1767780000000"),  # no separator
        _b64("1767780000000|"),  # empty uri
        _b64("176778000000|urn:x"),  # 12 digits
        _b64("17677800000000|urn:x"),  # 14 digits
        _b64("17677800000x0|urn:x"),  # not digits
        _b64("|urn:x"),
        _b64("urn:x"),
        "_-_-",  # base64 of bytes that are not UTF-8
    ],
)
def test_cursors_not_handed_out_raise_bad_cursor(cursor: str) -> None:
    with pytest.raises(BadCursor):
        decode_cursor(cursor)


def test_bad_cursor_is_a_value_error_with_a_reader_facing_message() -> None:
    with pytest.raises(ValueError, match="not one this feed handed out"):
        decode_cursor("garbage")


def test_members_sort_lexically_by_time_then_uri() -> None:
    rng = random.Random(20260107)
    uris = [f"urn:newsfeed:item:{rng.choice('abcxyz')}{i}" for i in range(40)] + [
        "urn:desk|1",
        "urn:desk",
        "urn:desk0",
        "https://kyivindependent.com/україна",
        "https://kyivindependent.com/ukraine",
    ]
    pairs = [
        # Millisecond times (members keep milliseconds), many sharing an instant.
        (AT + timedelta(milliseconds=rng.choice([0, 1, 999, 1000, 60_000, 86_400_000])), uri)
        for uri in uris
    ]
    by_member = sorted(pairs, key=lambda pair: feed_member(*pair))
    assert by_member == sorted(pairs)


def test_a_later_item_sorts_after_an_earlier_one_whatever_the_uris() -> None:
    assert feed_member(AT, "urn:zzz") < feed_member(AT + timedelta(milliseconds=1), "urn:aaa")
    assert feed_member(datetime(2001, 9, 9, 1, 46, 39, tzinfo=UTC), "urn:z") < feed_member(
        datetime(2001, 9, 9, 1, 46, 40, tzinfo=UTC), "urn:a"
    )


def test_cursor_after_an_archive_item_from_before_1970_round_trips() -> None:
    member = feed_member(datetime(1969, 7, 20, 20, 17, tzinfo=UTC), "urn:archive:apollo-11")
    assert decode_cursor(encode_cursor(member)) == member


def test_cursor_after_an_item_dated_far_ahead_round_trips() -> None:
    member = feed_member(datetime(2300, 1, 1, tzinfo=UTC), "urn:typo-in-year")
    assert decode_cursor(encode_cursor(member)) == member


# -- the cursor through the gateway's HTTP layer (no Redis: a reader stub) --------


class CursorCheckingReader(ReadModelReader):
    """Validates the cursor like the real reader, and serves an empty page."""

    def __init__(self) -> None:
        self.cursors: list[str | None] = []

    async def documents(
        self, limit: int, cursor: str | None = None, *_: Any, **__: Any
    ) -> DocumentPage:
        if cursor:
            decode_cursor(cursor)
        self.cursors.append(cursor)
        return DocumentPage([], None)


async def get(app: ASGIApp, path: str, query: str) -> tuple[int, Any]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body)


def gateway(reader: ReadModelReader) -> ASGIApp:
    """The gateway's routes over `reader` (its Redis is never asked: nothing is served
    that needs it)."""
    return build(Settings(redis_url="redis://127.0.0.1:1"), reader=reader)


async def test_gateway_accepts_a_cursor_it_handed_out() -> None:
    reader = CursorCheckingReader()
    cursor = encode_cursor(feed_member(AT, "urn:newsfeed:item:3f2a"))
    status, body = await get(gateway(reader), "/v1/feed", f"cursor={cursor}")
    assert status == 200
    assert body == {"items": [], "next_cursor": None}
    assert reader.cursors == [cursor]


async def test_gateway_answers_400_for_a_forged_cursor() -> None:
    status, body = await get(gateway(CursorCheckingReader()), "/v1/feed", "cursor=garbage")
    assert status == 400
    assert "handed out" in body["error"]


async def test_gateway_accepts_the_cursor_of_a_long_non_ascii_uri() -> None:
    uri = "https://kyivindependent.com/" + "україна-" * 60  # 508 characters
    assert len(uri) <= URI_MAX
    cursor = encode_cursor(feed_member(AT, uri))
    status, _ = await get(gateway(CursorCheckingReader()), "/v1/feed", f"cursor={cursor}")
    assert status == 200
