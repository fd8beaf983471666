"""The reader-facing JSON API: translate HTTP to read-model calls and back."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from shared.items import URI_MAX, NewsItem
from shared.readmodel import PAGE_MAX, BadCursor, ReadModelReader
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

# A member is a 15-digit stamp, '|' and a uri of up to URI_MAX characters of up
# to 4 UTF-8 bytes each; base64 makes 4 characters of every 3 bytes.
CURSOR_MAX = (16 + 4 * URI_MAX) * 4 // 3 + 4


class FeedResponse(BaseModel):
    items: list[NewsItem]
    next_cursor: str | None


class ErrorResponse(BaseModel):
    error: str
    detail: Any = None


def _json(model: BaseModel, status: int = 200) -> Response:
    return Response(
        model.model_dump_json(exclude_none=True), status_code=status, media_type="application/json"
    )


def _feed_json(items: list[NewsItem], next_cursor: str | None) -> Response:
    body = {
        "items": [item.model_dump(mode="json", exclude_none=True) for item in items],
        "next_cursor": next_cursor,
    }
    return Response(orjson.dumps(body), media_type="application/json")


def _error(status: int, error: str, detail: Any = None) -> JSONResponse:
    body: dict[str, Any] = {"error": error}
    if detail is not None:
        body["detail"] = detail
    return JSONResponse(body, status_code=status)


def feed_router(reader: ReadModelReader) -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.get(
        "/feed",
        response_model=FeedResponse,
        responses={400: {"model": ErrorResponse}},
        summary="The feed, newest first; pass next_cursor back as cursor for more",
    )
    async def feed(
        limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 20,
        cursor: Annotated[str | None, Query(max_length=CURSOR_MAX)] = None,
    ) -> Response:
        try:
            page = await reader.page(limit, cursor)
        except BadCursor as error:
            return _error(400, str(error))
        return _feed_json(page.items, page.next_cursor)

    @router.get(
        "/items/{uri:path}",
        response_model=NewsItem,
        responses={404: {"model": ErrorResponse}, 410: {"model": ErrorResponse}},
        summary="One item at its current version",
    )
    async def item(uri: str) -> Response:
        found = await reader.item(uri)
        if found.item is None:
            return _error(404, f"no item {uri!r}")
        if found.killed:
            return _error(410, f"item {uri!r} was withdrawn", {"ednote": found.item.ednote})
        return _json(found.item)

    return router


def install_error_handlers(app: FastAPI) -> None:
    async def invalid(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]}
            for e in error.errors()
        ]
        return _error(400, "invalid request", problems)

    async def http_error(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        return _error(error.status_code, str(error.detail))

    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
