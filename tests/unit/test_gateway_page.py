"""The HTML page's plain functions: what is escaped, what is shown, what loads on click."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from gateway.app import content_security_policy
from gateway.query import FeedQuery
from gateway.render.embeds import DEFAULT_FRAME_HOSTS, click_to_load
from gateway.render.html import HtmlRenderer, PageConfig, excerpt, initials, item_view
from shared.items import Author, ItemType, NewsItem, Rendition, TextStats

from tests.support.builders import BASE_TIME, news_item

YOUTUBE = "https://www.youtube-nocookie.com/embed/abcdef123"
# What enrichment's sanitizer writes for an allowed embed.
SANITIZED_IFRAME = (
    f'<iframe src="{YOUTUBE}" width="560" height="315" title="Briefing" allowfullscreen="" '
    'sandbox="allow-scripts allow-same-origin allow-presentation" '
    'referrerpolicy="strict-origin-when-cross-origin" loading="lazy"></iframe>'
)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags_of(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


def test_an_allowed_embed_becomes_a_link_that_loads_nothing_until_clicked() -> None:
    body = f"<p>Watch:</p>{SANITIZED_IFRAME}<p>After.</p>"
    out = click_to_load(body)
    assert "<iframe" not in out
    assert out.startswith("<p>Watch:</p><figure")
    assert out.endswith("<p>After.</p>")
    figure, link = tags_of(out)[1:3]
    assert figure == (
        "figure",
        {"class": "embed", "data-embed-src": YOUTUBE, "data-embed-title": "Briefing"},
    )
    assert link[1]["href"] == YOUTUBE
    assert "loads from www.youtube-nocookie.com" in out


@pytest.mark.parametrize(
    "iframe",
    [
        '<iframe src="https://evil.example/embed/abcdef123"></iframe>',
        '<iframe src="http://www.youtube-nocookie.com/embed/abcdef123"></iframe>',
        '<iframe src="https://user@player.vimeo.com/video/1"></iframe>',
        '<iframe src="https://player.vimeo.com:8443/video/1"></iframe>',
        '<iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;"></iframe>',
        '<IFRAME SRC="javascript:alert(1)"></IFRAME>',
        '<iframe src="https://player.vimeo.com/video/1">',  # never closed
    ],
)
def test_any_other_iframe_is_dropped(iframe: str) -> None:
    out = click_to_load(f"<p>a</p>{iframe}")
    assert "iframe" not in out.lower()
    assert out.startswith("<p>a</p>")


def test_text_that_only_looks_like_an_iframe_is_left_alone() -> None:
    body = '<p><a title="<iframe src=x>" href="https://example.org/">link</a> &lt;iframe&gt;</p>'
    assert click_to_load(body) == body


def test_initials_and_excerpts() -> None:
    assert initials("The Kyiv Independent news desk") == "KI"
    assert initials("olena example") == "OE"
    assert initials("Newsfeed news desk") == "NN"
    assert initials("Ð") == "Ð"
    long = news_item("urn:a").model_copy(
        update={
            "text": TextStats(
                body_text="First paragraph here.\n" + " ".join(["word"] * 300),
                word_count=303,
                char_count=1500,
            )
        }
    )
    assert excerpt(long, 120) == ["First paragraph here."]
    summary = long.model_copy(update={"description_text": "In short."})
    assert excerpt(summary, 120) == ["In short."]


def renderer(**config: Any) -> HtmlRenderer:
    return HtmlRenderer(
        PageConfig(
            static={"feed.css": "/c", "feed.js": "/j", "icon.svg": "/i", "poster.svg": "/p"},
            **config,
        )
    )


def test_everything_but_the_sanitized_body_is_escaped() -> None:
    hostile = "<img src=x onerror=alert(1)>"
    item = news_item('urn:x"><script>', headline=f"Head {hostile}").model_copy(
        update={
            "authors": (
                Author(
                    name=f"Name {hostile}",
                    role=hostile,
                    biography=f"Bio {hostile}",
                    avatar_url="https://evil.example/a.png",
                ),
            ),
            "reading_time_minutes": 1,
        }
    )
    html = renderer().page([item], None, FeedQuery(20), stream_since=None).decode()
    assert "<img" not in html  # neither the escaped texts nor the avatar
    assert "onerror=alert(1)&gt;" in html
    assert 'data-uri="urn:x&#34;&gt;&lt;script&gt;"' in html
    assert "<script>" not in html.replace('<script src="/j" defer></script>', "")


def test_the_item_card_shows_time_update_reading_time_and_author() -> None:
    item = news_item("urn:a").model_copy(
        update={
            "updated": BASE_TIME.replace(hour=11, minute=2),
            "reading_time_minutes": 1,
            "authors": (
                Author(
                    name="Desk", biography="We report.", avatar_url="https://cdn.example.org/d.png"
                ),
            ),
        }
    )
    html = (
        renderer(avatar_hosts=frozenset({"cdn.example.org"}))
        .page([item], "NEXT", FeedQuery(20), stream_since="5-0")
        .decode()
    )
    assert (
        '<time class="published" datetime="2026-11-20T09:00:00Z">20 Nov 2026, 09:00 UTC</time>'
        in html
    )
    assert '(Updated: <time datetime="2026-11-20T11:02:00Z">20 Nov 2026, 11:02 UTC</time>)' in html
    assert '<span class="reading-time">1 min read</span>' in html
    assert '<img class="avatar" src="https://cdn.example.org/d.png" alt=""' in html
    assert '<p class="author-bio">We report.</p>' in html
    assert (
        '<a class="show-more" href="/?cursor=NEXT" data-fragment="/fragments/feed?cursor=NEXT"'
        ' rel="next">Show More</a>' in html
    )
    assert 'data-stream="/v1/stream?last_event_id=5-0"' in html


def video_item(**renditions: Rendition) -> NewsItem:
    return news_item("urn:v").model_copy(update={"type": ItemType.video, "renditions": renditions})


def test_a_video_item_is_a_video_that_loads_on_play_with_the_pages_own_poster() -> None:
    item = video_item(
        video=Rendition(href="https://media.example.org/v.mp4", contenttype="video/mp4"),
        thumb=Rendition(href="https://media.example.org/t.jpg", contenttype="image/jpeg"),
    )
    view = item_view(item, PageConfig())
    assert view.kind_label == "Video"
    assert view.media.player is not None
    assert [s.src for s in view.media.player.sources] == ["https://media.example.org/v.mp4"]
    html = renderer().page([item], None, FeedQuery(20), stream_since=None).decode()
    # Never an empty black box: the page's own poster, and a link that works without JS.
    assert '<video controls preload="none" playsinline poster="/p">' in html
    assert '<source src="https://media.example.org/v.mp4" type="video/mp4">' in html
    assert '<a class="media-link" href="https://media.example.org/v.mp4"' in html
    assert "(plays from media.example.org when you press play)" in html
    # The poster's host is not allowed: named and linked, never loaded.
    assert not [t for t in tags_of(html) if t[0] == "img" and "t.jpg" in str(t[1].get("src"))]
    assert 'href="https://media.example.org/t.jpg"' in html


def test_a_video_poster_from_an_allowed_host_is_shown() -> None:
    item = video_item(
        video=Rendition(href="https://media.example.org/v.mp4", contenttype="video/mp4"),
        thumbnail=Rendition(href="https://img.example.org/t.jpg"),
    )
    html = renderer(image_hosts=frozenset({"img.example.org"})).page(
        [item], None, FeedQuery(20), stream_since=None
    )
    assert b'poster="https://img.example.org/t.jpg"' in html


def test_an_audio_item_is_a_player_with_its_duration_and_cover() -> None:
    item = news_item("urn:a").model_copy(
        update={
            "type": ItemType.audio,
            "renditions": {
                "audio": Rendition(
                    href="https://cdn.example.org/ep.mp3", contenttype="audio/mpeg", duration=2227
                ),
                "thumbnail": Rendition(href="https://img.example.org/c.jpg"),
            },
        }
    )
    html = (
        renderer(image_hosts=frozenset({"img.example.org"}))
        .page([item], None, FeedQuery(20), stream_since=None)
        .decode()
    )
    assert '<audio controls preload="none">' in html
    assert '<source src="https://cdn.example.org/ep.mp3" type="audio/mpeg">' in html
    assert "Open the audio (37:07)" in html
    assert '<img class="cover" src="https://img.example.org/c.jpg"' in html


def test_a_story_shows_its_picture_from_an_allowed_host_else_a_link() -> None:
    item = news_item("urn:s").model_copy(
        update={"renditions": {"picture": Rendition(href="https://img.example.org/p.jpg")}}
    )
    allowed = renderer(image_hosts=frozenset({"img.example.org"}))
    html = allowed.page([item], None, FeedQuery(20), stream_since=None).decode()
    assert '<figure class="picture">' in html
    assert '<img src="https://img.example.org/p.jpg" alt=""' in html
    elsewhere = renderer().page([item], None, FeedQuery(20), stream_since=None).decode()
    assert not [t for t in tags_of(elsewhere) if t[0] == "img"]
    assert '<a class="media-link" href="https://img.example.org/p.jpg"' in elsewhere
    assert "not loaded, so that showing this page tells no one you read it" in elsewhere


def test_a_youtube_feed_video_is_a_click_to_load_player() -> None:
    item = video_item(
        video=Rendition(href=YOUTUBE, contenttype="text/html"),
        thumbnail=Rendition(href="https://i1.ytimg.com/vi/abcdef123/hqdefault.jpg"),
    )
    html = renderer().page([item], None, FeedQuery(20), stream_since=None).decode()
    assert f'data-embed-src="{YOUTUBE}"' in html
    assert "<iframe" not in html
    assert "ytimg" not in html  # its poster's host is not allowed


def test_the_csp_allows_image_hosts_in_img_src() -> None:
    policy = content_security_policy([], ["a.example.org"], ["img.example.org"])
    assert "img-src 'self' data: https://a.example.org https://img.example.org;" in policy


def test_a_long_body_shows_an_excerpt_and_read_more() -> None:
    item = news_item("urn:long").model_copy(
        update={
            "text": TextStats(body_text="Opening.\n" + "w " * 200, word_count=201, char_count=420)
        }
    )
    html = renderer().page([item], None, FeedQuery(20), stream_since=None).decode()
    assert '<div class="item-body item-excerpt">' in html
    assert re.search(r'<p class="read-more"><a href="/items/urn:long">Read more', html)
    full = renderer().item_page(item).decode()
    assert "read-more" not in full
    assert "Zelensky met" in full


def test_the_content_security_policy() -> None:
    csp = content_security_policy(sorted(DEFAULT_FRAME_HOSTS), ["cdn.example.org"])
    directives = dict(d.split(" ", 1) for d in csp.split("; "))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["img-src"] == "'self' data: https://cdn.example.org"
    assert directives["frame-src"] == (
        "https://player.vimeo.com https://www.youtube-nocookie.com https://youtube-nocookie.com"
    )
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in csp


def test_an_item_without_a_headline_shows_its_body_alone() -> None:
    """As the newsroom's page shows a brief: kind, time, body; no "(untitled)" heading.
    Its time links to it, and its opening words name it for screen readers and tabs."""
    brief = news_item("urn:brief", headline="").model_copy(
        update={
            "body_html": "<p>President Volodymyr Zelensky arrived in Cyprus to meet his "
            "Cypriot counterpart, Nikos Christodoulides, and top EU officials.</p>",
        }
    )
    html = renderer().page([brief], None, FeedQuery(20), stream_since=None).decode()
    assert "untitled" not in html
    assert 'class="headline"' not in html
    assert "<p>President Volodymyr Zelensky arrived in Cyprus" in html
    assert re.search(r'<a class="permalink" href="/items/urn:brief"><time class="published"', html)
    assert (
        'aria-label="President Volodymyr Zelensky arrived in Cyprus to meet his Cypriot '
        'counterpart, Nikos …"' in html
    )
    page = renderer().item_page(brief).decode()
    assert "untitled" not in page
    assert "<title>President Volodymyr Zelensky arrived in Cyprus" in page
    assert '<h1 class="visually-hidden">President Volodymyr' in page
