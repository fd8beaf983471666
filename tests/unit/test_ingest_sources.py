"""The source registry model and the sources file (YAML or TOML)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ingest.feed_items import Candidate, EntryRejected, to_candidate
from ingest.identity import link_uri
from ingest.parse import Entry
from ingest.sources import (
    SourceConfig,
    SourcePatch,
    SourcesFileError,
    load_sources_file,
    patched,
)
from pydantic import ValidationError

FETCHED = datetime(2026, 1, 7, 12, 0, tzinfo=UTC)


def test_only_id_and_url_are_required() -> None:
    source = SourceConfig.model_validate({"id": "kyiv-wire", "url": "https://wire.example.org/rss"})
    assert source.poll_interval_seconds == 300
    assert source.enabled
    assert source.authors == []
    assert source.subjects == []
    assert source.language is None
    assert source.timezone is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "Kyiv Wire"),
        ("id", "-wire"),
        ("id", "x" * 65),
        ("url", "ftp://wire.example.org/rss"),
        ("url", "file:///etc/passwd"),
        ("url", "wire.example.org/rss"),
        ("url", "https://wire.example.org/" + "a" * 2000),
        ("poll_interval_seconds", 0),
        ("poll_interval_seconds", 86_401),
        ("timezone", "Mars/Olympus"),
        ("language", "english"),
        ("priority", 1),
    ],
)
def test_invalid_sources_are_refused_naming_the_field(field: str, value: object) -> None:
    raw = {"id": "kyiv-wire", "url": "https://wire.example.org/rss", field: value}
    with pytest.raises(ValidationError, match=field):
        SourceConfig.model_validate(raw)


def test_a_patch_changes_only_the_given_fields_and_null_clears_optional_ones() -> None:
    source = SourceConfig.model_validate(
        {"id": "w", "url": "https://wire.example.org/rss", "language": "uk", "timezone": "UTC"}
    )
    changed = patched(source, SourcePatch.model_validate({"enabled": False, "language": None}))
    assert (changed.enabled, changed.language, changed.timezone) == (False, None, "UTC")
    assert changed.url == source.url


def test_a_patch_cannot_change_the_id() -> None:
    with pytest.raises(ValidationError, match="id"):
        SourcePatch.model_validate({"id": "other"})


YAML = """
sources:
  - id: kyiv-wire
    url: https://wire.example.org/rss
    poll_interval_seconds: 120
    authors:
      - {name: Kyiv Wire desk, role: desk, biography: Short checked updates.}
    language: uk
    timezone: Europe/Kyiv
    subjects: [Ukraine, War]
  - id: partner
    url: https://partner.example.com/atom.xml
    enabled: false
"""

TOML = """
[[sources]]
id = "kyiv-wire"
url = "https://wire.example.org/rss"
subjects = ["Ukraine"]

[[sources]]
id = "partner"
url = "https://partner.example.com/feed.json"
"""


def test_sources_load_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(YAML)
    wire, partner = load_sources_file(path, max_sources=10)
    assert wire.authors[0].biography == "Short checked updates."
    assert wire.timezone == "Europe/Kyiv"
    assert not partner.enabled


def test_sources_load_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    path.write_text(TOML)
    assert [s.id for s in load_sources_file(path, max_sources=10)] == ["kyiv-wire", "partner"]


def test_a_bare_yaml_list_and_an_empty_file_are_read(tmp_path: Path) -> None:
    path = tmp_path / "sources.yml"
    path.write_text("- {id: a, url: 'https://a.example/rss'}\n")
    assert len(load_sources_file(path, 10)) == 1
    path.write_text("")
    assert load_sources_file(path, 10) == []


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("s.yaml", "sources: [{id: a}]", r"sources\[0\]\.url"),
        (
            "s.yaml",
            "sources: [{id: a, url: 'https://a.example'}, {id: a, url: 'https://b.example'}]",
            "twice",
        ),
        ("s.yaml", "sources: {id: a}", "list"),
        ("s.yaml", "sources: [", "not valid YAML"),
        ("s.toml", "[[sources]\nid=", "not valid TOML"),
        ("s.json", "{}", r"\.yaml, \.yml or \.toml"),
        (
            "s.yaml",
            "sources: ["
            + ", ".join(f"{{id: s{n}, url: 'https://a.example'}}" for n in range(4))
            + "]",
            "more than",
        ),
    ],
)
def test_a_bad_sources_file_names_every_problem(
    tmp_path: Path, name: str, text: str, says: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(SourcesFileError, match=says):
        load_sources_file(path, max_sources=3)


def test_a_missing_sources_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourcesFileError, match="cannot read"):
        load_sources_file(tmp_path / "nope.yaml", 10)


# -- entry + source defaults -> submission ---------------------------------------------


SOURCE = SourceConfig.model_validate(
    {
        "id": "kyiv-wire",
        "url": "https://wire.example.org/rss",
        "authors": [{"name": "Kyiv Wire desk", "role": "desk", "biography": "Checked updates."}],
        "language": "uk",
        "timezone": "Europe/Kyiv",
        "subjects": ["Ukraine"],
    }
)


def entry(**changes: object) -> Entry:
    fields: dict[str, object] = {
        "guid": "g-1",
        "link": "https://wire.example.org/news/a?utm_source=rss#top",
        "title": "Zelensky in Cyprus",
        "content_html": "<p>Body</p>",
        "summary_html": "<p>Short <b>summary</b></p>",
        "date_raw": "Wed, 07 Jan 2026 10:40:00",
        "date_parsed": None,
        "authors": (),
        "categories": ("Diplomacy", "ukraine"),
    }
    fields.update(changes)
    return Entry(**fields)  # type: ignore[arg-type]


def candidate(e: Entry, feed_language: str | None = None) -> Candidate:
    return to_candidate(
        e,
        SOURCE,
        feed_language=feed_language,
        fetched_at=FETCHED,
        future_tolerance=timedelta(minutes=10),
    )


def test_source_defaults_fill_what_the_entry_lacks() -> None:
    made = candidate(entry())
    sub = made.submission
    assert str(sub.link) == "https://wire.example.org/news/a"
    assert sub.authors[0].name == "Kyiv Wire desk"
    assert sub.authors[0].role == "desk"
    assert sub.language == "uk"
    assert [(s.name, s.creator) for s in sub.subjects] == [
        ("Ukraine", "source"),
        ("Diplomacy", "feed"),
    ]
    assert sub.description_text == "Short summary"
    assert sub.firstcreated == datetime(2026, 1, 7, 8, 40, tzinfo=UTC)  # bare date, Kyiv time
    assert made.identity.minted == link_uri("https://wire.example.org/news/a")


def test_the_entry_author_and_feed_language_win_over_defaults() -> None:
    sub = candidate(entry(authors=("Olena Kovalenko",)), feed_language="en-US").submission
    assert [a.name for a in sub.authors] == ["Olena Kovalenko"]
    assert sub.language == "en-US"


def test_an_invalid_feed_language_falls_back_to_the_default() -> None:
    assert candidate(entry(), feed_language="English (UK)").submission.language == "uk"


def test_a_future_date_is_clamped_and_flagged() -> None:
    made = candidate(entry(date_raw="Wed, 07 Jan 2027 10:40:00 +0000"))
    assert made.date.clamped
    assert made.submission.firstcreated == FETCHED


def test_an_entry_with_no_headline_and_no_body_is_rejected() -> None:
    with pytest.raises(EntryRejected, match="headline or a body"):
        candidate(entry(title="", content_html=" ", summary_html=None))


def test_an_overlong_headline_is_cut_not_rejected() -> None:
    assert len(candidate(entry(title="x" * 900)).submission.headline) == 500


def test_blank_categories_are_skipped_not_fatal() -> None:
    sub = candidate(entry(categories=("   ", "\t", "War"))).submission
    assert [s.name for s in sub.subjects] == ["Ukraine", "War"]


def test_an_overlong_link_is_dropped_and_the_entry_kept() -> None:
    made = candidate(entry(link="https://wire.example.org/" + "a" * 3000))
    assert made.submission.link is None
    assert made.identity.keys[0].startswith("guid:")
