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
from dataclasses import dataclass, field
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
LIVE_FEED = "public, max-age=5"
OLDER_PAGE = "public, max-age=60"
ITEM = "public, max-age=5"
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


@dataclass(frozen=True, slots=True)
class Rendered:
    body: bytes
    media_type: str
    cache_control: str
    etag: str
    gzipped: bytes | None
    gzip_etag: str | None
    raw_plain: list[tuple[bytes, bytes]] = field(repr=False)
    raw_gzip: list[tuple[bytes, bytes]] | None = field(repr=False)
    raw_not_modified: list[tuple[bytes, bytes]] = field(repr=False)
    raw_not_modified_gzip: list[tuple[bytes, bytes]] | None = field(repr=False)


def render(
    body: bytes,
    media_type: str,
    cache_control: str,
    headers: Sequence[tuple[str, str]] = API_HEADERS,
) -> Rendered:
    digest = hashlib.blake2b(body, digest_size=16).hexdigest()
    etag = f'"{digest}"'
    common = [("cache-control", cache_control), *headers]
    gzipped = gzip_etag = raw_gzip = raw_nm_gzip = None
    if len(body) >= GZIP_MIN_BYTES:
        gzipped = gzip.compress(body, compresslevel=6, mtime=0)
        gzip_etag = f'"{digest}-gz"'
        common.append(("vary", "accept-encoding"))
        raw_gzip = raw_headers(
            [
                ("content-type", media_type),
                ("content-length", str(len(gzipped))),
                ("content-encoding", "gzip"),
                ("etag", gzip_etag),
                *common,
            ]
        )
        raw_nm_gzip = raw_headers([("etag", gzip_etag), *common])
    return Rendered(
        body=body,
        media_type=media_type,
        cache_control=cache_control,
        etag=etag,
        gzipped=gzipped,
        gzip_etag=gzip_etag,
        raw_plain=raw_headers(
            [
                ("content-type", media_type),
                ("content-length", str(len(body))),
                ("etag", etag),
                *common,
            ]
        ),
        raw_gzip=raw_gzip,
        raw_not_modified=raw_headers([("etag", etag), *common]),
        raw_not_modified_gzip=raw_nm_gzip,
    )


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
    use_gzip = rendered.gzipped is not None and accepts_gzip(_header(scope, b"accept-encoding"))
    inm = _header(scope, b"if-none-match")
    if inm and status == 200 and none_match(inm, rendered.etag, rendered.gzip_etag):
        if use_gzip and rendered.raw_not_modified_gzip is not None:
            return Prebuilt(304, b"", rendered.raw_not_modified_gzip)
        return Prebuilt(304, b"", rendered.raw_not_modified)
    if use_gzip and rendered.gzipped is not None and rendered.raw_gzip is not None:
        return Prebuilt(status, rendered.gzipped, rendered.raw_gzip)
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
