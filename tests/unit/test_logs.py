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
