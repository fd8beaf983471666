"""HTTP representations: bytes rendered once, with their strong ETag and gzip'd copy.

A `Rendered` is everything a response needs, computed when the body is made:
the body, its gzip'd form (for bodies worth compressing), a strong ETag for
each of the two (different content codings are different representations, so
they get different strong validators) and the raw header lists. Serving one
from the first-page cache is then a dictionary lookup and two header checks,
with no serialization, hashing or compression per request.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

GZIP_MIN_BYTES = 1024

JSON = "application/json"
HTML = "text/html; charset=utf-8"

# Cache-Control values for a live feed (docs/gateway.md explains the choice).
NO_STORE = "no-store"
REVALIDATE = "no-cache"  # may be stored, must be revalidated (a 304 is cheap)
# A shared cache may serve a copy a little past its age while it fetches a new
# one (stale-while-revalidate): at most 5 + 10 s stale for a first page without
# a purge, and a CDN driven by news.published purges sooner (docs/gateway.md).
LIVE_FEED = "public, max-age=5, stale-while-revalidate=10"
OLDER_PAGE = "public, max-age=60, stale-while-revalidate=300"
ITEM = "public, max-age=5, stale-while-revalidate=10"
GONE = "public, max-age=60"
IMMUTABLE = "public, max-age=31536000, immutable"

# Sent with every response of the gateway.
BASE_HEADERS: tuple[tuple[str, str], ...] = (
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
)
# Machine-readable outputs: readable from any origin, never framed or run.
API_HEADERS: tuple[tuple[str, str], ...] = (
    *BASE_HEADERS,
    ("access-control-allow-origin", "*"),
    ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
)


def page_headers(csp: str) -> tuple[tuple[str, str], ...]:
    """Headers of an HTML page under `csp`."""
    return (
        *BASE_HEADERS,
        ("content-security-policy", csp),
        ("cross-origin-opener-policy", "same-origin"),
        ("x-frame-options", "DENY"),
    )


def raw_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]


class Rendered:
    """A body with its validators and header lists; the gzip'd copy is made on first
    demand and kept (so a cached page is compressed at most once)."""

    __slots__ = (
        "_common",
        "_gzip",
        "body",
        "cache_control",
        "etag",
        "gzip_etag",
        "gzip_level",
        "media_type",
        "raw_not_modified",
        "raw_not_modified_gzip",
        "raw_plain",
    )

    def __init__(
        self,
        body: bytes,
        media_type: str,
        cache_control: str,
        headers: Sequence[tuple[str, str]],
        gzip_level: int,
    ) -> None:
        # SHA-256 runs on the CPU's SHA extensions: half the time of BLAKE2b on a 110 kB page.
        digest = hashlib.sha256(body).hexdigest()[:32]
        self.body = body
        self.media_type = media_type
        self.cache_control = cache_control
        self.gzip_level = gzip_level
        self.etag = f'"{digest}"'
        common = [("cache-control", cache_control), *headers]
        self.gzip_etag: str | None = None
        self.raw_not_modified_gzip: list[tuple[bytes, bytes]] | None = None
        if len(body) >= GZIP_MIN_BYTES:
            self.gzip_etag = f'"{digest}-gz"'
            common.append(("vary", "accept-encoding"))
            self.raw_not_modified_gzip = raw_headers([("etag", self.gzip_etag), *common])
        self._common = common
        self._gzip: tuple[bytes, list[tuple[bytes, bytes]]] | None = None
        self.raw_plain = raw_headers(
            [
                ("content-type", media_type),
                ("content-length", str(len(body))),
                ("etag", self.etag),
                *common,
            ]
        )
        self.raw_not_modified = raw_headers([("etag", self.etag), *common])

    @property
    def compressible(self) -> bool:
        return self.gzip_etag is not None

    def gzipped(self) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        """The gzip'd body and its headers (call only when `compressible`)."""
        if self._gzip is None:
            assert self.gzip_etag is not None
            data = gzip.compress(self.body, compresslevel=self.gzip_level, mtime=0)
            headers = raw_headers(
                [
                    ("content-type", self.media_type),
                    ("content-length", str(len(data))),
                    ("content-encoding", "gzip"),
                    ("etag", self.gzip_etag),
                    *self._common,
                ]
            )
            self._gzip = (data, headers)
        return self._gzip


def render(
    body: bytes,
    media_type: str,
    cache_control: str,
    headers: Sequence[tuple[str, str]] = API_HEADERS,
    *,
    gzip_level: int = 6,
) -> Rendered:
    """`gzip_level`: 6 for what is cached and served many times, 1 for one-off bodies."""
    return Rendered(body, media_type, cache_control, headers, gzip_level)


class Prebuilt(Response):
    """A response whose header list was built in advance: nothing to encode per request."""

    def __init__(self, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        self.status_code = status
        self.body = body
        self.background = None
        self.raw_headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        if scope["method"] == "HEAD":
            await send({"type": "http.response.body", "body": b""})
        else:
            await send({"type": "http.response.body", "body": self.body})


def accepts_gzip(value: str) -> bool:
    """True when Accept-Encoding allows gzip (and does not give it q=0)."""
    if "gzip" not in value and "*" not in value:
        return False
    for part in value.split(","):
        coding, _, params = part.partition(";")
        coding = coding.strip().lower()
        if coding in ("gzip", "x-gzip", "*"):
            q = params.strip().lower()
            if q.startswith("q="):
                try:
                    return float(q[2:]) > 0
                except ValueError:
                    return False
            return True
    return False


def none_match(value: str, *etags: str | None) -> bool:
    """If-None-Match compared weakly (RFC 9110 13.1.2): W/ prefixes do not matter."""
    if value.strip() == "*":
        return True
    wanted = {tag.strip().removeprefix("W/") for tag in value.split(",")}
    return any(tag in wanted for tag in etags if tag)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def respond(request: Request, rendered: Rendered, status: int = 200) -> Response:
    """The representation the request asks for: 304, gzip'd or plain."""
    scope = request.scope
    use_gzip = rendered.compressible and accepts_gzip(_header(scope, b"accept-encoding"))
    inm = _header(scope, b"if-none-match")
    if inm and status == 200 and none_match(inm, rendered.etag, rendered.gzip_etag):
        if use_gzip and rendered.raw_not_modified_gzip is not None:
            return Prebuilt(304, b"", rendered.raw_not_modified_gzip)
        return Prebuilt(304, b"", rendered.raw_not_modified)
    if use_gzip:
        data, headers = rendered.gzipped()
        return Prebuilt(status, data, headers)
    return Prebuilt(status, rendered.body, rendered.raw_plain)


def json_bytes(value: Any) -> bytes:
    return orjson.dumps(value)


def error_body(message: str, detail: Any = None) -> bytes:
    body: dict[str, Any] = {"error": message}
    if detail is not None:
        body["detail"] = detail
    return json_bytes(body)


def json_error(
    request: Request,
    status: int,
    message: str,
    detail: Any = None,
    *,
    cache_control: str = NO_STORE,
    headers: Sequence[tuple[str, str]] = (),
) -> Response:
    rendered = render(error_body(message, detail), JSON, cache_control, (*API_HEADERS, *headers))
    return respond(request, rendered, status)
