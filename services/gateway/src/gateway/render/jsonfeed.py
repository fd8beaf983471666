"""A feed page -> JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/), in the
shape jsonfeed_models.py declares."""

from __future__ import annotations

import mimetypes
from typing import Any

from shared.items import Author, NewsItem

from gateway.addresses import JSON_FEED, PAGE
from gateway.render.jsonfeed_models import (
    JsonFeed,
    JsonFeedAttachment,
    JsonFeedAuthor,
    JsonFeedItem,
    NewsfeedExtension,
)
from gateway.render.links import FeedLinks
from gateway.render.media import kind_of
from gateway.render.ninjs import rfc3339
from gateway.render.plain import inert


def _author(author: Author) -> JsonFeedAuthor:
    return JsonFeedAuthor(
        name=author.name, avatar=str(author.avatar_url) if author.avatar_url else None
    )


def _attachments(item: NewsItem) -> list[JsonFeedAttachment] | None:
    out = []
    for name, rendition in item.renditions.items():
        href = str(rendition.href)
        mime = rendition.contenttype or mimetypes.guess_type(href)[0] or "application/octet-stream"
        out.append(
            JsonFeedAttachment(
                url=href,
                mime_type=mime,
                title=rendition.title or name,
                size_in_bytes=rendition.sizeinbytes,
                duration_in_seconds=rendition.duration,
            )
        )
    return out or None


def _image(item: NewsItem) -> str | None:
    """The item's picture (a poster, a cover, a story's picture), for feed readers."""
    for name, rendition in item.renditions.items():
        if kind_of(name, rendition) == "picture":
            return str(rendition.href)
    return None


def feed_item(item: NewsItem, links: FeedLinks) -> JsonFeedItem:
    return JsonFeedItem(
        id=item.uri,
        url=links.item(item.uri),
        external_url=str(item.link) if item.link else None,
        title=item.headline or None,
        content_html=item.body_html,
        summary=inert(item.description_text) if item.description_text else None,
        image=_image(item),
        date_published=rfc3339(item.firstcreated),
        date_modified=rfc3339(item.updated or item.versioncreated),
        authors=[_author(a) for a in item.authors] or None,
        tags=[s.name for s in item.subjects] or None,
        language=item.language,
        attachments=_attachments(item),
        newsfeed=NewsfeedExtension(
            type=item.type.value,
            version=item.version,
            reading_time_minutes=item.reading_time_minutes,
            corrections=[c.note for c in item.corrections],
        ),
    )


def json_feed(
    items: list[NewsItem],
    next_cursor: str | None,
    links: FeedLinks,
    *,
    title: str,
    description: str,
) -> dict[str, Any]:
    feed = JsonFeed(
        title=title,
        home_page_url=links.home(),
        feed_url=links.first_page(JSON_FEED.path),
        description=description,
        next_url=links.feed(JSON_FEED.path, next_cursor) if next_cursor else None,
        authors=[JsonFeedAuthor(name=title, url=links.url(PAGE.path))],
        items=[feed_item(item, links) for item in items],
    )
    return feed.model_dump(mode="json", exclude_none=True, by_alias=True)
