"""NewsItem: the one model every service passes on; what it refuses to hold."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

import pytest
from pydantic import ValidationError
from shared.items import HEADLINE_MAX, URI_MAX, ItemType, PubStatus

from tests.support import builders

item = partial(
    builders.item,
    uri="urn:newsfeed:item:galuzin-tass",
    headline="Moscow sets NATO and EU renunciation as terms for talks",
)


def test_a_minimal_item_gets_ninjs_defaults() -> None:
    made = item()
    assert made.pubstatus is PubStatus.usable
    assert made.type is ItemType.text
    assert made.body_html == ""
    assert made.text is None
    assert made.reading_time_minutes is None
    assert made.enrichment == {}
    assert made.enrichment_failures == ()


@pytest.mark.parametrize("name", ["firstcreated", "versioncreated", "embargoed"])
def test_naive_datetimes_are_rejected(name: str) -> None:
    naive: dict[str, Any] = {name: datetime(2026, 1, 7, 10, 0)}
    with pytest.raises(ValidationError, match=name):
        item(**naive)


def test_aware_datetimes_in_any_offset_are_accepted() -> None:
    kyiv = timezone(timedelta(hours=2))
    made = item(firstcreated=datetime(2026, 1, 7, 12, 0, tzinfo=kyiv))
    assert made.firstcreated == builders.CREATED


@pytest.mark.parametrize("version", [0, -1])
def test_versions_start_at_one(version: int) -> None:
    with pytest.raises(ValidationError, match="version"):
        item(version=version)


def test_headline_at_the_limit_is_accepted_and_one_more_character_is_not() -> None:
    assert len(item(headline="x" * HEADLINE_MAX).headline) == HEADLINE_MAX
    with pytest.raises(ValidationError, match="headline"):
        item(headline="x" * (HEADLINE_MAX + 1))


@pytest.mark.parametrize(
    "uri",
    [
        "urn:newsfeed:item:peace talks",
        "urn:newsfeed:item:peace\ttalks",
        "urn:newsfeed:item:peace-talks\n",
        " urn:newsfeed:item:peace-talks",
        "urn:newsfeed:item:\x00",
        "",
        "u" * (URI_MAX + 1),
    ],
    ids=["space", "tab", "trailing-newline", "leading-space", "nul", "empty", "too-long"],
)
def test_bad_uris_are_rejected(uri: str) -> None:
    with pytest.raises(ValidationError, match="uri"):
        item(uri=uri)


def test_uri_may_hold_unicode_and_punctuation() -> None:
    uri = "https://kyivindependent.com/новини/galuzin|tass?x=1"
    assert item(uri=uri).uri == uri


def test_items_are_frozen() -> None:
    made = item()
    with pytest.raises(ValidationError):
        made.headline = "changed"  # type: ignore[misc]
    assert made.headline == "Moscow sets NATO and EU renunciation as terms for talks"


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError, match="slugline"):
        item(slugline="galuzin")


def test_unknown_fields_in_nested_authors_are_rejected() -> None:
    with pytest.raises(ValidationError, match="email"):
        item(authors=[{"name": "News desk", "email": "desk@example.org"}])


def test_unknown_pubstatus_is_rejected() -> None:
    with pytest.raises(ValidationError, match="pubstatus"):
        item(pubstatus="draft")
