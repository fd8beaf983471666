"""The enrichment pipeline of the default configuration, built once for the tests
(the service builds its own in enrichment.app)."""

from __future__ import annotations

from enrichment import pipeline
from enrichment.config import EnrichmentConfig
from enrichment.pipeline import Enricher
from shared.items import NewsItem

CONFIG = EnrichmentConfig()
PIPELINE = pipeline.build_pipeline(CONFIG)


def run_pipeline(item: NewsItem, enrichers: tuple[Enricher, ...] = PIPELINE) -> NewsItem:
    """enrichment.pipeline.run_pipeline, with the default enrichers unless given others."""
    return pipeline.run_pipeline(item, enrichers)


def enrich(item: NewsItem) -> NewsItem:
    """What the default pipeline makes of `item` (an EnrichFn, for handlers)."""
    return pipeline.run_pipeline(item, PIPELINE)
