"""What an entry of each stream holds, as pydantic models: the message schemas of
the AsyncAPI document (docs/asyncapi.json, tools/asyncapi.py).

A stream entry is a flat map of UTF-8 strings (docs/events.md). The event
entries are derived from `shared.events.Event` — its fields, their
constraints and descriptions — with what `encode` changes on the wire: the
envelope gains `specversion` and `datacontenttype`, and the item travels as
a JSON string. The services never validate against these models (`encode`
writes and `decode` reads, faster); tests check that what they write fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, Json, SkipValidation, create_model

from shared.events import CONTENT_TYPE, SPECVERSION, Event, EventType
from shared.readmodel.feeds import FIELD as FEEDS_FIELD
from shared.readmodel.feeds import FeedSets
from shared.streams import DEAD_LETTER, ENRICHED, INGESTED, PUBLISHED


def _event_entry(name: str, doc: str, types: Sequence[EventType], **extra: Any) -> type[BaseModel]:
    """`Event` as `encode` lays it out, its `type` narrowed to `types`."""
    fields: dict[str, Any] = {
        "specversion": (Literal[SPECVERSION], Field(description="CloudEvents version")),
    }
    for field_name, info in Event.model_fields.items():
        annotation: Any = info.annotation
        if field_name == "type":
            annotation = Literal[tuple(t.value for t in types)]
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            annotation = Json[annotation]  # type: ignore[misc]
        description = info.description
        if annotation is not info.annotation and field_name == "data":
            description = f"{description} as JSON, null fields omitted"
        fields[field_name] = (
            Annotated[annotation, *info.metadata] if info.metadata else annotation,
            Field(description=description),
        )
    fields["datacontenttype"] = (
        Literal[CONTENT_TYPE],
        Field(CONTENT_TYPE, description="the media type of `data`"),
    )
    fields.update(extra)
    return create_model(name, __config__=ConfigDict(extra="forbid"), __doc__=doc, **fields)


IngestedEntry = _event_entry(
    "IngestedEntry", "An item as ingest accepted it.", [EventType.ingested]
)
EnrichedEntry = _event_entry(
    "EnrichedEntry",
    "An item after the enrichment pipeline (enriched), or the same version with the "
    "entity model's names from enrichment's second pass (refined).",
    [EventType.enriched, EventType.refined],
)
PublishedEntry = _event_entry(
    "PublishedEntry",
    "What readers see changing: read by the gateway and by other systems.",
    [
        EventType.published,
        EventType.updated,
        EventType.corrected,
        EventType.killed,
        EventType.withheld,
        EventType.released,
        EventType.refined,
    ],
    **{
        FEEDS_FIELD: (
            Json[FeedSets],
            Field(
                None,
                description="the feed sets the item was in before the change and is in after "
                "it (`all`, `<facet>:<normalized value>`), for readers' caches; absent on "
                "entries written before it existed (shared.readmodel.feeds, docs/events.md)",
            ),
        )
    },
)


class DeadLetterEntry(BaseModel):
    """An entry that failed `max_deliveries` times, with its error
    (shared.delivery.deadletter)."""

    model_config = ConfigDict(extra="forbid")

    stream: str = Field(description="the partition stream the entry came from")
    group: str = Field(description="the consumer group that failed it")
    entry_id: str = Field(description="the original entry's id")
    error: str = Field(description="the last error, at most 4,000 characters")
    deliveries: Annotated[str, Field(pattern=r"^[0-9]+$", description="times it was delivered")]
    failed_at: str = Field(description="when it was dead-lettered (RFC 3339, UTC)")
    original: Json[dict[str, str]] = Field(description="the original entry's fields")


# What each stream's entries are, by the stream's name (its partitions share it).
ENTRIES: dict[str, type[BaseModel]] = {
    INGESTED: IngestedEntry,
    ENRICHED: EnrichedEntry,
    PUBLISHED: PublishedEntry,
    DEAD_LETTER: DeadLetterEntry,
}


def unvalidated(model: type[BaseModel]) -> Any:
    """A handler's annotation that names `model` for FastStream's AsyncAPI generator
    (it documents a subscriber's message by its handler's body parameter) while
    FastStream's call skips validating it: the handler reads the raw entries."""
    return cast(Any, Annotated)[model, cast(Any, SkipValidation)()]
