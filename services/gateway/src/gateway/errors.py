"""Error answers: JSON for programs, an HTML page for browsers."""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from gateway.query import BadRequest
from gateway.render.html import HtmlRenderer
from gateway.responses import HTML, NO_STORE, json_error, render, respond

log = logging.getLogger("newsfeed.gateway")

TITLES = {400: "Bad request", 404: "Not found", 410: "Withdrawn", 503: "Busy"}


def wants_html(request: Request) -> bool:
    """Whether an error here is a page (browsers' addresses) or JSON (the API's, feeds')."""
    path = request.url.path
    return not (path.startswith(("/v1/", "/feed.", "/openapi", "/healthz", "/readyz")))


class Errors:
    def __init__(self, html: HtmlRenderer, page_headers: tuple[tuple[str, str], ...]) -> None:
        self._html = html
        self._page_headers = page_headers

    def answer(
        self,
        request: Request,
        status: int,
        message: str,
        detail: Any = None,
        *,
        html: bool = False,
        cache_control: str = NO_STORE,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> Response:
        if not html:
            return json_error(
                request, status, message, detail, cache_control=cache_control, headers=headers
            )
        body = self._html.error_page(status, TITLES.get(status, "Error"), message)
        rendered = render(body, HTML, cache_control, (*self._page_headers, *headers))
        return respond(request, rendered, status)

    def bad_request(self, request: Request, error: BadRequest, *, html: bool = False) -> Response:
        return self.answer(request, 400, error.message, error.detail, html=html)

    async def http_error(self, request: Request, error: Exception) -> Response:
        """Starlette's own errors (no route: 404, wrong method: 405) in our shape."""
        assert isinstance(error, HTTPException)
        messages = {404: "nothing here", 405: "method not allowed"}
        message = messages.get(error.status_code, str(error.detail))
        html = wants_html(request)
        if html:
            message = {404: "There is nothing at this address."}.get(error.status_code, message)
        headers = tuple((error.headers or {}).items())  # e.g. Allow on a 405
        return self.answer(request, error.status_code, message, html=html, headers=headers)

    async def server_error(self, request: Request, error: Exception) -> Response:
        log.exception("error answering %s %s", request.method, request.url.path, exc_info=error)
        return self.answer(
            request, 500, "something went wrong on our side", html=wants_html(request)
        )
