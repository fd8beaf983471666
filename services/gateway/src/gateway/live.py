"""GET /v1/stream: whether a live-update stream may open here (gateway.sse serves it)."""

from __future__ import annotations

from shared.observability.metrics import SSE_TURNED_AWAY
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
        self._retry_after_s = retry_after_s

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
            # Come back later, not a 503 (on which a browser gives up for good); the
            # header says the same to clients that read it, and a balancer may send
            # the reconnection to another replica.
            SSE_TURNED_AWAY.inc()
            answer = self._hub.come_back_later(self._retry_after_s * 1000)
            answer.headers["retry-after"] = str(self._retry_after_s)
            return answer
        return self._hub.open(facet, last)
