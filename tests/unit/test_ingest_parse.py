"""Feed bytes to entries: every kind read, hostile documents refused before parsing."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest.feed_items import to_candidate
from ingest.parse import (
    FeedKind,
    HostileFeed,
    ParsedFeed,
    ParseFailed,
    author_name,
    check_xml,
    parse_feed,
)
from ingest.sources import SourceConfig
from shared.text import html_to_text

from tests.support.feed_fixtures import fixture
from tools.devstack.feed_server import Item, rss

BASE = "https://wire.example.org/feeds/main"


def parse(
    data: bytes, content_type: str | None = "application/xml", max_entries: int = 500
) -> ParsedFeed:
    return parse_feed(data, content_type, BASE, max_entries)


def test_rss2_entries_carry_guid_link_title_body_date_author_and_categories() -> None:
    feed = parse(fixture("wire.rss.xml"))
    assert feed.kind is FeedKind.rss2
    assert feed.title == "Kyiv Wire"
    assert feed.language == "en"
    first = feed.entries[0]
    assert first.guid == "wire-2026-0107-0002"
    assert first.link is not None
    assert first.link.startswith("https://wire.example.org/news/")
    assert first.title.startswith("Zelensky in Cyprus")
    assert first.content_html.startswith("<p>President Volodymyr Zelensky")
    assert first.date_raw == "Wed, 07 Jan 2026 10:40:00 +0000"
    assert first.authors == ("Kyiv Wire desk",)
    assert first.categories == ("Diplomacy",)


def test_atom_entries_use_content_and_keep_the_summary() -> None:
    feed = parse(fixture("wire.atom.xml"))
    assert feed.kind is FeedKind.atom1
    yermak = feed.entries[0]
    assert yermak.guid == "tag:wire.example.org,2026:yermak-telegram"
    assert yermak.title == "Yermak: no talks while Russian troops stay"  # html title as text
    assert yermak.content_html.startswith("<p>Andriy Yermak")
    assert yermak.summary_html is not None
    assert "chief of staff" in yermak.summary_html
    assert yermak.date_raw == "2026-01-07T09:05:00+02:00"
    assert yermak.authors == ("Olena Kovalenko",)
    text_only = feed.entries[1]
    assert (
        text_only.content_html == "<p>The alert that began at dawn was lifted after two hours.</p>"
    )


def test_rss1_entries_are_read() -> None:
    feed = parse(fixture("wire.rdf.xml"))
    assert feed.kind is FeedKind.rss1
    (entry,) = feed.entries
    assert entry.link == "https://wire.example.org/news/grain-corridor"
    assert entry.date_raw == "2026-01-07T06:30:00Z"
    assert entry.authors == ("Port desk",)


def test_json_feed_entries_are_read_with_numeric_ids_and_text_content() -> None:
    feed = parse(fixture("wire.feed.json"), "application/feed+json")
    assert feed.kind is FeedKind.jsonfeed11
    assert feed.language == "en"
    energy, budget = feed.entries
    assert energy.guid == "json-0001"
    assert energy.link == "https://wire.example.org/news/energy-grid?utm_campaign=jf"
    assert energy.summary_html == "<p>Power is back in Kharkiv, Sumy and Poltava regions.</p>"
    assert energy.categories == ("Energy", "Infrastructure")
    assert budget.guid == "2"
    assert budget.content_html == (
        "<p>The Verkhovna Rada passed the budget in a second reading.</p>"
        "<p>It goes to the president next.</p>"
    )


def test_json_feed_1_0_is_recognized() -> None:
    feed = parse(b'{"version": "https://jsonfeed.org/version/1", "items": []}', None)
    assert feed.kind is FeedKind.jsonfeed10


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b'{"items": []}', "not a JSON Feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": {}}', "items is not a list"),
        (b'{"version": ', "malformed JSON Feed"),
        (b"[" * 5000 + b"]" * 5000, "malformed JSON Feed"),
    ],
)
def test_bad_json_feeds_fail_with_a_reason(data: bytes, says: str) -> None:
    with pytest.raises(ParseFailed, match=says):
        parse(data, "application/json")


def test_entries_beyond_the_cap_are_not_read_but_counted() -> None:
    items = [Item(f"Story {n}", guid=f"g{n}") for n in range(30)]
    feed = parse(rss(items), max_entries=10)
    assert len(feed.entries) == 10
    assert feed.total_entries == 30
    assert feed.entries[0].title == "Story 0"


def test_rss_ttl_is_read_in_seconds() -> None:
    assert parse(rss([Item("x", guid="g")], ttl=15)).ttl_s == 900


def test_a_malformed_feed_that_can_be_read_leniently_carries_a_warning() -> None:
    feed = parse(fixture("malformed.xml"))
    assert feed.warning is not None
    assert "malformed" in feed.warning
    assert feed.entries[0].guid == "broken-1"


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (fixture("not_a_feed.html"), "not a feed"),
        (b"\x00\x01\x02 binary", "not XML"),
        (b"   ", "empty"),
    ],
)
def test_documents_that_are_no_feed_fail_with_a_reason(data: bytes, says: str) -> None:
    with pytest.raises(ParseFailed, match=says):
        parse(data)


# -- hostile XML ----------------------------------------------------------------


def test_external_entities_are_refused_before_parsing() -> None:
    with pytest.raises(HostileFeed, match="external entity"):
        parse(fixture("xxe.xml"))


def test_billion_laughs_is_refused_before_parsing() -> None:
    with pytest.raises(HostileFeed, match="entity expansion"):
        parse(fixture("billion_laughs.xml"))


def test_quadratic_blowup_with_one_long_entity_is_refused() -> None:
    doc = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "' + b"a" * 50_000 + b'">]>'
        b'<rss version="2.0"><channel><title>' + b"&a;" * 50_000 + b"</title></channel></rss>"
    )
    with pytest.raises(HostileFeed, match="entity expansion"):
        parse(doc)


@pytest.mark.parametrize(
    ("prolog", "says"),
    [
        (b'<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1/x.dtd"> %p;]>', "parameter"),
        (b'<!DOCTYPE r [<!ENTITY e PUBLIC "-//x//EN" "http://127.0.0.1/x">]>', "external"),
        (b"<!DOCTYPE r [<!ELEMENT r ANY>]>", "declares"),
        (b'<!-- <rss> --><!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]>', "external"),
        (b"<![CDATA[x]]>", "markup declaration"),
        (b"<!DOCTYPE r [<!ENTITY e 'x'>", "unterminated"),
        (b"<!-- never closed", "unterminated"),
    ],
    ids=[
        "parameter-entity",
        "public-entity",
        "element-decl",
        "comment-first",
        "cdata",
        "open",
        "comment",
    ],
)
def test_other_hostile_prologs_are_refused(prolog: bytes, says: str) -> None:
    doc = b'<?xml version="1.0"?>' + prolog + b'<rss version="2.0"><channel/></rss>'
    with pytest.raises(HostileFeed, match=says):
        check_xml(doc)


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_hostile_prologs_are_found_in_utf16_and_utf32_too(codec: str) -> None:
    doc = fixture("xxe.xml").decode().replace('encoding="utf-8"', f'encoding="{codec}"')
    with pytest.raises(HostileFeed):
        parse(doc.encode(codec))


def test_a_long_prolog_is_refused() -> None:
    doc = b"<?xml version='1.0'?>" + b" " * 70_000 + b"<rss/>"
    with pytest.raises(HostileFeed, match="prolog longer"):
        check_xml(doc)


def test_harmless_character_entities_are_allowed() -> None:
    feed = parse(fixture("entities_nbsp.xml"))
    assert feed.entries[0].title == "Kyiv \u2014 a quiet night"


def test_an_external_dtd_reference_is_allowed_and_never_loaded() -> None:
    doc = (
        b'<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"'
        b' "file:///etc/passwd"><rss version="0.91"><channel><title>T</title>'
        b"<item><title>x</title><link>https://wire.example.org/x</link></item></channel></rss>"
    )
    feed = parse(doc)
    assert feed.kind is FeedKind.rss09
    assert "root:" not in repr(feed)


def test_a_body_that_is_a_local_path_is_parsed_as_text_never_opened(tmp_path: Path) -> None:
    """feedparser.parse(bytes) would open a file named by the bytes: we never let it."""
    local = tmp_path / "local.xml"
    local.write_bytes(rss([Item("SECRET LOCAL FILE", guid="secret")]))
    with pytest.raises(ParseFailed):
        parse(str(local).encode())


# -- text helpers ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("desk@wire.example.org (Kyiv Wire desk)", "Kyiv Wire desk"),
        ("desk@wire.example.org", None),
        ("  Olena   Kovalenko ", "Olena Kovalenko"),
        ("", None),
        (None, None),
    ],
)
def test_author_names_from_rss_author_fields(raw: str | None, name: str | None) -> None:
    assert author_name(raw) == name


def test_html_to_text_strips_tags_and_entities() -> None:
    assert html_to_text("<p>Kyiv &amp; <b>Lviv</b></p>\n<p>today</p>") == "Kyiv & Lviv today"


def test_parsed_dates_are_kept_as_a_fallback() -> None:
    feed = parse(fixture("wire.rss.xml"))
    assert feed.entries[0].date_parsed == datetime(2026, 1, 7, 10, 40, tzinfo=UTC)


# -- any bytes at all ------------------------------------------------------------------

SOURCE = SourceConfig(id="wire", url="https://wire.example.org/rss")
SEEDS = [fixture(name) for name in ("wire.rss.xml", "wire.atom.xml", "wire.feed.json")]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(SEEDS),
    cut=st.integers(min_value=0, max_value=1500),
    junk=st.binary(max_size=64),
    where=st.integers(min_value=0, max_value=1500),
)
def test_any_mangled_feed_is_read_or_refused_with_a_reason_never_a_crash(
    seed: bytes, cut: int, junk: bytes, where: int
) -> None:
    data = seed[:where] + junk + seed[where:cut] if cut > where else seed[:cut] + junk
    try:
        feed = parse(data)
    except ParseFailed as failed:
        reason = failed.reason
    else:
        reason = "read"
        assert len(feed.entries) <= feed.total_entries
        for entry in feed.entries:  # each entry is an item, or a ValueError saying why not
            with contextlib.suppress(ValueError):
                to_candidate(
                    entry,
                    SOURCE,
                    feed_language=feed.language,
                    fetched_at=datetime(2026, 1, 7, tzinfo=UTC),
                    future_tolerance=timedelta(minutes=10),
                )
    assert reason
