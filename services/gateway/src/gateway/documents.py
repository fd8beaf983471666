"""The files the gateway serves as they are: its OpenAPI document and gateway/static."""

from __future__ import annotations

import hashlib
import importlib.resources
from collections.abc import Callable
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from gateway import addresses
from gateway.responses import IMMUTABLE, JSON, REVALIDATE, Rendered, render, respond

STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


def load_static() -> dict[str, tuple[str, bytes]]:
    """name -> (version, bytes) of the files under gateway/static."""
    files: dict[str, tuple[str, bytes]] = {}
    for entry in importlib.resources.files("gateway").joinpath("static").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in STATIC_TYPES:
            data = entry.read_bytes()
            files[entry.name] = (hashlib.blake2b(data, digest_size=5).hexdigest(), data)
    return files


def static_urls(static: dict[str, tuple[str, bytes]]) -> dict[str, str]:
    path = addresses.STATIC.path
    return {name: f"{path.format(name=name)}?v={version}" for name, (version, _) in static.items()}


class Documents:
    def __init__(
        self,
        openapi: Callable[[], dict[str, Any]],
        static: dict[str, tuple[str, bytes]],
        page_headers: tuple[tuple[str, str], ...],
    ) -> None:
        self._openapi = openapi
        self._openapi_rendered: Rendered | None = None
        # Asked for with its version (?v=, as the pages link it): cached for good.
        self._static: dict[tuple[str, bool], Rendered] = {}
        for name, (_, data) in static.items():
            media_type = STATIC_TYPES["." + name.rsplit(".", 1)[-1]]
            self._static[(name, True)] = render(data, media_type, IMMUTABLE, page_headers)
            self._static[(name, False)] = render(data, media_type, REVALIDATE, page_headers)
        self._versions = {name: version for name, (version, _) in static.items()}

    async def openapi(self, request: Request) -> Response:
        if self._openapi_rendered is None:
            body = orjson.dumps(self._openapi())
            self._openapi_rendered = render(body, JSON, "public, max-age=300")
        return respond(request, self._openapi_rendered)

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        version = self._versions.get(name)
        if version is None:
            raise HTTPException(404)
        fresh = request.query_params.get("v") == version
        return respond(request, self._static[(name, fresh)])
