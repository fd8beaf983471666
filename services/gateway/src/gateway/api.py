"""The JSON API's item routes, and the whole JSON API over a reader alone.

`item` and `versions` are what the gateway serves at /v1/items/{uri} and
/v1/items/{uri}/versions. `feed_router` puts the JSON API on any FastAPI or
Starlette app with nothing but a ReadModelReader (no first-page cache, no
tail, pages through the reader's models): for embedding and for tests. The
gateway itself serves /v1/feed from its cache and the stored documents
(web.py, rawpage.py).
"""

from __future__ import annotations

import re

import orjson
from fastapi import APIRouter
from shared.items import URI_MAX, NewsItem
from shared.readmodel import BadCursor, ItemLookup, ReadModelReader
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.query import DEFAULT_LIMIT, BadRequest, parse_feed, parse_item, parse_none
from gateway.render import api as bodies
from gateway.render.ninjs import to_ninjs
from gateway.responses import GONE, ITEM, JSON, LIVE_FEED, OLDER_PAGE, json_error, render, respond

_BAD_URI = re.compile(r"[\s\x00-\x1f]")


def valid_uri(uri: str) -> bool:
    return 0 < len(uri) <= URI_MAX and _BAD_URI.search(uri) is None


def bad_request(request: Request, error: BadRequest) -> Response:
    return json_error(request, 400, error.message, error.detail)


def not_found(request: Request, uri: str) -> Response:
    return json_error(request, 404, f"no item {uri!r}")


def gone(request: Request, item: NewsItem) -> Response:
    detail = {"ednote": item.ednote}
    return json_error(request, 410, f"item {item.uri!r} was withdrawn", detail, cache_control=GONE)


async def lookup(reader: ReadModelReader, uri: str) -> ItemLookup:
    return await reader.item(uri) if valid_uri(uri) else ItemLookup(None)


async def item(request: Request, reader: ReadModelReader) -> Response:
    uri = request.path_params["uri"]
    try:
        params = parse_item(request.query_params.multi_items())
    except BadRequest as error:
        return bad_request(request, error)
    found = await lookup(reader, uri)
    if found.item is None:
        return not_found(request, uri)
    if found.killed:
        return gone(request, found.item)
    if params.format == "ninjs":
        body = orjson.dumps(to_ninjs(found.item))
    else:
        body = bodies.item_body(found.item)
    return respond(request, render(body, JSON, ITEM))


async def versions(request: Request, reader: ReadModelReader) -> Response:
    uri = request.path_params["uri"]
    try:
        parse_none(request.query_params.multi_items())
    except BadRequest as error:
        return bad_request(request, error)
    found = await reader.versions(uri) if valid_uri(uri) else None
    if found is None or found.current is None:
        return not_found(request, uri)
    if found.killed:
        return gone(request, found.current)
    body = bodies.versions_body(found.current, found.previous)
    return respond(request, render(body, JSON, ITEM))


async def feed(request: Request, reader: ReadModelReader) -> Response:
    try:
        query = parse_feed(request.query_params.multi_items(), default_limit=DEFAULT_LIMIT)
        page = await reader.page(query.limit, query.cursor, query.facet)
    except BadRequest as error:
        return bad_request(request, error)
    except BadCursor as error:
        return bad_request(request, BadRequest(str(error)))
    cache_control = LIVE_FEED if query.cursor is None else OLDER_PAGE
    return respond(
        request, render(bodies.feed_body(page.items, page.next_cursor), JSON, cache_control)
    )


def feed_router(reader: ReadModelReader) -> APIRouter:
    async def feed_route(request: Request) -> Response:
        return await feed(request, reader)

    async def versions_route(request: Request) -> Response:
        return await versions(request, reader)

    async def item_route(request: Request) -> Response:
        return await item(request, reader)

    router = APIRouter()
    router.routes.extend(
        [
            Route("/v1/feed", feed_route, name="feed"),
            Route("/v1/items/{uri:path}/versions", versions_route, name="versions"),
            Route("/v1/items/{uri:path}", item_route, name="item"),
        ]
    )
    return router


def install_error_handlers(app: Starlette) -> None:
    """Errors as JSON: `{"error": …}` with the status Starlette chose (and its headers)."""

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        messages = {404: "nothing here", 405: "method not allowed"}
        message = messages.get(error.status_code, str(error.detail))
        headers = tuple((error.headers or {}).items())
        return json_error(request, error.status_code, message, headers=headers)

    app.add_exception_handler(HTTPException, http_error)
