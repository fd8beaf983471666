"""The source registry's HTTP API: translate HTTP, let SourceStore decide, answer.

    GET    /v1/sources              every source, with a summary of its state
    POST   /v1/sources              register one (201; 409 if the id exists)
    GET    /v1/sources/{id}         its settings and its full fetch state
    PATCH  /v1/sources/{id}         change some settings (not of file-managed sources)
    DELETE /v1/sources/{id}         remove it (not a file-managed one)
    POST   /v1/sources/{id}/poll    make it due now (202)

Same bearer token as the submission API.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from pydantic import BaseModel, ValidationError
from starlette.responses import JSONResponse, Response

from ingest.api import read_json
from ingest.auth import require_token
from ingest.http_errors import Rejected, documented_errors, validation_problems
from ingest.openapi import json_body
from ingest.source_state import Registered, SourceExists, SourceState, SourceStore, TooManySources
from ingest.sources import SourceConfig, SourcePatch, patched

MAX_BODY = 100_000
M = TypeVar("M", bound=BaseModel)
SUMMARY_FIELDS = (
    "kind",
    "last_fetch_at",
    "last_outcome",
    "last_error",
    "consecutive_failures",
    "next_due_at",
    "items_seen",
)


def _now() -> datetime:
    return datetime.now(UTC)


def source_view(registered: Registered, state: SourceState, *, full: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        **registered.config.model_dump(mode="json"),
        "managed_by": registered.managed_by,
    }
    status = state.model_dump(mode="json", exclude_none=True)
    view["state"] = status if full else {k: v for k, v in status.items() if k in SUMMARY_FIELDS}
    return view


def _validated(model: type[M], raw: Any) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        raise Rejected(422, "not a valid source", validation_problems(error)) from error


async def _existing(store: SourceStore, source_id: str) -> Registered:
    registered = await store.get(source_id)
    if registered is None:
        raise Rejected(404, f"no source {source_id!r}")
    return registered


def _editable(registered: Registered) -> None:
    if registered.managed_by == "file":
        raise Rejected(
            409,
            f"source {registered.config.id!r} is managed by the sources file; change it there",
        )


def sources_router(
    store: SourceStore, token: str, clock: Callable[[], datetime] = _now
) -> APIRouter:
    router = APIRouter(
        dependencies=[require_token(token)],
        prefix="/v1/sources",
        tags=["sources"],
        responses=documented_errors(400, 401, 404, 405, 409, 413, 415, 422, 503),
    )

    @router.get("", summary="List sources with a summary of their fetch state")
    async def list_sources(request: Request) -> JSONResponse:
        registered = await store.sources()
        states = await store.states([r.config.id for r in registered])
        views = [source_view(r, s, full=False) for r, s in zip(registered, states, strict=True)]
        return JSONResponse({"sources": views, "count": len(views)})

    @router.post(
        "",
        status_code=201,
        summary="Register a source (only id and url required)",
        openapi_extra=json_body(SourceConfig),
    )
    async def create_source(request: Request) -> JSONResponse:
        config = _validated(SourceConfig, await read_json(request, MAX_BODY))
        registered = Registered(config, "api")
        try:
            await store.create(registered, clock())
        except SourceExists as error:
            raise Rejected(409, str(error)) from error
        except TooManySources as error:
            raise Rejected(409, str(error)) from error
        view = source_view(registered, await store.state(config.id), full=True)
        return JSONResponse(view, status_code=201)

    @router.get("/{source_id}", summary="A source's settings and fetch state")
    async def get_source(request: Request, source_id: str) -> JSONResponse:
        registered = await _existing(store, source_id)
        return JSONResponse(source_view(registered, await store.state(source_id), full=True))

    @router.patch(
        "/{source_id}",
        summary="Change some of a source's settings",
        openapi_extra=json_body(SourcePatch),
    )
    async def patch_source(request: Request, source_id: str) -> JSONResponse:
        registered = await _existing(store, source_id)
        _editable(registered)
        patch = _validated(SourcePatch, await read_json(request, MAX_BODY))
        try:
            config = patched(registered.config, patch)
        except ValidationError as error:
            raise Rejected(422, "not a valid source", validation_problems(error)) from error
        updated = Registered(config, "api")
        await store.put(updated, clock())
        return JSONResponse(source_view(updated, await store.state(source_id), full=True))

    @router.delete("/{source_id}", status_code=204, summary="Remove a source")
    async def delete_source(request: Request, source_id: str) -> Response:
        _editable(await _existing(store, source_id))
        await store.delete(source_id)
        return Response(status_code=204)

    @router.post("/{source_id}/poll", status_code=202, summary="Poll a source as soon as possible")
    async def poll_source(request: Request, source_id: str) -> JSONResponse:
        registered = await _existing(store, source_id)
        if not registered.config.enabled:
            raise Rejected(409, f"source {source_id!r} is disabled")
        await store.schedule(source_id, clock())
        return JSONResponse({"id": source_id, "due": "now"}, status_code=202)

    return router
