"""The event envelope and its wire layout on a Redis stream entry.

Attribute names follow CloudEvents 1.0. A stream entry is a flat map of
UTF-8 string fields, so any Redis client in any language can read it
(see docs/events.md):

    specversion  "1.0"
    id           unique event id (UUID4 hex)
    source       producing service, e.g. "/newsfeed/ingest"
    type         one of EventType
    time         RFC 3339 UTC time the event was made
    subject      the item uri
    traceid      32 lowercase hex digits, carried unchanged from ingest onwards
    datacontenttype  "application/json"
    data         the payload as JSON (a NewsItem)
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from shared.items import NewsItem, utcnow

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"

TraceId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]


class EventType(StrEnum):
    ingested = "org.newsfeed.item.ingested"
    enriched = "org.newsfeed.item.enriched"
    published = "org.newsfeed.item.published"
    updated = "org.newsfeed.item.updated"
    corrected = "org.newsfeed.item.corrected"
    killed = "org.newsfeed.item.killed"
    withheld = "org.newsfeed.item.withheld"
    released = "org.newsfeed.item.released"
    # The same version with the entity model's names (enrichment's second
    # pass): publication stores it without an update stamp (not news to readers).
    refined = "org.newsfeed.item.refined"


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="unique event id")
    source: str = Field(description="producing service, e.g. /newsfeed/ingest")
    type: EventType
    time: AwareDatetime = Field(description="when the event was made (RFC 3339, UTC)")
    subject: str = Field(description="the item uri (equals data.uri)")
    traceid: TraceId = Field(description="carried unchanged from ingest onwards")
    data: NewsItem = Field(description="the item")


class UndecodableEntry(ValueError):
    """A stream entry that is not a valid event: retrying cannot fix it."""


def new_trace_id() -> str:
    return secrets.token_hex(16)


# The bits uuid.uuid4() sets: version 4 and the RFC 4122 variant.
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def new_event_id() -> str:
    """`uuid.uuid4().hex`, without building a UUID object (a third of the cost;
    every hop makes one per event)."""
    value = int.from_bytes(os.urandom(16), "big") & _UUID4_CLEAR | _UUID4_SET
    return f"{value:032x}"


def make_event(
    type_: EventType, source: str, item: NewsItem, traceid: str, at: datetime | None = None
) -> Event:
    return Event(
        id=new_event_id(),
        source=source,
        type=type_,
        time=at or utcnow(),
        subject=item.uri,
        traceid=traceid,
        data=item,
    )


def follow(previous: Event, type_: EventType, source: str, item: NewsItem) -> Event:
    """The next event about the same item, carrying the trace id along.

    Built without validation: every part is already valid (the previous
    event's trace id, a NewsItem, an aware clock reading), and validating
    them again cost a third of an event's making at every hop."""
    if not isinstance(item, NewsItem):
        raise TypeError(f"an event carries a NewsItem, not {type(item).__name__}")
    return Event.model_construct(
        id=new_event_id(),
        source=source,
        type=EventType(type_),
        time=utcnow(),
        subject=item.uri,
        traceid=previous.traceid,
        data=item,
    )


def _envelope(event: Event) -> dict[str, str]:
    """Every field but `data` (which comes last)."""
    return {
        "specversion": SPECVERSION,
        "id": event.id,
        "source": event.source,
        "type": event.type.value,
        "time": event.time.isoformat().replace("+00:00", "Z"),
        "subject": event.subject,
        "traceid": event.traceid,
        "datacontenttype": CONTENT_TYPE,
    }


def encode(event: Event) -> dict[str, str]:
    return {**_envelope(event), "data": event.data.model_dump_json(exclude_none=True)}


_ITEM_JSON = NewsItem.__pydantic_serializer__


def encode_for_redis(event: Event) -> dict[str, str | bytes]:
    """`encode`, with `data` as the UTF-8 JSON bytes pydantic makes (the same
    text): what the services send to Redis. As a str it was decoded from those
    bytes and encoded back by the command packer, 3.5 us more per typical
    (non-ASCII, 2.5 kB) item at every hop that writes one."""
    return {**_envelope(event), "data": _ITEM_JSON.to_json(event.data, exclude_none=True)}


# A stream entry's fields as a worker reads them: `data` may be left as the
# bytes Redis sent (see `decode`), every other field is text.
EntryFields = Mapping[str, str | bytes]


def _raw(fields: EntryFields, name: str) -> str | bytes:
    try:
        return fields[name]
    except KeyError:
        raise UndecodableEntry(f"missing field {name!r}") from None


def _field(fields: EntryFields, name: str) -> str:
    value = _raw(fields, name)
    return value if isinstance(value, str) else value.decode()


_TRACE_ID = re.compile(r"[0-9a-f]{32}")


def decode(fields: EntryFields) -> Event:
    """Turn a stream entry back into an Event, or raise UndecodableEntry.

    The item is validated by pydantic (from the JSON, in one pass); the
    envelope's few fields are checked here, by the same rules as `Event`'s,
    which costs a fifth of validating them through the model at every hop.
    `data` is best passed as the bytes Redis sent: pydantic reads UTF-8, so
    a str (decoded from those bytes) was encoded again, 2 us for a typical
    non-ASCII item."""
    try:
        if _field(fields, "specversion") != SPECVERSION:
            raise UndecodableEntry("unsupported specversion")
        if fields.get("datacontenttype", CONTENT_TYPE) != CONTENT_TYPE:
            raise UndecodableEntry(f"datacontenttype must be {CONTENT_TYPE}")
        data = NewsItem.model_validate_json(_raw(fields, "data"))
        type_ = EventType(_field(fields, "type"))
        time = datetime.fromisoformat(_field(fields, "time"))
    except UndecodableEntry:
        raise
    except (ValidationError, ValueError) as error:
        raise UndecodableEntry(str(error)[:500]) from error
    if time.utcoffset() is None:
        raise UndecodableEntry("time has no UTC offset")
    traceid = _field(fields, "traceid")
    if not _TRACE_ID.fullmatch(traceid):
        raise UndecodableEntry("traceid is not 32 lowercase hex digits")
    subject = _field(fields, "subject")
    if subject != data.uri:
        raise UndecodableEntry("subject is not the item's uri")
    return Event.model_construct(
        id=_field(fields, "id"),
        source=_field(fields, "source"),
        type=type_,
        time=time,
        subject=subject,
        traceid=traceid,
        data=data,
    )
