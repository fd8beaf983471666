"""The JSON API's bodies: items as stored (ninjs names plus extensions), pages, versions."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, Field
from shared.items import NewsItem


class FeedResponse(BaseModel):
    items: list[NewsItem]
    next_cursor: str | None = Field(
        description="pass it back as `cursor` for the next page; null on the last page"
    )


class VersionsResponse(BaseModel):
    current: NewsItem
    previous: list[NewsItem] = Field(description="earlier versions kept, newest first")


class ErrorResponse(BaseModel):
    error: str
    detail: Any = None


def item_json(item: NewsItem) -> dict[str, Any]:
    return item.model_dump(mode="json", exclude_none=True)


def feed_body(items: list[NewsItem], next_cursor: str | None) -> bytes:
    return orjson.dumps({"items": [item_json(i) for i in items], "next_cursor": next_cursor})


def stored_feed_body(docs: list[bytes], next_cursor: str | None) -> bytes:
    """`feed_body`'s bytes, spliced from the items' stored documents
    (shared.readmodel.ReadModelReader.documents): they are the same JSON."""
    items = b",".join(docs)
    return b'{"items":[' + items + b'],"next_cursor":' + orjson.dumps(next_cursor) + b"}"


def item_body(item: NewsItem) -> bytes:
    return orjson.dumps(item_json(item))


def versions_body(current: NewsItem, previous: list[NewsItem]) -> bytes:
    return orjson.dumps(
        {"current": item_json(current), "previous": [item_json(i) for i in previous]}
    )
