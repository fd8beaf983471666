"""The submission API: translate HTTP to a Submission, accept it, answer 202."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from shared.events import new_trace_id
from shared.observability.metrics import ITEMS
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.routing import Match, Route
from starlette.types import Scope

from ingest.accept import Accepted, Acceptor, TooMuchContention
from ingest.auth import require_token
from ingest.http_errors import Rejected, documented_errors, validation_problems
from ingest.ninjs_in import NINJS_MARKERS, from_ninjs, is_ninjs
from ingest.openapi import json_body
from ingest.submission import Submission


def read_submission(raw: Any) -> tuple[Submission, list[str]]:
    """A submission in the API's shape or a ninjs 2.x document (ValidationError
    if neither), and the ninjs fields left out."""
    if is_ninjs(raw):
        fields, ignored = from_ninjs(raw)
        return Submission.model_validate(fields), ignored
    return Submission.model_validate(raw), []


NINJS_BODY = {
    "title": "ninjs 2.2 item",
    "description": "An IPTC ninjs 2.x document (https://iptc.org/std/ninjs/), for instance "
    "the gateway's own ?format=ninjs. It has at least one of "
    + ", ".join(sorted(NINJS_MARKERS))
    + "; fields ingest does not take are named in the answer's `ignored`.",
    "type": "object",
}


def submission_body() -> dict[str, Any]:
    """`openapi_extra` of POST /v1/items: a Submission or a ninjs document."""
    body = json_body(Submission)
    content = body["requestBody"]["content"]["application/json"]
    content["schema"] = {"anyOf": [content["schema"], NINJS_BODY]}
    return body


_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


log = logging.getLogger("newsfeed.ingest")


class AcceptedResponse(BaseModel):
    uri: str
    version: int
    changed: bool
    traceid: str
    ignored: list[str] | None = Field(
        default=None, description="fields of a ninjs document that ingest does not take"
    )


class BatchResult(BaseModel):
    """One submission of a batch: accepted (202, with what /v1/items answers)
    or rejected (its own 4xx status, error and detail)."""

    status: int
    uri: str | None = None
    version: int | None = None
    changed: bool | None = None
    traceid: str | None = None
    ignored: list[str] | None = None
    error: str | None = None
    detail: Any = None


class BatchResponse(BaseModel):
    """The results in the order of the submitted items."""

    results: list[BatchResult]


async def read_json(request: Request, max_bytes: int) -> Any:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise Rejected(415, "content type must be application/json")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise Rejected(413, f"body larger than {max_bytes} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise Rejected(413, f"body larger than {max_bytes} bytes")
    try:
        return orjson.loads(bytes(body))
    except orjson.JSONDecodeError as error:
        raise Rejected(400, "body is not valid JSON (UTF-8)", str(error)) from error


def trace_id_of(request: Request) -> str:
    match = _TRACEPARENT.match(request.headers.get("traceparent", ""))
    return match.group(1) if match and match.group(1) != "0" * 32 else new_trace_id()


def record(accepted: Accepted, traceid: str) -> None:
    """Count and log one accepted (or unchanged) submission."""
    ITEMS.labels("ingest", "out" if accepted.changed else "unchanged").inc()
    log.info(
        "item %s",
        "accepted" if accepted.changed else "unchanged",
        extra={"uri": accepted.uri, "version": accepted.version, "traceid": traceid},
    )


def submission_router(
    acceptor: Acceptor, token: str, max_body_bytes: int, batch: BatchLimits
) -> APIRouter:
    router = APIRouter(dependencies=[require_token(token)])

    @router.post(
        "/v1/items",
        status_code=202,
        response_model=AcceptedResponse,
        summary="Submit a new item, an update, or a kill",
        openapi_extra=submission_body(),
        responses=documented_errors(400, 401, 405, 409, 413, 415, 422, 503),
    )
    async def submit(request: Request) -> JSONResponse:
        raw = await read_json(request, max_body_bytes)
        try:
            submission, ignored = read_submission(raw)
        except ValidationError as error:
            raise Rejected(422, "not a valid item", validation_problems(error)) from error
        traceid = trace_id_of(request)
        try:
            accepted = await acceptor.accept(submission, traceid)
            record(accepted, traceid)
        except TooMuchContention as error:
            raise Rejected(409, str(error)) from error
        return JSONResponse(
            AcceptedResponse(
                uri=accepted.uri,
                version=accepted.version,
                changed=accepted.changed,
                traceid=traceid,
                ignored=ignored or None,
            ).model_dump(exclude_none=True),
            status_code=202,
        )

    @router.post(
        "/v1/items:batch",
        status_code=202,
        response_model=BatchResponse,
        summary="Submit up to max_batch_items items at once",
        description=(
            "Each item is checked and accepted as if POSTed to /v1/items, in order. "
            "202 when every item was accepted; 207 when some were rejected: each "
            "result carries its own status, and a rejected item changes nothing."
        ),
        openapi_extra=json_body(BatchRequest),
        responses={
            207: {"description": "Some items rejected", "model": BatchResponse},
            **documented_errors(400, 401, 405, 413, 415, 422, 503),
        },
    )
    async def submit_batch(request: Request) -> JSONResponse:
        raw = await read_json(request, batch.max_bytes)
        entries = batch_entries(raw, batch.max_items)
        results: list[BatchResult | None] = [None] * len(entries)
        valid: list[tuple[int, Submission, str]] = []
        ignored: dict[int, list[str]] = {}
        for index, entry in enumerate(entries):
            try:
                submission, ignored[index] = read_submission(entry)
                valid.append((index, submission, new_trace_id()))
            except ValidationError as error:
                problems = validation_problems(error)
                results[index] = BatchResult(status=422, error="not a valid item", detail=problems)
        outcomes = await acceptor.accept_many([(sub, traceid) for _, sub, traceid in valid])
        for (index, _, traceid), outcome in zip(valid, outcomes, strict=True):
            results[index] = batch_result(outcome, traceid, ignored.get(index))
        done = [result for result in results if result is not None]
        status = 202 if all(result.status == 202 for result in done) else 207
        return JSONResponse(
            BatchResponse(results=done).model_dump(exclude_none=True), status_code=status
        )

    return router


class BatchRequest(BaseModel):
    """At least one item, at most NEWSFEED_MAX_BATCH_ITEMS (the document says how many)."""

    model_config = ConfigDict(extra="forbid")

    items: list[Submission] = Field(min_length=1)


@dataclass(frozen=True)
class BatchLimits:
    max_items: int
    max_bytes: int


def batch_entries(raw: Any, max_items: int) -> list[Any]:
    """The batch's items, each still unchecked; the batch itself must be well-formed."""
    if not isinstance(raw, dict) or set(raw) != {"items"} or not isinstance(raw["items"], list):
        raise Rejected(422, 'a batch is an object with one field, "items": a list of items')
    entries: list[Any] = raw["items"]
    if not entries:
        raise Rejected(422, "a batch needs at least one item")
    if len(entries) > max_items:
        raise Rejected(422, f"a batch holds at most {max_items} items, not {len(entries)}")
    return entries


def batch_result(
    outcome: Accepted | TooMuchContention, traceid: str, ignored: list[str] | None = None
) -> BatchResult:
    if isinstance(outcome, TooMuchContention):
        return BatchResult(status=409, error=str(outcome))
    record(outcome, traceid)
    return BatchResult(
        status=202,
        uri=outcome.uri,
        version=outcome.version,
        changed=outcome.changed,
        traceid=traceid,
        ignored=ignored or None,
    )


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """Every method some route serves at this path (FastAPI's own 405 names only
    the first route's)."""
    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches({**scope, "method": "__NONE__"})
        if match is not Match.NONE and isinstance(route, APIRoute | Route):
            methods |= set(route.methods or ())
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    async def rejected(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, Rejected)
        return error.response()

    async def http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        headers = dict(error.headers or {})
        if error.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(app, request.scope))
        return JSONResponse({"error": str(error.detail)}, error.status_code, headers=headers)

    async def bad_parameters(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        problems = [
            {"field": ".".join(str(part) for part in problem["loc"]), "problem": problem["msg"]}
            for problem in error.errors()
        ][:50]
        return JSONResponse({"error": "invalid request", "detail": problems}, status_code=400)

    app.add_exception_handler(Rejected, rejected)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, bad_parameters)
