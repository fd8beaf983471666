"""The checked-in AsyncAPI document says what the code does."""

from __future__ import annotations

import json
from pathlib import Path

from shared.asyncapi import document, render
from shared.events import encode
from shared.streams import DEAD_LETTER, ENRICHED, INGESTED, PUBLISHED

from tests.support.builders import event_for, news_item

CHECKED_IN = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"


def test_the_checked_in_document_matches_the_code() -> None:
    """Fails when a stream, event type or item field changes without
    `python -m shared.asyncapi > docs/asyncapi.json`."""
    assert CHECKED_IN.read_text() == render()


def test_every_stream_is_a_channel() -> None:
    addresses = {channel["address"] for channel in document()["channels"].values()}
    assert addresses == {INGESTED, ENRICHED, PUBLISHED, DEAD_LETTER}


def test_a_real_entry_has_exactly_the_documented_fields() -> None:
    payload = document()["components"]["messages"]["ingestedEvent"]["payload"]
    fields = encode(event_for(news_item("urn:t:1")))
    assert set(payload["required"]) <= set(fields) <= set(payload["properties"])
    item_fields = set(json.loads(fields["data"]))
    assert item_fields <= set(document()["components"]["schemas"]["NewsItem"]["properties"])
