"""GET /v1/stream: whether a live-update stream may open here (gateway.sse serves it)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import Errors
from gateway.query import BadRequest, parse_stream
from gateway.sse import StreamHub
from gateway.tail import Tail


class LiveUpdates:
    def __init__(self, tail: Tail, hub: StreamHub, errors: Errors, retry_after_s: int) -> None:
        self._tail = tail
        self._hub = hub
        self._errors = errors
        self._retry = (("retry-after", str(retry_after_s)),)

    async def stream(self, request: Request) -> Response:
        try:
            facet, last = parse_stream(
                request.query_params.multi_items(), request.headers.get("last-event-id")
            )
        except BadRequest as error:
            return self._errors.bad_request(request, error)
        if not self._tail.ready or self._tail.closing:
            return self._hub.come_back_later()
        if self._hub.full:
            message = "too many live-update clients here; try again shortly"
            return self._errors.answer(request, 503, message, headers=self._retry)
        return self._hub.open(facet, last)
