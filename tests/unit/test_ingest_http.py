"""The ingest HTTP edge, without Redis: token check, trace id, and reading a JSON body.

Requests are driven through the ASGI interface directly, so no HTTP client is needed and
the exact bytes and chunks the app receives are under the test's control.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from fastapi import FastAPI, Request
from ingest.api import install_error_handlers, read_json, trace_id_of
from ingest.auth import check_token
from ingest.http_errors import Rejected
from starlette.responses import JSONResponse
from starlette.types import Message

TOKEN = "s3cret-token-for-the-desk"
SMALL_CAP = 64
DEEP_CAP = 100_000


def scope(
    headers: Sequence[tuple[str, str]] = (), method: str = "GET", path: str = "/"
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }


def request(*headers: tuple[str, str]) -> Request:
    return Request(scope(headers))


# -- check_token -----------------------------------------------------------------


def test_missing_authorization_is_401_missing() -> None:
    with pytest.raises(Rejected) as caught:
        check_token(request(), TOKEN)
    assert caught.value.status == 401
    assert "missing" in caught.value.error


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Basic " + TOKEN, "Token " + TOKEN, TOKEN])
def test_no_bearer_token_is_401_missing(header: str) -> None:
    with pytest.raises(Rejected) as caught:
        check_token(request(("authorization", header)), TOKEN)
    assert caught.value.status == 401
    assert "missing" in caught.value.error


@pytest.mark.parametrize(
    "token", ["wrong-token-for-the-desk", TOKEN[:-1], TOKEN + "x", TOKEN.upper(), "x"]
)
def test_wrong_token_is_401_invalid(token: str) -> None:
    with pytest.raises(Rejected) as caught:
        check_token(request(("authorization", f"Bearer {token}")), TOKEN)
    assert caught.value.status == 401
    assert "invalid" in caught.value.error


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_right_token_passes(scheme: str) -> None:
    check_token(request(("authorization", f"{scheme} {TOKEN}")), TOKEN)  # raises no Rejected


def test_401_tells_the_client_to_use_bearer() -> None:
    with pytest.raises(Rejected) as caught:
        check_token(request(), TOKEN)
    response = caught.value.response()
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert json.loads(bytes(response.body)) == {"error": "missing bearer token"}


# -- trace_id_of -----------------------------------------------------------------


def _is_fresh_trace_id(value: str) -> bool:
    return len(value) == 32 and set(value) <= set("0123456789abcdef") and value != "0" * 32


def test_valid_traceparent_gives_its_trace_id() -> None:
    header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert trace_id_of(request(("traceparent", header))) == "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize(
    "header",
    [
        "",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # 31 hex digits
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # uppercase
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",  # no flags
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",
        "garbage",
    ],
    ids=["empty", "all-zero", "short", "uppercase", "no-flags", "bare-id", "trailing", "junk"],
)
def test_bad_traceparent_gives_a_fresh_trace_id(header: str) -> None:
    first = trace_id_of(request(("traceparent", header)))
    second = trace_id_of(request(("traceparent", header)))
    assert _is_fresh_trace_id(first)
    assert first != second
    assert first != "4bf92f3577b34da6a3ce929d0e0e4736"


def test_no_traceparent_gives_a_fresh_trace_id() -> None:
    assert _is_fresh_trace_id(trace_id_of(request()))


# -- read_json through a tiny app --------------------------------------------------


def tiny_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/small")
    async def small(request: Request) -> JSONResponse:
        return JSONResponse({"got": await read_json(request, SMALL_CAP)})

    @app.post("/large")
    async def large(request: Request) -> JSONResponse:
        value = await read_json(request, DEEP_CAP)
        return JSONResponse({"type": type(value).__name__})

    return app


async def post(
    path: str,
    chunks: Sequence[bytes],
    content_type: str | None = "application/json",
    *,
    content_length: bool = True,
) -> tuple[int, dict[str, Any]]:
    headers = [] if content_type is None else [("content-type", content_type)]
    if content_length:
        headers.append(("content-length", str(sum(map(len, chunks)))))
    else:
        headers.append(("transfer-encoding", "chunked"))
    pending = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ] or [{"type": "http.request", "body": b"", "more_body": False}]
    sent: list[Message] = []

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await tiny_app()(scope(headers, "POST", path), receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body)


async def test_json_within_the_cap_is_read() -> None:
    status, body = await post("/small", [b'{"headline": "Galuzin"}'])
    assert (status, body) == (200, {"got": {"headline": "Galuzin"}})


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "Application/JSON", "application/ld+json"],
)
async def test_json_content_types_are_accepted(content_type: str) -> None:
    status, _ = await post("/small", [b"[1, 2]"], content_type)
    assert status == 200


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "", None]
)
async def test_non_json_content_type_is_415(content_type: str | None) -> None:
    status, body = await post("/small", [b'{"headline": "Galuzin"}'], content_type)
    assert status == 415
    assert "application/json" in body["error"]


async def test_body_over_the_cap_with_content_length_is_413() -> None:
    body_bytes = json.dumps({"headline": "x" * SMALL_CAP}).encode()
    status, body = await post("/small", [body_bytes])
    assert status == 413
    assert str(SMALL_CAP) in body["error"]


async def test_declared_content_length_over_the_cap_is_413_before_reading() -> None:
    # The header alone decides: the client has sent only a few bytes so far.
    headers = [("content-type", "application/json"), ("content-length", "5000000")]
    sent: list[Message] = []
    reads = 0

    async def receive() -> Message:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"[", "more_body": True}

    async def send(message: Message) -> None:
        sent.append(message)

    await tiny_app()(scope(headers, "POST", "/small"), receive, send)
    assert sent[0]["status"] == 413
    assert reads == 0


async def test_chunked_body_over_the_cap_without_content_length_is_413() -> None:
    chunks = [b'{"body_html": "', *([b"x" * 16] * 8), b'"}']
    status, body = await post("/small", chunks, content_length=False)
    assert status == 413
    assert str(SMALL_CAP) in body["error"]


async def test_chunked_body_within_the_cap_is_read() -> None:
    status, body = await post("/small", [b'{"head', b'line": ', b'"Yermak"}'], content_length=False)
    assert (status, body) == (200, {"got": {"headline": "Yermak"}})


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"", b'{"headline": "Galuzin"', b"[1, 2,]", b"NaN"],
    ids=["garbage", "empty", "unclosed", "trailing-comma", "nan"],
)
async def test_invalid_json_is_400(raw: bytes) -> None:
    status, body = await post("/small", [raw])
    assert status == 400
    assert "JSON" in body["error"]


@pytest.mark.parametrize(
    "raw",
    [b'{"headline": "\xff\xfe"}', b'{"headline": "caf\xe9"}', b'{"headline": "\xed\xa0\x80"}'],
    ids=["ff-fe", "latin-1", "surrogate"],
)
async def test_invalid_utf8_is_400(raw: bytes) -> None:
    status, body = await post("/small", [raw])
    assert status == 400
    assert "UTF-8" in body["error"]


@pytest.mark.parametrize("opener", [b"[", b'{"a":'], ids=["arrays", "objects"])
async def test_json_nested_10000_deep_is_400_not_500(opener: bytes) -> None:
    closer = b"]" if opener == b"[" else b"}"
    raw = opener * 10_000 + b"1" + closer * 10_000
    assert len(raw) < DEEP_CAP
    status, body = await post("/large", [raw])
    assert status == 400
    assert "JSON" in body["error"]


async def test_moderately_nested_json_is_read() -> None:
    raw = b"[" * 100 + b"1" + b"]" * 100
    status, body = await post("/large", [raw])
    assert (status, body) == (200, {"type": "list"})
