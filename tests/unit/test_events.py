"""The event envelope on the wire: what any consumer of a stream entry can rely on."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from shared.events import (
    Event,
    EventType,
    UndecodableEntry,
    decode,
    encode,
    follow,
    make_event,
    new_trace_id,
)
from shared.items import Author, Entity, NewsItem, PubStatus, Rendition, TextStats

from tests.support import builders

WIRE_FIELDS = {
    "specversion",
    "id",
    "source",
    "type",
    "time",
    "subject",
    "traceid",
    "datacontenttype",
    "data",
}
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
AT = datetime(2026, 1, 7, 10, 15, 30, 250_000, tzinfo=UTC)


def cyprus_item(**changes: Any) -> NewsItem:
    fields: dict[str, Any] = {
        "uri": "urn:newsfeed:item:zelensky-nicosia",
        "version": 2,
        "firstcreated": AT - timedelta(hours=1),
        "versioncreated": AT,
        "headline": "Zelensky arrives in Cyprus for talks with Christodoulides",
        "body_html": "<p>The Ukrainian president landed in Nicosia on Jan. 7.</p>",
        "language": "en",
        "authors": (Author(name="The Kyiv Independent news desk", role="desk"),),
        "places": (Entity(name="Nicosia", rel="located", confidence=0.9),),
        "renditions": {
            "thumbnail": Rendition(href="https://cdn.example.org/nicosia.jpg", width=640)
        },
        "text": TextStats(
            body_text="The Ukrainian president landed in Nicosia on Jan. 7.",
            word_count=9,
            char_count=52,
        ),
        "reading_time_minutes": 1,
        "enrichment": {"sanitize": "1", "text": "1", "reading_time": "1"},
    }
    return builders.item(**(fields | changes))


def cyprus_event(**changes: Any) -> Event:
    return make_event(EventType.enriched, "/newsfeed/enrichment", cyprus_item(**changes), TRACE, AT)


def entry(**overrides: str) -> dict[str, str]:
    fields = encode(cyprus_event())
    fields.update(overrides)
    return fields


def test_round_trip_keeps_every_attribute_and_the_item() -> None:
    event = cyprus_event()
    back = decode(encode(event))
    assert back == event
    assert back.id == event.id
    assert back.source == "/newsfeed/enrichment"
    assert back.type is EventType.enriched
    assert back.time == AT
    assert back.subject == "urn:newsfeed:item:zelensky-nicosia"
    assert back.traceid == TRACE
    assert back.data == event.data
    assert back.data.renditions["thumbnail"].width == 640


@pytest.mark.parametrize("status", list(PubStatus))
def test_round_trip_of_every_pubstatus(status: PubStatus) -> None:
    event = cyprus_event(pubstatus=status, ednote="Withdrawn: wrong date")
    assert decode(encode(event)).data.pubstatus is status


def test_encoded_entry_is_a_flat_map_of_strings_with_exactly_the_wire_fields() -> None:
    fields = encode(cyprus_event())
    assert set(fields) == WIRE_FIELDS
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items())
    assert fields["specversion"] == "1.0"
    assert fields["type"] == "org.newsfeed.item.enriched"
    assert fields["datacontenttype"] == "application/json"
    assert fields["subject"] == "urn:newsfeed:item:zelensky-nicosia"
    assert fields["traceid"] == TRACE


def test_time_is_rfc3339_utc_with_z() -> None:
    assert encode(cyprus_event())["time"] == "2026-01-07T10:15:30.250000Z"


def _nulls(value: Any, path: str = "data") -> list[str]:
    if value is None:
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _nulls(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _nulls(v, f"{path}[{i}]")]
    return []


def test_data_is_plain_json_without_null_fields() -> None:
    # description_text, embargoed, ednote, author biography, entity uri... are all None here.
    data = json.loads(encode(cyprus_event())["data"])
    assert _nulls(data) == []
    assert data["uri"] == "urn:newsfeed:item:zelensky-nicosia"
    assert data["version"] == 2
    assert data["firstcreated"] == "2026-01-07T09:15:30.250000Z"
    assert data["authors"] == [{"name": "The Kyiv Independent news desk", "role": "desk"}]
    assert "description_text" not in data
    assert "ednote" not in data


def _without(name: str) -> dict[str, str]:
    fields = entry()
    del fields[name]
    return fields


# Every field decode needs. `datacontenttype` is not checked on the way in (it is
# always "application/json" on the way out); see docs/events.md.
REQUIRED = sorted(WIRE_FIELDS - {"datacontenttype"})

BAD_ENTRIES = {
    **{f"missing {name}": _without(name) for name in REQUIRED},
    "data not JSON": entry(data="{not json"),
    "data truncated": entry(data=entry()["data"][:-1]),
    "data is a JSON array": entry(data="[]"),
    "unknown type": entry(type="org.newsfeed.item.exploded"),
    "type without prefix": entry(type="published"),
    "specversion 0.3": entry(specversion="0.3"),
    "empty specversion": entry(specversion=""),
    "item version 0": entry(data=entry()["data"].replace('"version":2', '"version":0')),
    "item without uri": entry(data=json.dumps({"version": 1})),
    "item with unknown field": entry(data=entry()["data"][:-1] + ',"colour":"red"}'),
    "uppercase traceid": entry(traceid=TRACE.upper()),
    "short traceid": entry(traceid=TRACE[:-1]),
    "empty traceid": entry(traceid=""),
    "naive time": entry(time="2026-01-07T10:15:30"),
    "time not a time": entry(time="yesterday"),
    "subject not the item's uri": entry(subject="urn:newsfeed:item:someone-else"),
}


@pytest.mark.parametrize("fields", list(BAD_ENTRIES.values()), ids=list(BAD_ENTRIES))
def test_decode_rejects_a_bad_entry_with_undecodable_entry(fields: dict[str, str]) -> None:
    with pytest.raises(UndecodableEntry) as caught:
        decode(fields)
    assert type(caught.value) is UndecodableEntry
    assert not isinstance(caught.value, ValidationError)


def test_decode_says_which_field_is_missing() -> None:
    with pytest.raises(UndecodableEntry, match="'traceid'"):
        decode(_without("traceid"))


def test_undecodable_message_is_bounded() -> None:
    huge = json.dumps({"uri": "x y" * 10_000, "version": 0})
    with pytest.raises(UndecodableEntry) as caught:
        decode(entry(data=huge))
    assert len(str(caught.value)) <= 500


def test_follow_keeps_the_trace_id_and_names_the_new_item() -> None:
    first = cyprus_event()
    later = cyprus_item(version=3, headline="Zelensky and Christodoulides sign declaration")
    nxt = follow(first, EventType.published, "/newsfeed/publication", later)
    assert nxt.traceid == first.traceid
    assert nxt.type is EventType.published
    assert nxt.source == "/newsfeed/publication"
    assert nxt.subject == later.uri
    assert nxt.data == later
    assert nxt.id != first.id


def test_decoded_and_followed_events_pass_the_models_own_validation() -> None:
    """decode and follow skip the envelope's model validation (they check it
    themselves, or every part is already valid): what they make must still be
    what validating would make."""
    decoded = decode(entry())
    followed = follow(decoded, EventType.published, "/newsfeed/publication", decoded.data)
    for event in (decoded, followed):
        assert Event.model_validate(event.model_dump()) == event
        assert event.time.utcoffset() is not None


def test_new_events_get_distinct_ids_and_valid_trace_ids() -> None:
    item = cyprus_item()
    ids = {make_event(EventType.ingested, "/t", item, new_trace_id()).id for _ in range(50)}
    assert len(ids) == 50
    # Each is a UUID4 in hex, as docs/events.md says.
    assert all(uuid.UUID(hex=i).hex == i and uuid.UUID(hex=i).version == 4 for i in ids)
    trace = new_trace_id()
    assert len(trace) == 32
    assert set(trace) <= set("0123456789abcdef")
    assert trace != new_trace_id()
