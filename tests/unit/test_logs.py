"""Structured logs: JSON lines with context, and never a secret."""

from __future__ import annotations

import json
import logging

import pytest
from shared.observability.logs import configure_logging, scrub


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> logging.Logger:
    """Logging configured as the services do, writing to the captured stderr."""
    configure_logging("INFO", "json")
    return logging.getLogger("newsfeed.test")


def last_line(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    captured = capsys.readouterr().err
    lines = [line for line in captured.splitlines() if line.strip()]
    parsed: dict[str, object] = json.loads(lines[-1])
    return parsed


def test_a_log_line_is_one_json_object_carrying_the_item_context(
    json_logs: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    json_logs.info("item published", extra={"uri": "urn:t:1", "version": 2, "traceid": "ab" * 16})
    line = last_line(capsys)
    assert line["event"] == "item published"
    assert (line["uri"], line["version"], line["traceid"]) == ("urn:t:1", 2, "ab" * 16)
    assert line["level"] == "info"
    assert "timestamp" in line


def test_tokens_and_passwords_never_reach_the_log(
    json_logs: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    json_logs.warning(
        "rejected Authorization: Bearer s3cr3t-token-value from redis://user:hunter2@host:6379",
        extra={"token": "s3cr3t-token-value", "authorization": "Bearer s3cr3t-token-value"},
    )
    text = json.dumps(last_line(capsys))
    assert "s3cr3t" not in text
    assert "hunter2" not in text


def test_scrub_keeps_the_rest_of_the_message() -> None:
    assert scrub("got Bearer abc.def-123 ok") == "got Bearer *** ok"
    assert scrub("redis://:pw@localhost:6379/0") == "redis://:***@localhost:6379/0"


FEED_URL = (
    "http://feeduser:S3cretFeedPass@feeds.example.org/rss?api_key=AK-s3cret&token=TK-s3cret&page=2"
)


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_httpx_request_lines_carry_no_credentials_in_either_format(
    fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """httpx logs every request's full URL: what a feed poll writes."""
    import httpx

    configure_logging("INFO", fmt)  # type: ignore[arg-type]
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    with httpx.Client(transport=transport) as client:
        client.get(FEED_URL)
    logging.getLogger("newsfeed.test").warning("fetch failed", extra={"url": httpx.URL(FEED_URL)})
    err = capsys.readouterr().err
    assert "HTTP Request: GET http://feeduser:***@feeds.example.org/rss" in err
    assert "page=2" in err
    for secret in ("S3cretFeedPass", "AK-s3cret", "TK-s3cret"):
        assert secret not in err


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("https://tok123@h.example/x", "https://***@h.example/x"),
        ("rediss://u:p4ss@h:1/0", "rediss://u:***@h:1/0"),
        ("GET /f?X-Amz-Signature=abc&size=1", "GET /f?X-Amz-Signature=***&size=1"),
        ("cb#access_token=zz&state=1", "cb#access_token=***&state=1"),
        ("a=1&client_secret=zz;password=yy", "a=1&client_secret=***;password=***"),
        ("write to a@b.example, size 3", "write to a@b.example, size 3"),
    ],
)
def test_scrub_hides_userinfo_and_secret_looking_parameters(text: str, scrubbed: str) -> None:
    assert scrub(text) == scrubbed
