"""The JSON API's item routes: /v1/items/{uri} and /v1/items/{uri}/versions.

Its pages (/v1/feed) are one of the gateway's feed outputs (web.py): from the
page caches, else the stored documents (ReadModelReader.documents).
"""

from __future__ import annotations

import re

import orjson
from shared.items import URI_MAX, NewsItem
from shared.readmodel import ItemLookup, ReadModelReader
from starlette.requests import Request
from starlette.responses import Response

from gateway.query import BadRequest, parse_item, parse_none
from gateway.render import api as bodies
from gateway.render.ninjs import to_ninjs
from gateway.responses import GONE, ITEM, JSON, json_error, render, respond

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
