"""Submissions: what ingest accepts, when two are the same story, and the item made of one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ingest.submission import Submission, material_hash, new_uri, to_item
from pydantic import ValidationError
from shared.items import ItemType, NewsItem, PubStatus

MADE = datetime(2026, 1, 7, 8, 30, tzinfo=UTC)
NOW = datetime(2026, 1, 7, 9, 0, tzinfo=UTC)


def submission(**changes: Any) -> Submission:
    fields: dict[str, Any] = {
        "uri": "urn:newsfeed:item:yermak-telegram",
        "headline": "Yermak: no talks while Russian troops stay on Ukrainian soil",
        "body_html": "<p>Andriy Yermak answered Galuzin on Telegram.</p>",
        "description_text": "The presidential chief of staff rejects Moscow's terms.",
        "language": "en",
        "authors": [{"name": "The Kyiv Independent news desk", "role": "desk"}],
        "firstcreated": MADE.isoformat(),
    }
    fields.update(changes)
    return Submission.model_validate(fields)


# -- validation ------------------------------------------------------------------


def test_a_full_submission_is_accepted() -> None:
    made = submission(
        type="video",
        renditions={"original": {"href": "https://cdn.example.org/yermak.mp4", "duration": 61.5}},
        embargoed="2026-01-07T12:00:00+02:00",
    )
    assert made.type is ItemType.video
    assert made.embargoed == datetime(2026, 1, 7, 10, 0, tzinfo=UTC)


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError, match="priority"):
        submission(priority=1)


def test_server_owned_fields_cannot_be_submitted() -> None:
    for name, value in [("version", 7), ("versioncreated", NOW.isoformat()), ("text", {})]:
        with pytest.raises(ValidationError, match=name):
            submission(**{name: value})


@pytest.mark.parametrize(
    ("headline", "body_html"),
    [("", ""), ("   ", "\n\t"), ("", " ")],
)
def test_an_item_needs_a_headline_or_a_body(headline: str, body_html: str) -> None:
    with pytest.raises(ValidationError, match="headline or a body_html"):
        submission(headline=headline, body_html=body_html)


@pytest.mark.parametrize(("headline", "body_html"), [("Only a headline", ""), ("", "<p>b</p>")])
def test_a_headline_or_a_body_alone_is_enough(headline: str, body_html: str) -> None:
    assert submission(headline=headline, body_html=body_html).headline == headline


def test_a_kill_needs_neither_headline_nor_body() -> None:
    kill = submission(headline="", body_html="", pubstatus="canceled", ednote="Duplicate story")
    assert kill.pubstatus is PubStatus.canceled


def test_withheld_without_content_is_rejected() -> None:
    with pytest.raises(ValidationError):
        submission(headline="", body_html="", pubstatus="withheld")


@pytest.mark.parametrize("language", ["en", "uk", "en-GB", "zh-Hant-TW", "fil"])
def test_good_language_tags_are_accepted(language: str) -> None:
    assert submission(language=language).language == language


@pytest.mark.parametrize(
    "language", ["", "e", "english", "en_GB", "en-", "en-G", "12", "en GB", "en\n"]
)
def test_bad_language_tags_are_rejected(language: str) -> None:
    with pytest.raises(ValidationError, match="language"):
        submission(language=language)


@pytest.mark.parametrize("name", ["firstcreated", "embargoed"])
def test_naive_datetimes_are_rejected(name: str) -> None:
    with pytest.raises(ValidationError, match=name):
        submission(**{name: "2026-01-07T08:30:00"})


def test_a_uri_with_whitespace_is_rejected() -> None:
    with pytest.raises(ValidationError, match="uri"):
        submission(uri="urn:newsfeed:item:yermak telegram")


def test_a_missing_uri_is_allowed_and_new_uris_are_unique() -> None:
    assert submission(uri=None).uri is None
    made = {new_uri() for _ in range(100)}
    assert len(made) == 100
    assert all(uri.startswith("urn:newsfeed:item:") for uri in made)


# -- material hash ---------------------------------------------------------------


def test_material_hash_ignores_firstcreated_and_uri() -> None:
    base = material_hash(submission())
    assert material_hash(submission(firstcreated=(MADE + timedelta(days=3)).isoformat())) == base
    assert material_hash(submission(firstcreated=None)) == base
    assert material_hash(submission(uri="urn:newsfeed:item:other")) == base
    assert material_hash(submission(uri=None)) == base


def test_material_hash_ignores_whitespace_differences_in_the_headline() -> None:
    base = material_hash(submission(headline="Yermak: no talks while troops stay"))
    for spaced in [
        "  Yermak: no talks while troops stay ",
        "Yermak:  no talks\twhile troops\nstay",
    ]:
        assert material_hash(submission(headline=spaced)) == base


@pytest.mark.parametrize(
    "change",
    [
        {"headline": "Yermak: no talks while Russian troops remain on Ukrainian soil"},
        {"body_html": "<p>Andriy Yermak answered Galuzin on Telegram on Jan. 7.</p>"},
        {"type": "video"},
        {"authors": [{"name": "Jared Goyette"}]},
        {"authors": [{"name": "The Kyiv Independent news desk", "role": "editor"}]},
        {"authors": []},
        {"pubstatus": "withheld"},
        {"pubstatus": "canceled"},
        {"ednote": "Corrects the date of the interview"},
        {"description_text": None},
        {"language": "uk"},
        {"embargoed": "2026-01-08T00:00:00Z"},
        {"renditions": {"thumb": {"href": "https://cdn.example.org/y.jpg"}}},
    ],
    ids=lambda change: next(iter(change)),
)
def test_material_hash_changes_with_content(change: dict[str, Any]) -> None:
    assert material_hash(submission(**change)) != material_hash(submission())


def test_material_hash_is_stable_across_equal_submissions() -> None:
    assert material_hash(submission()) == material_hash(submission())
    assert len(material_hash(submission())) == 64


# -- to_item ---------------------------------------------------------------------


def test_to_item_copies_the_submission_and_stamps_version_and_times() -> None:
    sub = submission(
        type="video",
        ednote="Updated with video",
        embargoed="2026-01-07T12:00:00Z",
        renditions={"original": {"href": "https://cdn.example.org/y.mp4", "width": 1920}},
    )
    item = to_item(
        sub, uri="urn:newsfeed:item:yermak-telegram", version=3, firstcreated=MADE, now=NOW
    )
    assert isinstance(item, NewsItem)
    assert item.uri == "urn:newsfeed:item:yermak-telegram"
    assert item.version == 3
    assert item.firstcreated == MADE
    assert item.versioncreated == NOW
    assert item.headline == sub.headline
    assert item.body_html == sub.body_html
    assert item.description_text == sub.description_text
    assert item.language == "en"
    assert item.type is ItemType.video
    assert item.pubstatus is PubStatus.usable
    assert item.ednote == "Updated with video"
    assert item.embargoed == datetime(2026, 1, 7, 12, 0, tzinfo=UTC)
    assert item.renditions == sub.renditions
    assert item.authors == tuple(sub.authors)
    assert item.authors[0].name == "The Kyiv Independent news desk"
    # Enrichment has not run yet.
    assert item.text is None
    assert item.reading_time_minutes is None
    assert item.enrichment == {}


def test_to_item_uses_the_given_uri_and_firstcreated_not_the_submitted_ones() -> None:
    sub = submission(uri=None, firstcreated=None)
    item = to_item(sub, uri="urn:newsfeed:item:made-up", version=1, firstcreated=NOW, now=NOW)
    assert item.uri == "urn:newsfeed:item:made-up"
    assert item.firstcreated == NOW


def test_to_item_of_a_kill_keeps_status_and_note() -> None:
    kill = submission(headline="", body_html="", pubstatus="canceled", ednote="Legal request")
    item = to_item(kill, uri="urn:newsfeed:item:k", version=2, firstcreated=MADE, now=NOW)
    assert item.pubstatus is PubStatus.canceled
    assert item.ednote == "Legal request"
    assert item.headline == ""
