"""Items -> the HTML feed page, its fragments and the item page (Jinja2, autoescaped).

Everything from an item is escaped except its body, which enrichment's
allow-list sanitizer produced and which is inserted as is (after video
embeds are turned into click-to-load placeholders). Avatars are shown only
from hosts the operator allows (`avatar_hosts`); otherwise the card shows
initials, so showing the page never contacts a third party.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import jinja2
from markupsafe import Markup
from shared.items import Author, ItemType, NewsItem
from shared.text import html_to_text

from gateway.addresses import (
    ATOM,
    FRAGMENT_FEED,
    FRAGMENT_ITEMS,
    JSON_FEED,
    PAGE,
    RSS,
    STREAM,
)
from gateway.query import FeedQuery
from gateway.render.embeds import DEFAULT_FRAME_HOSTS, click_to_load
from gateway.render.links import fragment_item_path, item_path, with_query
from gateway.render.media import MediaView, media_view

HUES = 8
KIND_LABELS = {
    ItemType.text: "News Feed",
    ItemType.video: "Video",
    ItemType.picture: "Photo",
    ItemType.audio: "Audio",
}


@dataclass(frozen=True)
class PageConfig:
    site_title: str = "News Feed"
    description: str = "The latest news, newest first, as it happens."
    frame_hosts: frozenset[str] = DEFAULT_FRAME_HOSTS
    avatar_hosts: frozenset[str] = frozenset()
    image_hosts: frozenset[str] = frozenset()  # hosts of pictures and posters the page may load
    excerpt_words: int = 120
    default_limit: int = 20
    static: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AuthorView:
    name: str
    role: str | None
    biography: str | None
    initials: str
    hue: int
    avatar: str | None


@dataclass(frozen=True)
class ItemView:
    uri: str
    anchor: str
    href: str
    fragment_href: str
    kind: str
    kind_label: str
    headline: str  # empty for a brief: the page then shows its body alone
    title: str  # the headline, else the body's first words: for <title> and labels
    position_ms: int
    published_iso: str
    published_text: str
    updated_iso: str | None
    updated_text: str | None
    reading_time: str | None
    body: Markup | None
    excerpt: list[str]
    truncated: bool
    media: MediaView
    authors: list[AuthorView]
    link: str | None
    corrections: list[str]


def utc(at: datetime) -> datetime:
    """`at` in UTC; a stored date whose UTC form datetime cannot hold (year 1 at
    +14:00, year 9999 at -14:00) shows as the nearest one it can: a page never
    fails on an item's dates."""
    try:
        return at.astimezone(UTC)
    except OverflowError:
        return (datetime.max if at.year > 1 else datetime.min).replace(tzinfo=UTC)


def display_time(at: datetime) -> str:
    at = utc(at)
    return f"{at.day} {at:%b %Y, %H:%M} UTC"


def iso(at: datetime) -> str:
    return utc(at).isoformat().replace("+00:00", "Z")


_ARTICLES = {"the", "a", "an"}


def initials(name: str) -> str:
    """Up to two letters for an avatar: "The Kyiv Independent news desk" -> "KI"."""
    words = [w for w in name.replace("-", " ").split() if w[:1].isalnum()]
    words = [w for w in words if w.casefold() not in _ARTICLES] or words
    capitalized = [w for w in words if w[:1].isupper()]
    picked = capitalized if len(capitalized) >= 2 else words
    letters = "".join(w[0] for w in picked[:2]).upper()
    return letters or "?"


def hue(name: str) -> int:
    return hashlib.blake2b(name.encode(), digest_size=2).digest()[0] % HUES


def anchor(uri: str) -> str:
    return "item-" + hashlib.blake2b(uri.encode(), digest_size=8).hexdigest()


def author_view(author: Author, avatar_hosts: frozenset[str]) -> AuthorView:
    avatar = None
    if author.avatar_url is not None:
        url = str(author.avatar_url)
        parts = urlsplit(url)
        if parts.scheme == "https" and (parts.hostname or "") in avatar_hosts:
            avatar = url
    return AuthorView(
        name=author.name,
        role=author.role,
        biography=author.biography,
        initials=initials(author.name),
        hue=hue(author.name),
        avatar=avatar,
    )


def excerpt(item: NewsItem, words: int) -> list[str]:
    """Plain-text paragraphs: the summary, or the body's first paragraphs, ~`words` long."""
    if item.description_text:
        return [item.description_text]
    paragraphs = (item.text.body_text if item.text else "").splitlines()
    out: list[str] = []
    count = 0
    for paragraph in paragraphs:
        if not paragraph.strip():
            continue
        taken = paragraph.split()
        if count and count + len(taken) > words:
            break
        if len(taken) > words:
            out.append(" ".join(taken[:words]) + " …")
            break
        out.append(paragraph.strip())
        count += len(taken)
    return out


TITLE_WORDS = 12


def title(item: NewsItem) -> str:
    """The headline; for an item without one, the opening words of its text."""
    if item.headline.strip():
        return item.headline
    text = (item.text.body_text if item.text else "") or item.description_text or ""
    # Without enrichment's text, the sanitized body's own text (tags out, entities decoded).
    words = (text or html_to_text(item.body_html)).split()
    return " ".join(words[:TITLE_WORDS]) + (" …" if len(words) > TITLE_WORDS else "")


def item_view(item: NewsItem, config: PageConfig, *, full: bool = False) -> ItemView:
    word_count = item.text.word_count if item.text else len(item.body_html.split())
    truncated = not full and word_count > config.excerpt_words and bool(item.text)
    body = None
    if not truncated and item.body_html:
        body = Markup(click_to_load(item.body_html, config.frame_hosts))  # noqa: S704 - sanitized
    position = item.embargoed or item.firstcreated
    minutes = item.reading_time_minutes
    return ItemView(
        uri=item.uri,
        anchor=anchor(item.uri),
        href=item_path(item.uri),
        fragment_href=fragment_item_path(item.uri),
        kind=item.type.value,
        kind_label=KIND_LABELS.get(item.type, "News Feed"),
        headline=item.headline.strip(),
        title=title(item),
        position_ms=round(position.timestamp() * 1000),
        published_iso=iso(item.firstcreated),
        published_text=display_time(item.firstcreated),
        updated_iso=iso(item.updated) if item.updated else None,
        updated_text=display_time(item.updated) if item.updated else None,
        reading_time=f"{minutes} min read" if minutes else None,
        body=body,
        excerpt=excerpt(item, config.excerpt_words) if truncated else [],
        truncated=truncated,
        media=media_view(
            item, config.image_hosts, config.frame_hosts, config.static.get("poster.svg")
        ),
        authors=[author_view(a, config.avatar_hosts) for a in item.authors],
        link=str(item.link) if item.link else None,
        corrections=[c.note for c in item.corrections],
    )


FILTER_LABELS = {
    "tag": "topic",
    "type": "type",
    "author": "author",
    "language": "language",
    "person": "person",
    "place": "place",
    "organisation": "organisation",
}


class HtmlRenderer:
    def __init__(self, config: PageConfig) -> None:
        self.config = config
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("gateway", "templates"),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
        )
        self._env.globals["front_page"] = PAGE.path  # the unfiltered feed

    def _render(self, template: str, **context: Any) -> bytes:
        return self._env.get_template(template).render(config=self.config, **context).encode()

    def _more(self, query: FeedQuery, next_cursor: str | None) -> dict[str, str] | None:
        if next_cursor is None:
            return None
        params = query.params(default_limit=self.config.default_limit, cursor=next_cursor)
        return {
            "href": with_query(PAGE.path, params),
            "fragment": with_query(FRAGMENT_FEED.path, params),
        }

    def _feeds(self, query: FeedQuery) -> dict[str, str]:
        params = query.filter_params()
        return {
            "rss": with_query(RSS.path, params),
            "atom": with_query(ATOM.path, params),
            "json": with_query(JSON_FEED.path, params),
        }

    def page(
        self,
        items: Sequence[NewsItem],
        next_cursor: str | None,
        query: FeedQuery,
        *,
        stream_since: str | None,
    ) -> bytes:
        facet = query.facet
        stream_params = query.filter_params()
        if stream_since is not None:
            stream_params["last_event_id"] = stream_since
        return self._render(
            "page.html",
            items=[item_view(item, self.config) for item in items],
            more=self._more(query, next_cursor),
            older=query.cursor is not None,
            feeds=self._feeds(query),
            filter_label=(FILTER_LABELS[facet[0].value], facet[1]) if facet else None,
            home=with_query(PAGE.path, query.filter_params()),
            stream=with_query(STREAM.path, stream_params),
            # Where the live page's script fetches what the stream announces.
            fragment_feed=FRAGMENT_FEED.path,
            fragment_items=FRAGMENT_ITEMS.path,
            live=query.cursor is None,
        )

    def fragment_feed(
        self, items: Sequence[NewsItem], next_cursor: str | None, query: FeedQuery
    ) -> bytes:
        return self._render(
            "fragment_feed.html",
            items=[item_view(item, self.config) for item in items],
            more=self._more(query, next_cursor),
        )

    def fragment_item(self, item: NewsItem) -> bytes:
        return self._render("fragment_item.html", item=item_view(item, self.config))

    def item_page(self, item: NewsItem) -> bytes:
        return self._render(
            "item.html",
            item=item_view(item, self.config, full=True),
            feeds=self._feeds(FeedQuery(self.config.default_limit)),
        )

    def error_page(self, status: int, title: str, message: str) -> bytes:
        return self._render(
            "error.html",
            status=status,
            title=title,
            message=message,
            feeds=self._feeds(FeedQuery(self.config.default_limit)),
        )
