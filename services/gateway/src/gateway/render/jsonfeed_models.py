"""JSON Feed 1.1's document, the gateway's /feed.json: its shape and, through
openapi.py, its documented schema. Custom data goes in the `_newsfeed`
extension object, as the spec's extension rules ask (a leading underscore, no
dots)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

VERSION = "https://jsonfeed.org/version/1.1"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)


class JsonFeedAuthor(_Model):
    name: str | None = None
    url: str | None = None
    avatar: str | None = None


class JsonFeedAttachment(_Model):
    url: str
    mime_type: str
    title: str | None = None
    size_in_bytes: int | None = None
    duration_in_seconds: float | None = None


class NewsfeedExtension(_Model):
    type: str
    version: int
    reading_time_minutes: int | None = None
    corrections: list[str] = Field(default_factory=list)


class JsonFeedItem(_Model):
    id: str
    url: str | None = None
    external_url: str | None = None
    title: str | None = None
    content_html: str | None = None
    content_text: str | None = None
    summary: str | None = None
    image: str | None = None
    date_published: str | None = None
    date_modified: str | None = None
    authors: list[JsonFeedAuthor] | None = None
    tags: list[str] | None = None
    language: str | None = None
    attachments: list[JsonFeedAttachment] | None = None
    newsfeed: NewsfeedExtension | None = Field(default=None, alias="_newsfeed")


class JsonFeed(_Model):
    version: str = VERSION
    title: str
    home_page_url: str | None = None
    feed_url: str | None = None
    description: str | None = None
    next_url: str | None = None
    authors: list[JsonFeedAuthor] | None = None
    items: list[JsonFeedItem]
