"""Bounds on a request's head (request line and headers), for every service's
HTTP server: how many bytes, how many header lines, how long to send it.

uvicorn's httptools protocol bounds none of these: a 100 MB header was read
into memory and answered 200, and connections sending a header a byte at a
time stayed open for as long as the client liked. This protocol counts the
bytes received while a head is incomplete (the parser buffers them, so this
bounds memory too), counts header lines, and arms a deadline from the first
byte of a head (or from the connection, for one that sends nothing) until
the head is complete. Past a bound it answers 431 or 408 with a JSON error
and closes the connection (after a second of reading and dropping what still
comes, so the client gets to read the answer); an idle connection that never started a request
is just closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

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

    class BoundedHeadProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._awaiting_head = True
            self._head_bytes = 0
            self._header_count = 0
            self._head_timer: asyncio.TimerHandle | None = None
            self._refused = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_head_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_head_timer()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return  # the rest of a refused head: read and dropped until we close
            if self._awaiting_head:
                self._head_bytes += len(data)
                self._arm_head_timer()
            super().data_received(data)
            if self._refused or self.transport.is_closing():
                return
            if self._header_count > limits.max_headers:
                self._refuse(431, f"more than {limits.max_headers} header lines")
            elif self._awaiting_head and self._head_bytes > limits.max_bytes:
                self._refuse(431, f"request line and headers over {limits.max_bytes} bytes")

        def send_400_response(self, msg: str) -> None:
            # uvicorn answers 400 when a parser callback raised; ours means 431.
            if self._header_count > limits.max_headers:
                self._refuse(431, f"more than {limits.max_headers} header lines")
            else:
                super().send_400_response(msg)

        def on_message_begin(self) -> None:
            self._header_count = 0
            super().on_message_begin()

        def on_header(self, name: bytes, value: bytes) -> None:
            self._header_count += 1
            if self._header_count > limits.max_headers:
                raise _TooManyHeaders
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._awaiting_head = False
            self._head_bytes = 0
            self._disarm_head_timer()
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            # What follows on this connection is the next request's head.
            self._awaiting_head = True

        def _arm_head_timer(self) -> None:
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(limits.timeout_s, self._head_timed_out)

        def _disarm_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self._refused or self.transport.is_closing() or not self._awaiting_head:
                return
            if self.cycle is not None and not self.cycle.response_complete:
                self._arm_head_timer()  # still answering the previous request
            elif self._head_bytes:
                self._refuse(408, f"request head not received within {limits.timeout_s:g} s")
            else:
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
            self._disarm_head_timer()
            self._refused = True
            # Closing with unread input makes the kernel send a reset, which can
            # destroy the answer before the client reads it: say we are done
            # writing, drop what still comes for a moment, then close.
            if self.transport.can_write_eof():
                self.transport.write_eof()
            self.loop.call_later(LINGER_S, self.transport.close)

    return BoundedHeadProtocol
