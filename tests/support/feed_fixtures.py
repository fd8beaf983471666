"""The feed files in tests/fixtures/feeds, as bytes (served by
tools.devstack.feed_server in the tests, parsed directly in others)."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()
