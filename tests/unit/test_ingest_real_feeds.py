"""Issue 14 and 18.3/18.9: what real feeds showed, one regression test per defect
(parsing, dates, text, media, ninjs), and the corpus of real feeds read the way
feedparser reads it. Identity and re-polls, which need Redis, are in
tests/integration/test_ingest_real_feeds.py."""

from __future__ import annotations

import tracemalloc
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ingest.dates import parse_date
from ingest.feed_items import Candidate, to_candidate
from ingest.media import YOUTUBE_EMBED, Media, xml_entry_media
from ingest.ninjs_in import from_ninjs, is_ninjs
from ingest.parse import FeedKind, ParseFailed, cut_at_cap, parse_feed
from ingest.sources import SourceConfig
from ingest.submission import Submission
from pydantic import ValidationError
from shared.text import html_to_lines, html_to_text

from tests.support.corpus import corpus_feeds
from tests.support.feed_check import check

BASE = "https://feeds.example.org/feed.xml"
SOURCE = SourceConfig.model_validate({"id": "real", "url": BASE})
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def candidates(
    body: bytes, content_type: str | None = None, max_entries: int = 500
) -> list[Candidate]:
    parsed = parse_feed(body, content_type, BASE, max_entries)
    return [
        to_candidate(
            e, SOURCE, feed_language=parsed.language, fetched_at=NOW, future_tolerance=timedelta(0)
        )
        for e in parsed.entries
    ]


# -- 14.3 and 14.4: feeds readers read -----------------------------------------------------


def test_rss_without_a_version_attribute_is_read() -> None:
    body = (
        b"<rss><channel><title>Folha</title><link>https://e.org/</link>"
        b"<item><title>Manchete</title><link>https://e.org/a</link></item></channel></rss>"
    )
    parsed = parse_feed(body, "text/xml", BASE, 10)
    assert parsed.kind is FeedKind.rss
    assert [e.title for e in parsed.entries] == ["Manchete"]


def test_atom_without_its_namespace_is_read() -> None:
    body = (
        b"<feed><title>t</title><entry><id>tag:e.org,2026:1</id><title>One</title></entry></feed>"
    )
    parsed = parse_feed(body, "application/atom+xml", BASE, 10)
    assert parsed.kind is FeedKind.atom
    assert [(e.guid, e.title) for e in parsed.entries] == [("tag:e.org,2026:1", "One")]


@pytest.mark.parametrize(
    ("version", "kind"),
    [
        ("http://jsonfeed.org/version/1", FeedKind.jsonfeed10),
        ("https://jsonfeed.org/version/1", FeedKind.jsonfeed10),
        ("https://jsonfeed.org/version/1.1", FeedKind.jsonfeed11),
        ("http://jsonfeed.org/version/1.1/", FeedKind.jsonfeed11),
    ],
)
def test_json_feed_versions_as_published_are_read(version: str, kind: FeedKind) -> None:
    body = f'{{"version": "{version}", "items": [{{"id": "1", "title": "T"}}]}}'.encode()
    assert parse_feed(body, "application/json", BASE, 10).kind is kind


def test_a_json_document_that_is_no_json_feed_is_still_refused() -> None:
    with pytest.raises(ParseFailed, match="not a JSON Feed"):
        parse_feed(b'{"version": "1.0", "items": []}', "application/json", BASE, 10)


# -- 14.5: one HTML-to-text ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>First.</p><p>Second.</p>", "First. Second."),
        ("x<br>y", "x y"),
        ("x<br/>y<BR >z", "x y z"),
        ("<div>a</div><div>b</div>", "a b"),
        ("<h1>Title</h1>Body<li>one<li>two", "Title Body one two"),
        ("<td>a</td><td>b</td>", "a b"),
        ("Tom &amp; Jerry &lt;3 <b>now</b>", "Tom & Jerry <3 now"),
        ("a < b and c > d", "a < b and c > d"),
        ("<p>x<script>alert(1)</script>y</p><!-- note -->", "xy"),
        ("<![>Summary<![CDATA[", "Summary"),
        ("plain\n\n text", "plain text"),
    ],
)
def test_html_to_text_keeps_words_apart(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_html_to_lines_gives_one_line_per_block() -> None:
    assert html_to_lines("<p>First.</p><p>Second<br>line</p>") == "First.\nSecond\nline"


def test_a_feed_summary_becomes_text_with_its_words_apart() -> None:
    body = (
        b'<rss version="2.0"><channel><title>t</title><item><title>T</title><guid>1</guid>'
        b"<description>&lt;p&gt;First.&lt;/p&gt;&lt;p&gt;Second.&lt;/p&gt;x&lt;br&gt;y</description>"
        b'<content:encoded xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        b"&lt;p&gt;Full text.&lt;/p&gt;</content:encoded></item></channel></rss>"
    )
    (candidate,) = candidates(body)
    assert candidate.submission.description_text == "First. Second. x y"


# -- 14.6: RFC 822 zones ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "utc"),
    [
        ("Mon, 26 Jun 2017 10:11:12 +05:30", datetime(2017, 6, 26, 4, 41, 12, tzinfo=UTC)),
        ("Mon, 26 Jun 2017 10:11:12 -0400 (EDT)", datetime(2017, 6, 26, 14, 11, 12, tzinfo=UTC)),
        ("Mon, 26 Jun 2017 10:11:12 ET", datetime(2017, 6, 26, 15, 11, 12, tzinfo=UTC)),
        ("Mon, 26 Jun 2017 10:11:12 GMT+2", datetime(2017, 6, 26, 8, 11, 12, tzinfo=UTC)),
        ("Mon, 26 Jun 2017 10:11:12 PDT", datetime(2017, 6, 26, 17, 11, 12, tzinfo=UTC)),
        ("Mon, 26 Jun 2017 10:11:12 +0000", datetime(2017, 6, 26, 10, 11, 12, tzinfo=UTC)),
    ],
)
def test_rfc822_dates_are_read_in_their_own_zone(raw: str, utc: datetime) -> None:
    assert parse_date(raw) == utc


def test_a_date_without_a_zone_is_read_in_the_sources_zone() -> None:
    from zoneinfo import ZoneInfo

    kyiv = parse_date("Mon, 26 Jun 2017 10:11:12", ZoneInfo("Europe/Kyiv"))
    assert kyiv == datetime(2017, 6, 26, 7, 11, 12, tzinfo=UTC)


# -- 14.7: media as renditions ----------------------------------------------------------------

PODCAST = b"""<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">
<channel><title>Pod</title><link>https://pod.example.org/</link>
<item><title>Episode 1</title><guid>ep-1</guid><link>https://pod.example.org/</link>
<enclosure url="https://cdn.example.org/ep1.mp3" length="36030594" type="audio/mpeg"/>
<itunes:duration>00:37:07</itunes:duration>
<itunes:image href="https://cdn.example.org/ep1.jpg"/></item></channel></rss>"""

MEDIA_RSS = b"""<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>t</title>
<item><title>Clip</title><guid>clip-1</guid>
<media:group>
<media:content url="https://cdn.example.org/clip.mp4" type="video/mp4" fileSize="1000"
 duration="62.5" width="1280" height="720" medium="video"/>
<media:content url="https://cdn.example.org/clip.webm" type="video/webm"/>
<media:thumbnail url="/poster.jpg" width="640" height="360"/>
</media:group></item>
<item><title>Story with a photo</title><guid>photo-1</guid><description>Text.</description>
<media:content url="https://cdn.example.org/p.jpg" medium="image" width="800" height="600"/>
</item></channel></rss>"""

YOUTUBE = b"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015" xmlns:media="http://search.yahoo.com/mrss/"
 xmlns="http://www.w3.org/2005/Atom"><title>Channel</title>
<entry><id>yt:video:0A1ouV7iD8o</id><yt:videoId>0A1ouV7iD8o</yt:videoId><title>Talk</title>
<link rel="alternate" href="https://www.youtube.com/watch?v=0A1ouV7iD8o"/>
<published>2023-07-20T17:00:00+00:00</published>
<media:group><media:title>Talk</media:title>
<media:content url="https://www.youtube.com/v/0A1ouV7iD8o?version=3"
 type="application/x-shockwave-flash" width="640" height="390"/>
<media:thumbnail url="https://i1.ytimg.com/vi/0A1ouV7iD8o/hqdefault.jpg" width="480" height="360"/>
<media:description>What was said.</media:description></media:group></entry></feed>"""


def renditions(candidate: Candidate) -> dict[str, dict[str, Any]]:
    return {
        name: r.model_dump(mode="json", exclude_none=True)
        for name, r in candidate.submission.renditions.items()
    }


def test_a_podcast_episode_is_an_audio_item_with_its_file_and_cover() -> None:
    (episode,) = candidates(PODCAST)
    assert episode.submission.type.value == "audio"
    assert renditions(episode) == {
        "audio": {
            "href": "https://cdn.example.org/ep1.mp3",
            "contenttype": "audio/mpeg",
            "sizeinbytes": 36030594,
            "duration": 2227.0,
        },
        "thumbnail": {"href": "https://cdn.example.org/ep1.jpg", "contenttype": "image/jpeg"},
    }


def test_media_rss_groups_become_a_video_item_with_a_poster() -> None:
    clip, photo = candidates(MEDIA_RSS)
    assert clip.submission.type.value == "video"
    assert renditions(clip) == {
        "video": {
            "href": "https://cdn.example.org/clip.mp4",
            "contenttype": "video/mp4",
            "sizeinbytes": 1000,
            "duration": 62.5,
            "width": 1280,
            "height": 720,
        },
        "video-2": {"href": "https://cdn.example.org/clip.webm", "contenttype": "video/webm"},
        "thumbnail": {
            "href": "https://feeds.example.org/poster.jpg",
            "contenttype": "image/jpeg",
            "width": 640,
            "height": 360,
        },
    }
    assert photo.submission.type.value == "text"  # a story with a picture is still a story
    assert renditions(photo) == {
        "picture": {
            "href": "https://cdn.example.org/p.jpg",
            "contenttype": "image/jpeg",
            "width": 800,
            "height": 600,
        }
    }


def test_a_youtube_channel_entry_is_a_video_with_the_embeddable_player_and_its_poster() -> None:
    (talk,) = candidates(YOUTUBE, "application/atom+xml")
    assert talk.submission.type.value == "video"
    assert renditions(talk) == {
        "video": {
            "href": YOUTUBE_EMBED + "0A1ouV7iD8o",
            "contenttype": "text/html",
            "width": 640,
            "height": 390,
        },
        "thumbnail": {
            "href": "https://i1.ytimg.com/vi/0A1ouV7iD8o/hqdefault.jpg",
            "contenttype": "image/jpeg",
            "width": 480,
            "height": 360,
        },
    }


def test_json_feed_attachments_and_image_are_renditions() -> None:
    body = (
        b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "1", "title": "Ep",'
        b' "image": "https://cdn.example.org/c.png", "attachments": [{"url":'
        b' "https://cdn.example.org/e.m4a", "mime_type": "audio/x-m4a",'
        b' "size_in_bytes": 99, "duration_in_seconds": 60}]}]}'
    )
    (episode,) = candidates(body, "application/feed+json")
    assert episode.submission.type.value == "audio"
    assert set(renditions(episode)) == {"audio", "thumbnail"}
    assert renditions(episode)["audio"]["duration"] == 60


# -- 14.8: ninjs 2.2 renditions and documents ---------------------------------------------------


def test_ninjs_22_renditions_array_and_the_map_are_one_thing() -> None:
    listed = Submission.model_validate(
        {"headline": "h", "renditions": [{"name": "web", "href": "https://e.org/v.mp4"}]}
    )
    mapped = Submission.model_validate(
        {"headline": "h", "renditions": {"web": {"href": "https://e.org/v.mp4"}}}
    )
    assert listed == mapped


@pytest.mark.parametrize(
    ("renditions", "problem"),
    [
        ([{"href": "https://e.org/v.mp4"}], "with a name"),
        (
            [{"name": "a", "href": "https://e.org/1"}, {"name": "a", "href": "https://e.org/2"}],
            "twice",
        ),
        ([{"name": "a", "href": "https://e.org/1", "colour": "red"}], "Extra inputs"),
    ],
)
def test_a_bad_renditions_array_is_refused_with_the_reason(
    renditions: list[dict[str, str]], problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem):
        Submission.model_validate({"headline": "h", "renditions": renditions})


def test_a_ninjs_document_maps_onto_a_submission_and_names_what_it_leaves_out() -> None:
    document = {
        "uri": "urn:newsfeed:id:a%7Cb",
        "standard": {"name": "ninjs", "version": "2.2"},
        "version": "3",
        "type": "text",
        "headlines": [{"role": "main", "contenttype": "text/plain", "value": "Headline"}],
        "bodies": [
            {"role": "main", "contenttype": "text/plain", "value": "Plain"},
            {"role": "main", "contenttype": "text/html", "value": "<p>Body</p>"},
        ],
        "descriptions": [
            {"role": "correction", "value": "Fixed"},
            {"role": "summary", "contenttype": "text/html", "value": "<p>One.</p><p>Two.</p>"},
        ],
        "by": "Olena Kovalenko",
        "subjects": [{"name": "Energy", "confidence": 90, "relevance": 50}],
        "renditions": [{"name": "web", "href": "https://e.org/v.mp4"}],
        "altids": [
            {"role": "newsfeed-uri", "value": "a|b"},
            {"role": "canonical-url", "value": "https://e.org/story"},
        ],
        "people": [{"name": "Someone"}],
        "genres": [{"name": "Current"}],
    }
    assert is_ninjs(document)
    fields, ignored = from_ninjs(document)
    submission = Submission.model_validate(fields)
    assert submission.uri == "a|b"
    assert submission.headline == "Headline"
    assert submission.body_html == "<p>Body</p>"
    assert submission.description_text == "One. Two."
    assert [a.name for a in submission.authors] == ["Olena Kovalenko"]
    assert submission.subjects[0].confidence == 0.9
    assert str(submission.link) == "https://e.org/story"
    assert set(submission.renditions) == {"web"}
    assert ignored == ["genres", "people", "standard", "version"]


# -- 18.3 and 18.9: one bad entry, and the entry cap while parsing ------------------------------


def test_an_entry_that_breaks_the_html_parser_is_read_and_the_feed_goes_on() -> None:
    body = (
        b'<rss version="2.0"><channel><title>t</title>'
        b"<item><title>Bad</title><guid>1</guid><description>&lt;![&gt;x</description>"
        b'<content:encoded xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        b"&lt;p&gt;Full&lt;/p&gt;</content:encoded></item>"
        b"<item><title>Good</title><guid>2</guid><description>fine</description></item>"
        b"</channel></rss>"
    )
    got = candidates(body)
    assert [c.submission.headline for c in got] == ["Bad", "Good"]


def test_an_entry_that_cannot_be_read_is_skipped_counted_and_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ingest.parse as parse

    real = xml_entry_media

    def broken(entry: Mapping[str, Any], base_url: str) -> tuple[Media, ...]:
        if entry.get("id", "").endswith("/1"):
            raise AssertionError("unexpected '<![' in the parser")
        return real(entry, base_url)

    monkeypatch.setattr(parse, "xml_entry_media", broken)
    body = (
        b'<rss version="2.0"><channel><title>t</title>'
        b"<item><title>Bad</title><guid>1</guid></item>"
        b"<item><title>Good</title><guid>2</guid></item></channel></rss>"
    )
    parsed = parse_feed(body, None, BASE, 10)
    assert [e.title for e in parsed.entries] == ["Good"]
    assert parsed.skipped == 1
    assert parsed.last_skip is not None
    assert parsed.last_skip.startswith("entry 1 (")


def many_entries(count: int) -> bytes:
    items = b"".join(
        b"<item><title>t%d</title><guid>g%d</guid></item>" % (n, n) for n in range(count)
    )
    return b'<rss version="2.0"><channel><title>t</title>' + items + b"</channel></rss>"


def test_the_entry_cap_holds_while_parsing() -> None:
    body = many_entries(100_000)
    assert len(body) > 2_900_000
    tracemalloc.start()
    try:
        parsed = parse_feed(body, None, BASE, 500)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(parsed.entries) == 500
    assert parsed.entries[0].title == "t0"
    assert parsed.entries[-1].title == "t499"
    assert parsed.total_entries == 100_000
    # Reading all 100,000 entries first took ~90 MB; the first 500 take a few.
    assert peak < 30_000_000, f"parsing took a {peak / 1e6:.0f} MB peak"


def test_a_cut_document_closes_what_is_open_and_skips_cdata() -> None:
    body = (
        b'<rss version="2.0"><channel><title>t</title>'
        b"<item><title>1</title><description><![CDATA[<item>not one</item>]]></description></item>"
        b"<item><title>2</title></item><item><title>3</title></item></channel></rss>"
    )
    cut, counted = cut_at_cap(body, 2)
    assert counted == 3  # the CDATA section holds text, not an entry
    assert cut.endswith(b"<item><title>2</title></item></channel></rss>")
    assert [e.title for e in parse_feed(body, None, BASE, 2).entries] == ["1", "2"]


# -- the corpus: feedparser's own test feeds ------------------------------------------------------


def test_every_corpus_feed_feedparser_reads_is_read_by_ingest_field_by_field() -> None:
    feeds = list(corpus_feeds())
    assert len(feeds) > 2000
    refused: list[str] = []
    mismatches: list[str] = []
    items = 0
    for feed in feeds:
        checked = check(feed.name, feed.body, "http://127.0.0.1:8097/tests/" + feed.name)
        if checked.feedparser_reads and not checked.ingest_reads:
            refused.append(f"{feed.name}: {checked.refusal}")
        mismatches += checked.examples
        items += checked.entries
    assert refused == []
    assert mismatches == []
    assert items > 800
