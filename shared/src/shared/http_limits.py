"""Bounds on a request's head (request line and headers), for every service's
HTTP server: how many bytes, how many header lines, how long to send it.

uvicorn's httptools protocol bounds none of these: a 100 MB header was read
into memory and answered 200, and connections sending a header a byte at a
time stayed open for as long as the client liked. This protocol counts the
bytes received while a head is incomplete (the parser buffers them, so this
bounds memory too), counts the header lines once the head is complete, and
notes when a head started (its first byte, or the connection, for one that
sends nothing); one sweep a second, not a timer per request, finds heads
older than the limit. Past a bound it answers 431 or 408 with a JSON error
and closes the connection, after a second of reading and dropping what still
comes so that the client gets to read the answer. A connection that never
started a request is just closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import MutableSet
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("newsfeed.http")
LINGER_S = 1.0


@dataclass(frozen=True)
class HeadLimits:
    max_bytes: int = 32_768
    max_headers: int = 100
    timeout_s: float = 10.0


class _TooManyHeaders(Exception):
    pass


def bounded_protocol(limits: HeadLimits) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with `limits` on every request head."""
    # Imported here: settings import HeadLimits, and need not import uvicorn.
    from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

    tick_s = min(1.0, limits.timeout_s / 4)

    class BoundedHeadProtocol(HttpToolsProtocol):
        _sweep: ClassVar[asyncio.TimerHandle | None] = None

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._awaiting_head = True
            self._head_bytes = 0
            self._head_started: float | None = None
            self._too_many_headers = False
            self._refused = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._head_started = self.loop.time()
            if BoundedHeadProtocol._sweep is None:
                BoundedHeadProtocol._sweep = self.loop.call_later(
                    tick_s, _sweep, self.loop, self.connections
                )

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return  # the rest of a refused head: read and dropped until we close
            if self._awaiting_head:
                self._head_bytes += len(data)
                if self._head_started is None:
                    self._head_started = self.loop.time()
            super().data_received(data)
            if self._refused or self.transport.is_closing():
                return
            if self._awaiting_head and self._head_bytes > limits.max_bytes:
                self._refuse(431, f"request line and headers over {limits.max_bytes} bytes")

        def send_400_response(self, msg: str) -> None:
            # uvicorn answers 400 when a parser callback raised; ours means 431.
            if self._too_many_headers:
                self._refuse(431, f"more than {limits.max_headers} header lines")
            else:
                super().send_400_response(msg)

        def on_headers_complete(self) -> None:
            self._awaiting_head = False
            self._head_bytes = 0
            self._head_started = None
            # Counted once the head is complete (no call per header on the hot
            # path): the byte bound has kept it small until then.
            if len(self.headers) > limits.max_headers:
                self._too_many_headers = True
                raise _TooManyHeaders  # stops the parser; uvicorn calls send_400_response
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            # What follows on this connection is the next request's head (an idle
            # keep-alive connection is uvicorn's keep-alive timeout's to close).
            self._awaiting_head = True

        def check_head(self, now: float) -> None:
            started = self._head_started
            if started is None or now - started < limits.timeout_s:
                return
            if self._refused or self.transport.is_closing():
                return
            if self.cycle is not None and not self.cycle.response_complete:
                self._head_started = now  # still answering the previous request
            elif self._head_bytes:
                self._refuse(408, f"request head not received within {limits.timeout_s:g} s")
            else:
                self._head_started = None
                self.transport.close()  # opened, never used

        def _refuse(self, status: int, message: str) -> None:
            log.warning("refused a request head: %s", message, extra={"status": status})
            body = json.dumps({"error": message}).encode()
            self.transport.write(
                b"".join(
                    [
                        STATUS_LINE[status],
                        b"content-type: application/json\r\n",
                        b"content-length: " + str(len(body)).encode() + b"\r\n",
                        b"connection: close\r\n\r\n",
                        body,
                    ]
                )
            )
            self._refused = True
            self._head_started = None
            # Closing with unread input makes the kernel send a reset, which can
            # destroy the answer before the client reads it: say we are done
            # writing, drop what still comes for a moment, then close.
            if self.transport.can_write_eof():
                self.transport.write_eof()
            self.loop.call_later(LINGER_S, self.transport.close)

    def _sweep(loop: asyncio.AbstractEventLoop, connections: MutableSet[Any]) -> None:
        """Check every open connection's head; again in a tick while any is open."""
        BoundedHeadProtocol._sweep = None
        now = loop.time()
        mine = [conn for conn in connections if isinstance(conn, BoundedHeadProtocol)]
        for conn in mine:
            conn.check_head(now)
        if mine:
            BoundedHeadProtocol._sweep = loop.call_later(tick_s, _sweep, loop, connections)

    return BoundedHeadProtocol
