"""The checked-in AsyncAPI document says what the code does: FastStream's generator
over the services' subscribers and publishers (tools/asyncapi.py)."""

from __future__ import annotations

import importlib.util
import json
from collections import defaultdict
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest
from shared.delivery.deadletter import dead_letter_fields
from shared.entries import ENTRIES
from shared.events import EventType, encode
from shared.partitions import Partitions
from shared.readmodel.feeds import FIELD as FEEDS_FIELD
from shared.readmodel.feeds import feeds_field
from shared.settings import DEFAULT_PARTITIONS
from shared.streams import DEAD_LETTER, ENRICHED, INGESTED, PUBLISHED

from tests.support.builders import event_for, news_item

ROOT = Path(__file__).resolve().parents[2]
CHECKED_IN = ROOT / "docs" / "asyncapi.json"


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("asyncapi_tool", ROOT / "tools" / "asyncapi.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    return _tool()


@pytest.fixture(scope="module")
def document(tool: ModuleType) -> dict[str, Any]:
    generated: dict[str, Any] = tool.document()
    return generated


def test_the_checked_in_document_matches_the_code(tool: ModuleType) -> None:
    """Fails when a stream, subscriber, publisher, event type or item field
    changes without `make asyncapi`."""
    assert CHECKED_IN.read_text() == tool.render()


def _operations_by_address(document: dict[str, Any]) -> dict[str, set[tuple[str, str]]]:
    """address -> {(service, action)}: who sends and who receives on each stream."""
    found: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for name, operation in document["operations"].items():
        channel_key = operation["channel"]["$ref"].removeprefix("#/channels/")
        channel = document["channels"][channel_key.replace("%7B", "{").replace("%7D", "}")]
        found[channel["address"]].add((name.split(":")[0], operation["action"]))
    return found


def test_every_partition_of_every_stream_has_its_writers_and_readers(
    document: dict[str, Any],
) -> None:
    partitions = Partitions(DEFAULT_PARTITIONS)
    expected: dict[str, set[tuple[str, str]]] = {}
    for index in partitions.indexes:
        expected[partitions.key(INGESTED, index)] = {
            ("ingest", "send"),
            ("enrichment", "receive"),
        }
        expected[partitions.key(ENRICHED, index)] = {
            ("enrichment", "send"),
            ("publication", "receive"),
            # Enrichment's second pass reads the stream and appends its refinements to it.
            ("entity-model", "receive"),
            ("entity-model", "send"),
        }
        expected[partitions.key(PUBLISHED, index)] = {
            ("publication", "send"),
            ("gateway", "receive"),
        }
        expected[partitions.key(DEAD_LETTER, index)] = {
            ("enrichment", "send"),
            ("entity-model", "send"),
            ("publication", "send"),
        }
    assert _operations_by_address(document) == expected


def _documented_schema(document: dict[str, Any], address: str, service: str) -> dict[str, Any]:
    """The payload schema of `service`'s message on the channel at `address`,
    resolvable against the whole document."""
    for channel in document["channels"].values():
        if channel["address"] != address:
            continue
        [message_ref] = [m["$ref"] for m in channel["messages"].values()]
        name = message_ref.removeprefix("#/components/messages/")
        message = document["components"]["messages"][name.replace("%7B", "{").replace("%7D", "}")]
        if not message["title"].startswith(f"{service}:"):
            continue
        return {**document, "$ref": message["payload"]["$ref"]}
    raise AssertionError(f"no message of {service} on {address}")


def test_what_the_services_write_fits_the_documented_messages(document: dict[str, Any]) -> None:
    partitions = Partitions(DEFAULT_PARTITIONS)
    item = news_item("urn:t:asyncapi")
    ingested = encode(event_for(item, EventType.ingested))
    published = {
        **encode(event_for(item, EventType.published)),
        FEEDS_FIELD: feeds_field(None, item),
    }
    letter = dead_letter_fields(
        stream=partitions.key(INGESTED, 0),
        group="enrichment",
        entry_id="1-0",
        error="boom",
        deliveries=5,
        original=ingested,
    )
    cases = [
        (INGESTED, "ingest", ingested),
        (INGESTED, "enrichment", ingested),
        (ENRICHED, "publication", encode(event_for(item, EventType.enriched))),
        (PUBLISHED, "gateway", published),
        (DEAD_LETTER, "enrichment", letter),
    ]
    for stream, service, fields in cases:
        ENTRIES[stream].model_validate(fields)  # the model, with the JSON inside
        schema = _documented_schema(document, partitions.key(stream, 0), service)
        jsonschema.validate(fields, schema)  # the document as others read it


def test_a_field_the_document_does_not_name_is_refused(document: dict[str, Any]) -> None:
    partitions = Partitions(DEFAULT_PARTITIONS)
    fields = {**encode(event_for(news_item("urn:t:1"), EventType.ingested)), "extra": "x"}
    schema = _documented_schema(document, partitions.key(INGESTED, 0), "ingest")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(fields, schema)


def test_the_published_message_documents_the_feeds_field(document: dict[str, Any]) -> None:
    feeds = document["components"]["schemas"]["PublishedEntry"]["properties"][FEEDS_FIELD]
    assert feeds["contentMediaType"] == "application/json"
    assert json.dumps(feeds["contentSchema"]) == json.dumps(
        {"$ref": "#/components/schemas/FeedSets"}
    )
    assert set(document["components"]["schemas"]["FeedSets"]["required"]) == {"before", "after"}
