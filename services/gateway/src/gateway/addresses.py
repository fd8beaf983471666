"""Every address the gateway answers, declared once.

Each has a name (the route's, and its OpenAPI operation id), a path as
Starlette matches it, the media type of its answer, and how the OpenAPI
document describes it (none: for browsers, left out of the document). web.py
routes them, openapi.py documents them, and the renderers link to them
(render/links.py, render/html.py, render/jsonfeed.py, render/syndication.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from shared.items import NewsItem
from shared.service import HEALTH_PATH, READY_PATH

from gateway.openapi import (
    BAD,
    FEED_PAGE,
    ITEM_200,
    MISSING,
    NOT_MODIFIED,
    Health,
    Operation,
    document,
    feed_parameters,
    item_parameters,
    no_parameters,
    stream_parameters,
    versions_parameters,
)
from gateway.render.api import FeedResponse, VersionsResponse
from gateway.render.jsonfeed_models import JsonFeed
from gateway.render.stream import MEDIA_TYPE as EVENT_STREAM
from gateway.responses import HTML, JSON

# Characters of a uri left as they are in a path (RFC 3986 pchar and "/"); the
# rest ("?", "#", "%", spaces in odd uris...) are percent-encoded.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


@dataclass(frozen=True, eq=False)
class Address:
    name: str
    path: str
    media_type: str | None  # None: it depends on what is asked for (static files)
    operation: Operation | None = None

    def link_type(self) -> str:
        """The media type without parameters (a charset): what a link's `type` says."""
        return (self.media_type or "").split(";")[0].strip()

    def for_item(self, uri: str) -> str:
        """The path for one item: `{uri:path}` filled in, percent-encoded."""
        return self.path.replace("{uri:path}", quote(uri, safe=_PATH_SAFE))


def _syndication(summary: str, description: str, model: Any = None) -> Operation:
    return Operation(
        summary,
        "syndication",
        feed_parameters,
        response_model=model,
        responses={200: {"description": f"{description} {FEED_PAGE}"}, **NOT_MODIFIED, **BAD},
    )


PAGE = Address("page", "/", HTML)
FEED = Address(
    "feed",
    "/v1/feed",
    JSON,
    Operation(
        "The feed as JSON",
        "feed",
        feed_parameters,
        response_model=FeedResponse,
        responses={**NOT_MODIFIED, **BAD},
        description=FEED_PAGE + " Pass `next_cursor` back as `cursor` for more.",
    ),
)
JSON_FEED = Address(
    "json_feed",
    "/feed.json",
    "application/feed+json",
    _syndication("JSON Feed 1.1", "JSON Feed 1.1.", JsonFeed),
)
RSS = Address(
    "rss",
    "/feed.rss",
    "application/rss+xml; charset=utf-8",
    _syndication("RSS 2.0", "RSS 2.0."),
)
ATOM = Address(
    "atom",
    "/feed.atom",
    "application/atom+xml; charset=utf-8",
    _syndication("Atom 1.0", "Atom 1.0 with RFC 6721 tombstones of recent kills."),
)
FRAGMENT_FEED = Address("fragment_feed", "/fragments/feed", HTML)
FRAGMENT_ITEMS = Address("fragment_items", "/fragments/items", HTML)
FRAGMENT_ITEM = Address("fragment_item", "/fragments/items/{uri:path}", HTML)
ITEM_PAGE = Address("item_page", "/items/{uri:path}", HTML)
VERSIONS = Address(
    "item_versions",
    "/v1/items/{uri:path}/versions",
    JSON,
    Operation(
        "One item and its earlier versions",
        "items",
        versions_parameters,
        response_model=VersionsResponse,
        responses={**NOT_MODIFIED, **BAD, **MISSING},
    ),
)
ITEM = Address(
    "item",
    "/v1/items/{uri:path}",
    JSON,
    Operation(
        "One item",
        "items",
        item_parameters,
        response_model=NewsItem,
        responses={200: ITEM_200, **NOT_MODIFIED, **BAD, **MISSING},
    ),
)
STREAM = Address(
    "stream",
    "/v1/stream",
    EVENT_STREAM,
    Operation(
        "Live updates",
        "feed",
        stream_parameters,
        responses={
            200: {
                "description": "Server-Sent Events: `published`, `updated`, `killed` "
                "(and `reset`: too much was missed, reload the feed). Each `id` is the "
                "stream position (with one partition, the news.published entry id); `data` "
                "is one line of JSON. While live updates cannot be served (the gateway "
                "starting, its Redis away, the server stopping, or this replica serving its "
                "maximum of clients: then with `Retry-After`), a stream with only "
                "`retry:` that ends: reconnect after that delay.",
            },
            **BAD,
        },
    ),
)
OPENAPI = Address("openapi", "/openapi.json", JSON)
STATIC = Address("static", "/static/{name}", None)
# Served by shared.service.health_routes, documented here.
HEALTHZ = Address("healthz", HEALTH_PATH, JSON, Operation("Alive", "health", no_parameters, Health))
READYZ = Address(
    "readyz",
    READY_PATH,
    JSON,
    Operation(
        "Ready: Redis reachable and the tail started",
        "health",
        no_parameters,
        Health,
        responses={503: {"model": Health, "description": "Not ready"}},
    ),
)

# What web.py serves, in the order routes are matched (versions before the item
# whose path would swallow it).
SERVED = (
    PAGE,
    FEED,
    JSON_FEED,
    RSS,
    ATOM,
    FRAGMENT_FEED,
    FRAGMENT_ITEMS,
    FRAGMENT_ITEM,
    ITEM_PAGE,
    VERSIONS,
    ITEM,
    STREAM,
    OPENAPI,
    STATIC,
)
ADDRESSES = (*SERVED, HEALTHZ, READYZ)


def openapi_document() -> dict[str, Any]:
    """The gateway's OpenAPI document."""
    return document(ADDRESSES)
