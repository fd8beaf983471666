"""Feed dates to UTC: RFC 822 (RSS), RFC 3339 (Atom, JSON Feed), bare dates.

A date without a zone is read in the source's time zone when it has one, in
UTC otherwise. A date further in the future than the tolerance is clamped to
the fetch time and flagged; a missing or unreadable date takes the fetch time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from email.utils import parsedate_tz
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Named zones as feedparser reads them (RFC 822's, North American ones, and its
# reading of the military letters); any other name is no zone.
_ZONE_HOURS = {
    "ut": 0, "utc": 0, "gmt": 0, "z": 0,
    "adt": -3, "ast": -4, "at": -4,
    "edt": -4, "est": -5, "et": -5,
    "cdt": -5, "cst": -6, "ct": -6,
    "mdt": -6, "mst": -7, "mt": -7,
    "pdt": -7, "pst": -8, "pt": -8,
    "a": -1, "n": 1, "m": -12, "y": 12,
    "met": 1, "mest": 2,
}  # fmt: skip
_OFFSET = re.compile(r"^(?:gmt|utc|ut)?([+-])(\d{1,2})(?::?(\d{2}))?$")
_TRAILING_COMMENT = re.compile(r"\s*\([^()]*\)\s*$")
_EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)


def zone(name: str | None) -> tzinfo:
    """The tzinfo of an IANA name (validated when a source is registered)."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone {name!r}") from error


def parse_date(raw: str | None, default_zone: tzinfo = UTC) -> datetime | None:
    """A feed date as an aware UTC datetime, or None if it cannot be read."""
    if not raw or not raw.strip():
        return None
    text = raw.strip()[:100]
    parsed = _iso(text, default_zone) or _rfc822(text, default_zone)
    if parsed is None or parsed < _EARLIEST:
        return None
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-14:00: past what datetime holds in UTC
        return None


def _iso(text: str, default_zone: tzinfo) -> datetime | None:
    candidate = text[:-1] + "+00:00" if text[-1:] in "zZ" else text
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=default_zone)


def _zone_minutes(word: str) -> int | None:
    """The UTC offset (minutes) a trailing word names, or None if it names none."""
    word = word.lower().removeprefix("etc/")
    offset = _OFFSET.match(word)
    if offset is not None:
        sign, hours, minutes = offset.groups()
        if int(hours) > 14 or int(minutes or 0) > 59:
            return None
        return (-1 if sign == "-" else 1) * (int(hours) * 60 + int(minutes or 0))
    hours_east = _ZONE_HOURS.get(word)
    return None if hours_east is None else hours_east * 60


def _rfc822(text: str, default_zone: tzinfo) -> datetime | None:
    """RFC 822 and its variants: `+05:30`, a trailing `(EDT)` comment, `ET`, `GMT+2`."""
    words = _TRAILING_COMMENT.sub("", text).split()
    offset = _zone_minutes(words[-1]) if len(words) > 1 else None
    if offset is not None or (len(words) > 4 and words[-1].isalpha()):
        words = words[:-1]  # the zone, or an unknown zone name (read as no zone)
    fields = parsedate_tz(" ".join(words))
    if fields is None:
        return None
    year, month, day, hour, minute, second = fields[:6]
    try:
        naive = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    if offset is None:
        return naive.replace(tzinfo=default_zone)
    return naive.replace(tzinfo=UTC) - timedelta(minutes=offset)


@dataclass(frozen=True)
class EntryDate:
    """The date an item takes from its entry."""

    value: datetime
    given: datetime | None  # what the feed said, in UTC; None if nothing readable
    clamped: bool  # the feed's date was too far in the future

    @property
    def missing(self) -> bool:
        return self.given is None


def settle(given: datetime | None, fetched_at: datetime, tolerance: timedelta) -> EntryDate:
    """Missing → the fetch time; beyond `fetched_at + tolerance` → clamped to it."""
    if given is None:
        return EntryDate(fetched_at, None, clamped=False)
    if given > fetched_at + tolerance:
        return EntryDate(fetched_at, given, clamped=True)
    return EntryDate(given, given, clamped=False)


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
