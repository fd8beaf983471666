"""Feed dates: normalized to UTC, bare dates in the source's zone, future ones clamped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ingest.dates import parse_date, rfc3339, settle, zone

KYIV = zone("Europe/Kyiv")
FETCHED = datetime(2026, 1, 7, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Wed, 07 Jan 2026 10:40:00 +0000", datetime(2026, 1, 7, 10, 40, tzinfo=UTC)),
        ("Wed, 07 Jan 2026 10:40:00 +0200", datetime(2026, 1, 7, 8, 40, tzinfo=UTC)),
        ("Wed, 07 Jan 2026 10:40:00 GMT", datetime(2026, 1, 7, 10, 40, tzinfo=UTC)),
        ("Wed, 07 Jan 2026 10:40:00 EST", datetime(2026, 1, 7, 15, 40, tzinfo=UTC)),
        ("2026-01-07T10:40:00Z", datetime(2026, 1, 7, 10, 40, tzinfo=UTC)),
        ("2026-01-07T10:40:00+02:00", datetime(2026, 1, 7, 8, 40, tzinfo=UTC)),
        ("2026-01-07T10:40:00.123456789Z", datetime(2026, 1, 7, 10, 40, 0, 123456, tzinfo=UTC)),
    ],
)
def test_dates_with_a_zone_are_read_in_that_zone(raw: str, expected: datetime) -> None:
    assert parse_date(raw, KYIV) == expected


@pytest.mark.parametrize(
    "raw", ["Wed, 07 Jan 2026 10:40:00", "2026-01-07T10:40:00", "2026-01-07 10:40"]
)
def test_bare_dates_are_read_in_the_source_zone(raw: str) -> None:
    assert parse_date(raw, KYIV) == datetime(2026, 1, 7, 8, 40, tzinfo=UTC)
    assert parse_date(raw) == datetime(2026, 1, 7, 10, 40, tzinfo=UTC)


def test_summer_time_is_applied_to_bare_dates() -> None:
    assert parse_date("2026-07-07T10:40:00", KYIV) == datetime(2026, 7, 7, 7, 40, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw", [None, "", "   ", "yesterday", "32 Jan 2026", "1900-01-01T00:00:00Z"]
)
def test_unreadable_dates_are_none(raw: str | None) -> None:
    assert parse_date(raw) is None


def test_unknown_zone_names_are_refused() -> None:
    with pytest.raises(ValueError, match="Mars/Olympus"):
        zone("Mars/Olympus")


def test_a_missing_date_takes_the_fetch_time() -> None:
    date = settle(None, FETCHED, timedelta(minutes=10))
    assert (date.value, date.missing, date.clamped) == (FETCHED, True, False)


def test_a_date_within_the_tolerance_is_kept() -> None:
    soon = FETCHED + timedelta(minutes=9)
    assert settle(soon, FETCHED, timedelta(minutes=10)).value == soon


def test_a_date_beyond_the_tolerance_is_clamped_and_flagged() -> None:
    later = FETCHED + timedelta(days=2)
    date = settle(later, FETCHED, timedelta(minutes=10))
    assert (date.value, date.given, date.clamped) == (FETCHED, later, True)


def test_rfc3339_is_utc_with_z() -> None:
    assert rfc3339(datetime(2026, 1, 7, 10, 40, tzinfo=KYIV)) == "2026-01-07T08:40:00Z"
