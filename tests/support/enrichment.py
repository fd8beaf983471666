"""The enrichment pipeline of the default configuration, built once for the tests
(the service builds its own in enrichment.app)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from enrichment import pipeline
from enrichment.config import EnrichmentConfig
from enrichment.pipeline import Enricher
from shared.items import NewsItem

from tests.support import builders

CONFIG = EnrichmentConfig()
PIPELINE = pipeline.build_pipeline(CONFIG)
# Issue 15's two passes and the one inline pass they must add up to.
SECOND = EnrichmentConfig(entity_model="second_pass")
FIRST_PASS = pipeline.build_pipeline(pipeline.first_pass(SECOND))
SECOND_PASS = pipeline.build_second_pass(SECOND)
INLINE_PASS = pipeline.build_pipeline(EnrichmentConfig(entity_model="inline"))


def run_pipeline(item: NewsItem, enrichers: tuple[Enricher, ...] = PIPELINE) -> NewsItem:
    """enrichment.pipeline.run_pipeline, with the default enrichers unless given others."""
    return pipeline.run_pipeline(item, enrichers)


def enrich(item: NewsItem) -> NewsItem:
    """What the default pipeline makes of `item` (an EnrichFn, for handlers)."""
    return pipeline.run_pipeline(item, PIPELINE)


# The in-house labelled set (48 items written for the tests): docs/enrichment.md.
LABELLED = Path(__file__).resolve().parents[1] / "fixtures" / "enrichment" / "labelled.yaml"


def labelled() -> list[dict[str, Any]]:
    data = yaml.safe_load(LABELLED.read_text(encoding="utf-8"))
    assert isinstance(data, list)
    return data


def as_item(entry: dict[str, Any]) -> NewsItem:
    """A labelled entry as an item: its headline, its body in paragraphs."""
    return builders.item(
        builders.paragraphs(entry["body"]),
        entry["headline"],
        uri=f"urn:newsfeed:labelled:{entry['id']}",
    )
