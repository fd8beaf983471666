"""The AsyncAPI 3.0 document of every stream, generated from the contracts.

FastStream can write AsyncAPI for its own subscribers, but it would describe
FastStream's binary envelope; our entries are flat string maps
(shared.events), so the document is built here from the same constants and
models the services use. `python -m shared.asyncapi > docs/asyncapi.json`
regenerates the checked-in copy; a test fails when they disagree.
"""

from __future__ import annotations

import json
from typing import Any

from shared.events import CONTENT_TYPE, SPECVERSION, EventType
from shared.items import NewsItem
from shared.streams import (
    DEAD_LETTER,
    ENRICHED,
    ENRICHMENT_GROUP,
    INGESTED,
    PUBLICATION_GROUP,
    PUBLISHED,
)

VERSION = "1.0.0"

_STRING = {"type": "string"}


def _entry_schema(types: list[EventType]) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "A stream entry: a flat map of UTF-8 string fields (docs/events.md).",
        "required": ["specversion", "id", "source", "type", "time", "subject", "traceid", "data"],
        "properties": {
            "specversion": {"const": SPECVERSION},
            "id": {**_STRING, "description": "unique event id"},
            "source": {**_STRING, "description": "producing service, e.g. /newsfeed/ingest"},
            "type": {"enum": [t.value for t in types]},
            "time": {**_STRING, "format": "date-time"},
            "subject": {**_STRING, "description": "the item uri (equals data.uri)"},
            "traceid": {**_STRING, "pattern": "^[0-9a-f]{32}$"},
            "datacontenttype": {"const": CONTENT_TYPE},
            "data": {
                **_STRING,
                "contentMediaType": CONTENT_TYPE,
                "contentSchema": {"$ref": "#/components/schemas/NewsItem"},
                "description": "the item as JSON, null fields omitted",
            },
        },
    }


_FEEDS = {
    **_STRING,
    "contentMediaType": "application/json",
    "contentSchema": {
        "type": "object",
        "required": ["before", "after"],
        "properties": {
            "before": {"type": "array", "items": _STRING, "maxItems": 64},
            "after": {"type": "array", "items": _STRING, "maxItems": 64},
        },
    },
    "description": "the feed sets the item was in before the change and is in after it "
    "(`all`, `<facet>:<normalized value>`), for readers' caches; absent on entries written "
    "before it existed (shared.readmodel.feeds, docs/events.md)",
}

_DEAD_LETTER_ENTRY = {
    "type": "object",
    "required": ["stream", "group", "entry_id", "error", "deliveries", "failed_at", "original"],
    "properties": {
        "stream": _STRING,
        "group": _STRING,
        "entry_id": _STRING,
        "error": _STRING,
        "deliveries": {**_STRING, "pattern": "^[0-9]+$"},
        "failed_at": {**_STRING, "format": "date-time"},
        "original": {
            **_STRING,
            "contentMediaType": "application/json",
            "description": "the original entry's fields as a JSON object",
        },
    },
}

_CHANNELS: dict[str, tuple[str, str, list[EventType]]] = {
    # channel id: (stream, description, event types)
    "ingested": (INGESTED, "Items as ingest accepted them.", [EventType.ingested]),
    "enriched": (ENRICHED, "Items after the enrichment pipeline.", [EventType.enriched]),
    "published": (
        PUBLISHED,
        "What readers see changing: read by the gateway and by other systems.",
        [
            EventType.published,
            EventType.updated,
            EventType.corrected,
            EventType.killed,
            EventType.withheld,
            EventType.released,
        ],
    ),
}


def _item_schemas() -> dict[str, Any]:
    schema = NewsItem.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions: dict[str, Any] = schema.pop("$defs", {})
    return {"NewsItem": schema, **definitions}


def document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for channel_id, (stream, description, types) in _CHANNELS.items():
        message_id = f"{channel_id}Event"
        payload = _entry_schema(types)
        if stream == PUBLISHED:
            payload["properties"]["feeds"] = _FEEDS
        messages[message_id] = {
            "name": message_id,
            "contentType": "application/x-redis-stream-entry",
            "payload": payload,
        }
        channels[channel_id] = {
            "address": stream,
            "description": description,
            "messages": {message_id: {"$ref": f"#/components/messages/{message_id}"}},
        }
    messages["deadLetter"] = {
        "name": "deadLetter",
        "contentType": "application/x-redis-stream-entry",
        "payload": _DEAD_LETTER_ENTRY,
    }
    channels["deadletter"] = {
        "address": DEAD_LETTER,
        "description": "Entries that failed max_deliveries times, with their error.",
        "messages": {"deadLetter": {"$ref": "#/components/messages/deadLetter"}},
    }

    def op(action: str, channel: str, summary: str) -> dict[str, Any]:
        message = next(iter(channels[channel]["messages"]))
        return {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": summary,
            "messages": [{"$ref": f"#/channels/{channel}/messages/{message}"}],
        }

    operations = {
        "ingestSends": op("send", "ingested", "ingest appends accepted items"),
        "enrichmentReceives": op("receive", "ingested", f"consumer group {ENRICHMENT_GROUP!r}"),
        "enrichmentSends": op("send", "enriched", "enrichment appends enriched items"),
        "publicationReceives": op("receive", "enriched", f"consumer group {PUBLICATION_GROUP!r}"),
        "publicationSends": op("send", "published", "publication announces what changed"),
        "gatewayReceives": op("receive", "published", "every gateway replica tails it (no group)"),
        "workersDeadLetter": op("send", "deadletter", "consumers dead-letter poison entries"),
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "newsfeed streams",
            "version": VERSION,
            "description": "Redis Streams between the newsfeed services. Delivery is "
            "at-least-once: consumers dedupe by (subject, data.version).",
        },
        "defaultContentType": "application/x-redis-stream-entry",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": _item_schemas()},
    }


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
