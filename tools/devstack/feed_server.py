"""A local HTTP server of feeds for the tests and the benchmark: serves fixture
feeds and counts what it gets.

Each path is a `Route`: a body and status, optionally an ETag/Last-Modified
it honours with 304, a delay before answering, a trickle (one byte per
interval), gzip, or a redirect. Every request is recorded (path, headers,
time), and the server tracks how many requests per path were in flight at
once, so tests can show politeness and mutual exclusion from the outside.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    delay_s: float = 0.0
    trickle_s: float | None = None
    gzip: bool = False
    declared_length: int | None = None


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]
    at: float


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hung up (a cap or deadline hit) is expected here; say nothing.
        return


class FeedServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._inflight: Counter[str] = Counter()
        self.max_inflight: Counter[str] = Counter()
        self.max_inflight_total = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes

            def log_message(self, *_: object) -> None:
                return

            def do_GET(self) -> None:
                server._handle(self)

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def serve(self, path: str, route: Route) -> str:
        with self._lock:
            self.routes[path] = route
        return self.url(path)

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        return self.serve(path, Route(status=status, headers={"Location": location}))

    def count(self, path: str) -> int:
        with self._lock:
            return sum(1 for seen in self.requests if seen.path == path)

    def seen(self, path: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.requests if s.path == path]

    @property
    def inflight_total(self) -> int:
        """Requests being answered now."""
        with self._lock:
            return sum(self._inflight.values())

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.max_inflight.clear()
            self.max_inflight_total = 0

    # -- handling ----------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        with self._lock:
            self.requests.append(Seen(path, dict(handler.headers.items()), time.monotonic()))
            route = self.routes.get(path)
            self._inflight[path] += 1
            self.max_inflight[path] = max(self.max_inflight[path], self._inflight[path])
            self.max_inflight_total = max(self.max_inflight_total, sum(self._inflight.values()))
        try:
            self._answer(handler, route)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a cap or a deadline): that is the point
        finally:
            with self._lock:
                self._inflight[path] -= 1

    def _answer(self, handler: BaseHTTPRequestHandler, route: Route | None) -> None:
        if route is None:
            handler.send_response(404)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        if route.delay_s:
            time.sleep(route.delay_s)
        matches_etag = route.etag and handler.headers.get("If-None-Match") == route.etag
        matches_date = (
            route.last_modified
            and not route.etag
            and handler.headers.get("If-Modified-Since") == route.last_modified
        )
        if matches_etag or matches_date:
            handler.send_response(304)
            self._validators(handler, route)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        body = gzip.compress(route.body) if route.gzip else route.body
        handler.send_response(route.status)
        handler.send_header("Content-Type", route.content_type)
        if route.gzip:
            handler.send_header("Content-Encoding", "gzip")
        self._validators(handler, route)
        for name, value in route.headers.items():
            handler.send_header(name, value)
        length = route.declared_length if route.declared_length is not None else len(body)
        handler.send_header("Content-Length", str(length))
        handler.end_headers()
        if route.trickle_s is None:
            handler.wfile.write(body)
            return
        for index in range(len(body)):
            handler.wfile.write(body[index : index + 1])
            handler.wfile.flush()
            time.sleep(route.trickle_s)

    @staticmethod
    def _validators(handler: BaseHTTPRequestHandler, route: Route) -> None:
        if route.etag:
            handler.send_header("ETag", route.etag)
        if route.last_modified:
            handler.send_header("Last-Modified", route.last_modified)


# -- building feeds in tests -------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    title: str
    guid: str | None = None
    link: str | None = None
    body: str = "<p>Body.</p>"
    date: datetime | None = None
    raw_date: str | None = None
    author: str | None = None


def rss(items: list[Item], *, title: str = "Test wire", ttl: int | None = None) -> bytes:
    """An RSS 2.0 document of `items`."""
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<rss version="2.0"><channel>',
        f"<title>{escape(title)}</title><link>https://wire.example.org/</link>",
        "<description>Test feed</description><language>en</language>",
    ]
    if ttl is not None:
        parts.append(f"<ttl>{ttl}</ttl>")
    for item in items:
        parts.append("<item>")
        parts.append(f"<title>{escape(item.title)}</title>")
        if item.guid:
            parts.append(f'<guid isPermaLink="false">{escape(item.guid)}</guid>')
        if item.link:
            parts.append(f"<link>{escape(item.link)}</link>")
        parts.append(f"<description>{escape(item.body)}</description>")
        date = item.raw_date or (format_datetime(item.date) if item.date else None)
        if date:
            parts.append(f"<pubDate>{escape(date)}</pubDate>")
        if item.author:
            parts.append(f"<author>{escape(item.author)}</author>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "\n".join(parts).encode()
