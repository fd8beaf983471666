"""Properties of the item contract over generated input (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from ingest.submission import Submission, material_hash, to_item
from pydantic import ValidationError
from shared.events import EventType, decode, encode, make_event

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=5)
    ),
    max_leaves=25,
)
FIELDS = [
    "uri",
    "headline",
    "body_html",
    "type",
    "authors",
    "language",
    "firstcreated",
    "embargoed",
    "pubstatus",
    "ednote",
    "renditions",
    "description_text",
    "colour",
]
submissions = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8)

valid_submissions: st.SearchStrategy[dict[str, Any]] = st.builds(
    dict,
    uri=st.from_regex(r"urn:t:[a-z0-9]{1,20}", fullmatch=True),
    headline=st.text(min_size=1, max_size=200).filter(str.strip),
    body_html=st.text(max_size=500),
    type=st.sampled_from(["text", "video"]),
    pubstatus=st.sampled_from(["usable", "withheld", "canceled"]),
    authors=st.lists(
        st.builds(
            dict, name=st.text(min_size=1, max_size=50), role=st.none() | st.text(max_size=20)
        ),
        max_size=3,
    ),
)


@settings(max_examples=300, deadline=None)
@given(submissions)
def test_any_json_object_is_either_a_submission_or_a_clear_validation_error(
    raw: dict[str, Any],
) -> None:
    """Never a crash of another kind: the API turns ValidationError into a 422."""
    problems: list[Any] = []
    try:
        Submission.model_validate(raw)
    except ValidationError as error:
        problems = list(error.errors())
        assert problems, "a rejection names its problems"


@settings(max_examples=200, deadline=None)
@given(valid_submissions)
def test_a_valid_submission_round_trips_through_the_wire_format(raw: dict[str, Any]) -> None:
    """Whatever ingest accepts, every consumer decodes to the same item."""
    submission = Submission.model_validate(raw)
    now = datetime(2026, 11, 24, tzinfo=UTC)
    item = to_item(submission, uri=raw["uri"], version=1, firstcreated=now, now=now)
    event = make_event(EventType.ingested, "/tests", item, "ab" * 16)
    assert decode(encode(event)) == event


@settings(max_examples=200, deadline=None)
@given(valid_submissions)
def test_whitespace_in_the_headline_is_not_a_material_change(raw: dict[str, Any]) -> None:
    spaced = {**raw, "headline": f" {raw['headline']}  ".replace(" ", "  ")}
    assert material_hash(Submission.model_validate(raw)) == material_hash(
        Submission.model_validate(spaced)
    )
