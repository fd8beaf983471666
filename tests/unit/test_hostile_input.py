"""Hostile input found by the attack run of issue 18, one regression test each:
what ingest refuses at the door, and what no stored value can do to an output."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser

import httpx
import pytest
from gateway.query import FeedQuery
from gateway.render import syndication
from gateway.render.html import HtmlRenderer, PageConfig
from gateway.render.jsonfeed import json_feed
from gateway.render.links import FeedLinks
from gateway.render.ninjs import to_ninjs
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from ingest.app import Settings, build
from lxml import etree
from shared.items import STORED_BODY_MAX, Author, NewsItem

from tests.support.builders import news_item
from tests.support.services import TOKEN

# The two dates of the report: in UTC one is past year 9999, the other before year 1.
EDGE_DATES = [
    datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14))),
    datetime(1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=14))),
]
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def ingest_client() -> httpx.AsyncClient:
    """The ingest app without its lifespan: what the door refuses never reaches Redis."""
    app = build(Settings(redis_url="redis://127.0.0.1:1/0", ingest_token=TOKEN))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest")


# -- 1. dates --------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["firstcreated", "embargoed"])
@pytest.mark.parametrize(
    "value",
    ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "1799-12-31T23:59:59Z"],
)
async def test_an_implausible_date_is_a_clear_422(field: str, value: str) -> None:
    async with ingest_client() as client:
        response = await client.post(
            "/v1/items", json={"uri": "urn:x", "headline": "h", field: value}, headers=AUTH
        )
    assert response.status_code == 422
    problem = response.json()["detail"][0]
    assert problem["field"] == field
    assert "1800-01-01" in problem["problem"]
    assert "2200-01-01" in problem["problem"]


@pytest.mark.parametrize("value", ["1800-01-01T00:00:00Z", "2199-12-31T23:59:59Z"])
async def test_dates_at_the_edges_of_the_range_pass_the_door(value: str) -> None:
    from ingest.submission import Submission

    assert Submission.model_validate({"headline": "h", "firstcreated": value}).firstcreated


def dated(at: datetime) -> NewsItem:
    return news_item("urn:x").model_copy(
        update={"firstcreated": at, "embargoed": at, "updated": at, "versioncreated": at}
    )


@pytest.mark.parametrize("at", EDGE_DATES, ids=["year-9999-at-minus-14", "year-1-at-plus-14"])
def test_no_stored_date_makes_an_output_fail(at: datetime) -> None:
    """Items stored before the door checked dates still render, in every format."""
    item = dated(at)
    html = HtmlRenderer(PageConfig(static={"feed.css": "/c", "feed.js": "/j", "icon.svg": "/i"}))
    query = FeedQuery(20)
    assert b"Zelensky" in html.page([item], None, query, stream_since=None)
    assert html.fragment_feed([item], None, query)
    assert html.fragment_item(item)
    page = html.item_page(item).decode()
    assert ('datetime="9999-12-31T23:59:59' in page) or ('datetime="0001-01-01T00:00:00' in page)
    links = FeedLinks("https://news.example.org", query, 20)
    assert syndication.rss([item], None, links, title="t", description="d")
    assert syndication.atom([item], None, links, title="t", description="d", tombstones=[])
    assert json_feed([item], None, links, title="t", description="d")["items"]
    assert to_ninjs(item)


def test_a_feed_date_past_what_utc_can_hold_is_unreadable_not_an_error() -> None:
    from ingest.dates import parse_date

    assert parse_date("9999-12-31T23:59:59-14:00") is None


# -- 2. plain text stays plain text ------------------------------------------------------

XSS_TEXT = "<img src=x onerror=alert(document.domain)> & </p><!-- <script>alert(1)</script>"


class _Elements(HTMLParser):
    """What a reader that renders a field as HTML would build from it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(tag)

    def handle_endtag(self, tag: str) -> None:
        self.elements.append("/" + tag)

    def handle_comment(self, data: str) -> None:
        self.elements.append("!--")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def as_rendered_html(field: str) -> _Elements:
    parser = _Elements()
    parser.feed(field)
    parser.close()
    return parser


def hostile_item() -> NewsItem:
    return news_item("urn:x").model_copy(update={"description_text": XSS_TEXT})


def test_an_rss_description_shows_the_plain_text_and_builds_no_element() -> None:
    links = FeedLinks("https://news.example.org", FeedQuery(20), 20)
    document = etree.fromstring(
        syndication.rss([hostile_item()], None, links, title="t", description="d")
    )
    description = document.findtext("channel/item/description")
    rendered = as_rendered_html(description)
    assert rendered.elements == []
    assert "".join(rendered.text) == XSS_TEXT


def test_an_atom_summary_is_text_with_the_characters_as_given() -> None:
    links = FeedLinks("https://news.example.org", FeedQuery(20), 20)
    document = etree.fromstring(
        syndication.atom([hostile_item()], None, links, title="t", description="d", tombstones=[])
    )
    atom = "{http://www.w3.org/2005/Atom}"
    summary = document.find(f"{atom}entry/{atom}summary")
    assert summary is not None
    assert summary.get("type", "text") == "text"
    assert summary.text == XSS_TEXT


def test_a_json_feed_summary_builds_no_element_even_read_as_html() -> None:
    links = FeedLinks("https://news.example.org", FeedQuery(20), 20)
    entry = json_feed([hostile_item()], None, links, title="t", description="d")["items"][0]
    assert as_rendered_html(entry["summary"]).elements == []
    # Still the same words for a reader that shows the text as text.
    assert entry["summary"].replace("< ", "<") == XSS_TEXT


# -- 6. what ingest accepts, every later stage accepts -----------------------------------

LONG_ONCE_ENCODED = "https://xss.test/" + "<" * 700  # 717 characters, 2,817 percent-encoded


@pytest.mark.parametrize(
    "fields",
    [
        {"authors": [{"name": "A", "avatar_url": LONG_ONCE_ENCODED}]},
        {"renditions": {"main": {"href": LONG_ONCE_ENCODED}}},
        {"link": LONG_ONCE_ENCODED},
    ],
    ids=["avatar_url", "rendition_href", "link"],
)
async def test_a_url_too_long_once_normalized_is_refused_at_the_door(
    fields: dict[str, object],
) -> None:
    async with ingest_client() as client:
        response = await client.post(
            "/v1/items", json={"uri": "urn:x", "headline": "h", **fields}, headers=AUTH
        )
    assert response.status_code == 422
    assert "percent-encoded" in response.text


def test_an_accepted_submission_decodes_in_the_next_stage() -> None:
    """The longest URL the door takes survives ingest's event and enrichment's decode."""
    from ingest.submission import Submission, to_item
    from shared.events import EventType, decode, encode, make_event

    url = "https://xss.test/" + "<" * ((2083 - 17) // 3)
    submission = Submission.model_validate(
        {"headline": "h", "authors": [{"name": "A", "avatar_url": url}], "link": url}
    )
    now = datetime(2026, 1, 1, tzinfo=UTC)
    item = to_item(submission, uri="urn:x", version=1, firstcreated=now, now=now)
    event = decode(encode(make_event(EventType.ingested, "/ingest", item, "ab" * 16)))
    assert event.data.authors[0].avatar_url == item.authors[0].avatar_url


# -- 1. no stored value makes an output fail (property) ------------------------------

_offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
_any_time = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59), timezones=_offsets
)
_text = st.text(max_size=80)


# No shrinking: rendering is slow enough that shrinking a failure took minutes.
@settings(
    max_examples=60,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    uri=st.from_regex(r"[^\s\x00-\x1f]{1,40}", fullmatch=True),
    times=st.lists(_any_time, min_size=3, max_size=3),
    headline=_text,
    description=st.none() | _text,
    author=_text.filter(lambda name: name != ""),
    language=st.none() | _text,
    ednote=st.none() | _text,
)
def test_any_item_the_model_holds_renders_in_every_output(
    uri: str,
    times: list[datetime],
    headline: str,
    description: str | None,
    author: str,
    language: str | None,
    ednote: str | None,
) -> None:
    """Whatever a stored item holds (the model's types, not the door's rules), every
    output renders it: the pages, fragments, feeds and ninjs."""
    item = news_item(uri, headline=headline[:500]).model_copy(
        update={
            "firstcreated": times[0],
            "versioncreated": times[1],
            "embargoed": times[2],
            "updated": times[1],
            "description_text": description,
            "authors": (Author(name=author[:200]),),
            "language": language,
            "ednote": ednote,
        }
    )
    html = HtmlRenderer(PageConfig(static={"feed.css": "/c", "feed.js": "/j", "icon.svg": "/i"}))
    query = FeedQuery(20)
    html.page([item], None, query, stream_since=None)
    html.item_page(item)
    html.fragment_item(item)
    links = FeedLinks("https://news.example.org", query, 20)
    etree.fromstring(syndication.rss([item], None, links, title="t", description="d"))
    etree.fromstring(
        syndication.atom([item], None, links, title="t", description="d", tombstones=[])
    )
    json_feed([item], None, links, title="t", description="d")
    to_ninjs(item)


# The shortest markup of each kind the sanitizer keeps, lengthens or rebuilds.
GROWING_MARKUP = [
    "<a>",
    "<a href=#>",
    "<a href=x>&",
    "<a title=x>",
    "<a href=x/>",
    "&",
    "<",
    "<table><td>",
    "<ul><li>",
    "<p>",
    "<iframe src=https://www.youtube-nocookie.com/embed/abcdef>",
]


@pytest.mark.parametrize("unit", GROWING_MARKUP)
def test_the_largest_body_ingest_takes_sanitizes_within_the_stored_limit(unit: str) -> None:
    """A body_html at the submission limit, made of markup the sanitizer lengthens,
    is still one enrichment can store (a 200,000-character body of "<a>" once
    sanitized to 2.8 million characters and was dead-lettered for good)."""
    from enrichment.config import EnrichmentConfig
    from enrichment.enrichers import sanitize
    from shared.items import BODY_MAX

    body = (unit * (BODY_MAX // len(unit) + 1))[:BODY_MAX]
    item = news_item("urn:x", body_html=body)
    assert len(sanitize.build(EnrichmentConfig()).enrich(item)["body_html"]) <= STORED_BODY_MAX
