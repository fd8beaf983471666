"""The OpenAPI document of the gateway's machine-readable routes.

The routes are served by plain Starlette endpoints (web.py); here each one is
declared to FastAPI's OpenAPI generator with the same parameter models the
endpoints parse with (gateway.query) and the same body models they write
(gateway.render.api, gateway.render.jsonfeed). The HTML page and its
fragments are for browsers and are left out. Tests check that every route
here exists, that every JSON route of the app is here, and (schemathesis)
that what the app answers conforms to it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Path, Query
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel
from shared.items import NewsItem
from starlette.responses import JSONResponse, Response

from gateway.query import FILTER_NAMES, FeedParams, ItemParams, StreamParams
from gateway.render.api import ErrorResponse, FeedResponse, VersionsResponse
from gateway.render.jsonfeed import JsonFeed

TITLE = "newsfeed gateway"
VERSION = "1"
DESCRIPTION = (
    "The news feed, read-only: pages newest first with keyset cursors, single items "
    "(also as IPTC ninjs 2.2), JSON Feed 1.1, RSS 2.0 and Atom 1.0 (with RFC 6721 "
    "tombstones), and live updates as Server-Sent Events. Every filter is one of "
    "tag, type, author, language, person, place, organisation, at most one per "
    "request; an unknown parameter is a 400. Responses carry strong ETags; send "
    "If-None-Match to get a 304."
)


class Health(BaseModel):
    status: str
    checks: dict[str, bool] | None = None


class _Rss(Response):
    media_type = "application/rss+xml"


class _Atom(Response):
    media_type = "application/atom+xml"


class _JsonFeed(JSONResponse):
    media_type = "application/feed+json"


class _EventStream(Response):
    media_type = "text/event-stream"


def _error(description: str) -> dict[str, Any]:
    """An error answer: always JSON, whatever the operation's own media type."""
    schema = {"$ref": "#/components/schemas/ErrorResponse"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: the If-None-Match ETag is current"}
}
BAD: dict[int | str, dict[str, Any]] = {
    400: _error("Unknown or repeated parameter, more than one filter, or a malformed cursor")
}
MISSING: dict[int | str, dict[str, Any]] = {
    404: _error("No such item, or not visible (withheld, under embargo, retired)"),
    410: _error("The item was killed; `detail.ednote` says why"),
}
FEED_PAGE = "Newest first; with `cursor`, the page after the one that handed it out."


def _feed(params: Annotated[FeedParams, Query()]) -> None: ...
def _item(
    uri: Annotated[str, Path(description="the item's uri")],
    params: Annotated[ItemParams, Query()],
) -> None: ...
def _versions(uri: Annotated[str, Path(description="the item's uri")]) -> None: ...
def _stream(
    params: Annotated[StreamParams, Query()],
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            description="the id of the last event received: resume after it",
        ),
    ] = None,
) -> None: ...
def _health() -> None: ...


def _texts(*extra: str) -> dict[str, Any]:
    """ninjs `headlines`, `bodies`, `descriptions`: role, content type, value."""
    properties: dict[str, Any] = {
        "role": {"type": "string"},
        "contenttype": {"type": "string"},
        "value": {"type": "string"},
    }
    properties.update({name: {"type": "integer", "minimum": 0} for name in extra})
    return {
        "type": "array",
        "items": {"type": "object", "required": ["value"], "properties": properties},
    }


_ENTITIES = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["name"],
        "properties": {
            name: {"type": "string"} for name in ("name", "rel", "uri", "literal", "creator")
        }
        | {"relevance": {"type": "integer"}, "confidence": {"type": "integer"}},
    },
}
_STRING = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}
# What `?format=ninjs` answers: the subset of IPTC ninjs 2.2 the gateway writes
# (gateway.render.ninjs; validated against the official schema by the tests).
NINJS_ITEM: dict[str, Any] = {
    "title": "NinjsItem",
    "description": "An item as IPTC ninjs 2.2 "
    "(http://www.iptc.org/std/ninjs/ninjs-schema_2.2.json), the fields the gateway writes",
    "type": "object",
    "required": [
        "uri",
        "standard",
        "type",
        "representationtype",
        "version",
        "firstcreated",
        "versioncreated",
        "pubstatus",
    ],
    "properties": {
        "uri": _STRING,
        "standard": {
            "type": "object",
            "required": ["name", "version", "schema"],
            "properties": {"name": _STRING, "version": _STRING, "schema": _STRING},
        },
        "type": {"type": "string", "enum": ["text", "video", "picture", "audio"]},
        "representationtype": {"type": "string", "enum": ["full"]},
        "version": _STRING,
        "firstcreated": _TIME,
        "versioncreated": _TIME,
        "embargoed": _TIME,
        "pubstatus": {"type": "string", "enum": ["usable", "withheld", "canceled"]},
        "language": _STRING,
        "ednote": _STRING,
        "by": _STRING,
        "headlines": _texts(),
        "bodies": _texts("wordcount", "charcount"),
        "descriptions": _texts(),
        "people": _ENTITIES,
        "organisations": _ENTITIES,
        "places": _ENTITIES,
        "subjects": _ENTITIES,
        "renditions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "href"],
                "properties": {
                    "name": _STRING,
                    "href": _STRING,
                    "contenttype": _STRING,
                    "title": _STRING,
                    "width": {"type": "integer"},
                    "height": {"type": "integer"},
                    "duration": {"type": "number"},
                },
            },
        },
        "altids": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["role", "value"],
                "properties": {"role": _STRING, "value": _STRING},
            },
        },
    },
}

ITEM_200 = {
    "description": "The item at its current version (`format=json`, the default); with "
    "`format=ninjs`, as IPTC ninjs 2.2",
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"$ref": "#/components/schemas/NewsItem"},
                    {"$ref": "#/components/schemas/NinjsItem"},
                ]
            }
        }
    },
}


def routes() -> list[APIRoute]:
    get = ["GET"]
    return [
        APIRoute(
            "/v1/feed",
            _feed,
            methods=get,
            response_model=FeedResponse,
            responses={**NOT_MODIFIED, **BAD},
            summary="The feed as JSON",
            description=FEED_PAGE + " Pass `next_cursor` back as `cursor` for more.",
            operation_id="feed",
            tags=["feed"],
        ),
        APIRoute(
            "/v1/items/{uri:path}",
            _item,
            methods=get,
            response_model=NewsItem,
            responses={200: ITEM_200, **NOT_MODIFIED, **BAD, **MISSING},
            summary="One item",
            operation_id="item",
            tags=["items"],
        ),
        APIRoute(
            "/v1/items/{uri:path}/versions",
            _versions,
            methods=get,
            response_model=VersionsResponse,
            responses={**NOT_MODIFIED, **BAD, **MISSING},
            summary="One item and its earlier versions",
            operation_id="item_versions",
            tags=["items"],
        ),
        APIRoute(
            "/v1/stream",
            _stream,
            methods=get,
            response_class=_EventStream,
            responses={
                200: {
                    "description": "Server-Sent Events: `published`, `updated`, `killed` "
                    "(and `reset`: too much was missed, reload the feed). Each `id` is the "
                    "news.published entry id; `data` is one line of JSON.",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
                **BAD,
                503: {
                    **_error("Too many live-update clients on this replica; see Retry-After"),
                    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                },
            },
            summary="Live updates",
            operation_id="stream",
            tags=["feed"],
        ),
        APIRoute(
            "/feed.json",
            _feed,
            methods=get,
            response_class=_JsonFeed,
            response_model=JsonFeed,
            responses={
                200: {"description": "JSON Feed 1.1. " + FEED_PAGE},
                **NOT_MODIFIED,
                **BAD,
            },
            summary="JSON Feed 1.1",
            operation_id="json_feed",
            tags=["syndication"],
        ),
        APIRoute(
            "/feed.rss",
            _feed,
            methods=get,
            response_class=_Rss,
            responses={
                200: {
                    "description": "RSS 2.0. " + FEED_PAGE,
                    "content": {"application/rss+xml": {"schema": {"type": "string"}}},
                },
                **NOT_MODIFIED,
                **BAD,
            },
            summary="RSS 2.0",
            operation_id="rss",
            tags=["syndication"],
        ),
        APIRoute(
            "/feed.atom",
            _feed,
            methods=get,
            response_class=_Atom,
            responses={
                200: {
                    "description": "Atom 1.0 with RFC 6721 tombstones of recent kills. "
                    + FEED_PAGE,
                    "content": {"application/atom+xml": {"schema": {"type": "string"}}},
                },
                **NOT_MODIFIED,
                **BAD,
            },
            summary="Atom 1.0",
            operation_id="atom",
            tags=["syndication"],
        ),
        APIRoute(
            "/healthz",
            _health,
            methods=get,
            response_model=Health,
            summary="Alive",
            operation_id="healthz",
            tags=["health"],
        ),
        APIRoute(
            "/readyz",
            _health,
            methods=get,
            response_model=Health,
            responses={503: {"model": Health, "description": "Not ready"}},
            summary="Ready: Redis reachable and the tail started",
            operation_id="readyz",
            tags=["health"],
        ),
    ]


def _drop_validation_errors(doc: dict[str, Any]) -> dict[str, Any]:
    """FastAPI adds a 422 to every operation with parameters; this API answers 400."""
    for operations in doc.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    schemas = doc.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return doc


def _one_filter(doc: dict[str, Any]) -> dict[str, Any]:
    """The filters as one form-exploded object parameter of at most one property:
    still `?tag=diplomacy` on the wire, and "one filter at a time" in the schema
    (separate parameters cannot say it)."""
    for operations in doc.get("paths", {}).values():
        for operation in operations.values():
            parameters = operation.get("parameters", [])
            filters = [p for p in parameters if p["in"] == "query" and p["name"] in FILTER_NAMES]
            if not filters:
                continue
            properties = {}
            for parameter in filters:
                schema = dict(parameter["schema"])
                if parameter.get("description"):
                    schema["description"] = parameter["description"]
                properties[parameter["name"]] = schema
            operation["parameters"] = [p for p in parameters if p not in filters] + [
                {
                    "name": "filter",
                    "in": "query",
                    "required": False,
                    "style": "form",
                    "explode": True,
                    "description": "At most one filter, written as its own parameter "
                    "(`?tag=diplomacy`); values match regardless of case and spacing.",
                    "schema": {
                        "type": "object",
                        "properties": properties,
                        "additionalProperties": False,
                        "maxProperties": 1,
                    },
                }
            ]
    return doc


def document() -> dict[str, Any]:
    doc = get_openapi(title=TITLE, version=VERSION, description=DESCRIPTION, routes=routes())
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    # Error answers are declared by reference (they are JSON whatever the operation's
    # media type), so their schema is added here.
    schemas["ErrorResponse"] = ErrorResponse.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    schemas["NinjsItem"] = NINJS_ITEM
    return _one_filter(_drop_validation_errors(doc))
