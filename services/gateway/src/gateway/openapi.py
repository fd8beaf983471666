"""The OpenAPI document of the gateway's machine-readable routes.

Each route is declared once, in gateway.addresses, with its `Operation`: how
this document describes it. The routes are served by plain Starlette
endpoints (web.py); here each documented one is declared to FastAPI's OpenAPI
generator with the same parameter models the endpoints parse with
(gateway.query) and the same body models they write (gateway.render.api,
gateway.render.jsonfeed_models). The HTML page and its fragments are for
browsers and have no Operation. A test (schemathesis) checks that what the
gateway answers conforms to the document.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

from fastapi import Header, Path, Query
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.responses import JSONResponse, Response

from gateway.query import FILTER_NAMES, FeedParams, ItemParams, StreamParams
from gateway.render.api import ErrorResponse

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


def error_response(description: str) -> dict[str, Any]:
    """An error answer: always JSON, whatever the operation's own media type."""
    schema = {"$ref": "#/components/schemas/ErrorResponse"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: the If-None-Match ETag is current"}
}
BAD: dict[int | str, dict[str, Any]] = {
    400: error_response(
        "Unknown or repeated parameter, more than one filter, or a malformed cursor"
    )
}
MISSING: dict[int | str, dict[str, Any]] = {
    404: error_response("No such item, or not visible (withheld, under embargo, retired)"),
    410: error_response("The item was killed; `detail.ednote` says why"),
}
FEED_PAGE = "Newest first; with `cursor`, the page after the one that handed it out."


# The parameters of each kind of route, as FastAPI signatures (never called).
def feed_parameters(params: Annotated[FeedParams, Query()]) -> None: ...
def item_parameters(
    uri: Annotated[str, Path(description="the item's uri")],
    params: Annotated[ItemParams, Query()],
) -> None: ...
def versions_parameters(uri: Annotated[str, Path(description="the item's uri")]) -> None: ...
def stream_parameters(
    params: Annotated[StreamParams, Query()],
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            description="the id of the last event received: resume after it",
        ),
    ] = None,
) -> None: ...
def no_parameters() -> None: ...


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


@dataclass(frozen=True)
class Operation:
    """How the document describes a GET route (gateway.addresses declares the route)."""

    summary: str
    tag: str
    parameters: Callable[..., None]  # one of the *_parameters signatures above
    response_model: Any = None
    responses: Mapping[int | str, dict[str, Any]] = field(default_factory=dict)
    description: str | None = None


class Documented(Protocol):
    """A route as gateway.addresses declares it."""

    @property
    def name(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def operation(self) -> Operation | None: ...
    def link_type(self) -> str: ...


def _response_class(bare: str) -> type[Response]:
    """What FastAPI reads a 200's media type from (given without parameters)."""
    if bare in ("", JSONResponse.media_type):
        return JSONResponse
    base = JSONResponse if bare.endswith("+json") else Response
    return type("Answer", (base,), {"media_type": bare})


def _api_route(route: Documented, operation: Operation) -> APIRoute:
    answer = _response_class(route.link_type())
    responses = dict(operation.responses)
    if operation.response_model is None and not issubclass(answer, JSONResponse):
        # Text (a feed, an event stream): a string of the route's media type.
        text = {str(answer.media_type): {"schema": {"type": "string"}}}
        responses[200] = {**responses.get(200, {}), "content": text}
    return APIRoute(
        route.path,
        operation.parameters,
        methods=["GET"],
        response_model=operation.response_model,
        response_class=answer,
        responses=responses,
        summary=operation.summary,
        description=operation.description,
        operation_id=route.name,
        tags=[operation.tag],
    )


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


def document(routes: Iterable[Documented]) -> dict[str, Any]:
    """The document of `routes` that have an Operation."""
    api_routes = [_api_route(r, r.operation) for r in routes if r.operation is not None]
    doc = get_openapi(title=TITLE, version=VERSION, description=DESCRIPTION, routes=api_routes)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    # Error answers are declared by reference (they are JSON whatever the operation's
    # media type), so their schema is added here.
    schemas["ErrorResponse"] = ErrorResponse.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    schemas["NinjsItem"] = NINJS_ITEM
    return _one_filter(_drop_validation_errors(doc))
