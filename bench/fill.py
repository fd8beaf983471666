"""Filling a read model fast, with exactly the layout publication writes.

Items are clones of enriched templates: bench items run through enrichment's
own pipeline in this process (`enrichment.pipeline.enrich_with`, the
configured enrichers without the related-stories stage), so documents carry
what publication really stores — text, entities, tags, quotes — and sit in as
many feed sets as real ones. If enrichment cannot be imported, the plain
ingested items are used and the result says so.

Each clone gets its own uri and time and goes through publication's
`decide` and `shared.readmodel.ReadModelWriter.apply_many` — the same Lua
script, keys and documents as the service — in pipelined batches. The plan's
event is dropped, so news.published is not written: in service the stream is
trimmed to about NEWSFEED_STREAM_MAX_LEN entries whatever the read model
holds, so it is no part of the cost of a stored item.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import redis.asyncio as aioredis
from publication.lifecycle import decide
from shared.events import EventType, make_event
from shared.items import NewsItem, utcnow
from shared.readmodel import ReadModelKeys, ReadModelWriter

from bench.items import corpus, news_item

log = logging.getLogger("bench")

BASE_TIME = datetime.fromisoformat("2026-01-07T00:00:00+00:00")


def templates(count: int = 200) -> tuple[list[NewsItem], str]:
    """(enriched template items, how they were made)."""
    now = utcnow()
    plain = [news_item(sub, now) for sub in corpus(count, prefix="urn:bench:template")]
    try:
        enrichers, run = enrichment_pipeline()
        return [run(item, enrichers) for item in plain], "enrichment.pipeline (in-process)"
    except Exception as error:  # enrichment mid-change or missing: say so, carry on
        log.warning("enrichment unavailable for templates (%s); using ingested items", error)
        return plain, f"ingested items (enrichment failed: {type(error).__name__})"


def enrichment_pipeline() -> tuple[tuple[Any, ...], Callable[[NewsItem, Any], NewsItem]]:
    """(the configured enrichers, run_pipeline) of whatever enrichment is installed:
    `build_pipeline(EnrichmentConfig())` where it exists, its PIPELINE before that."""
    from enrichment import pipeline

    build = getattr(pipeline, "build_pipeline", None)
    if build is not None:
        from enrichment.config import EnrichmentConfig

        enrichers = tuple(build(EnrichmentConfig()))
    else:
        enrichers = tuple(pipeline.PIPELINE)  # type: ignore[attr-defined]  # before build_pipeline
    return enrichers, pipeline.run_pipeline


def clone(template: NewsItem, index: int) -> NewsItem:
    """A distinct item: its own uri, and a time one second after the previous clone's."""
    at = BASE_TIME + timedelta(seconds=index)
    return template.model_copy(
        update={"uri": f"urn:bench:stored:{index:08d}", "firstcreated": at, "versioncreated": at}
    )


class Filler:
    def __init__(
        self,
        client: aioredis.Redis,
        items: Sequence[NewsItem],
        batch: int = 1000,
        keys: ReadModelKeys | None = None,
    ):
        self.client = client
        self.templates = list(items)
        keys = keys or ReadModelKeys()
        # Events are dropped (no event type); the script's keys name the partition's
        # own stream all the same (the writer's rule), so every key is in one slot.
        self.writer = ReadModelWriter(client, keys=keys, history_cap=20)
        self.batch = batch
        self.count = 0
        # Ignored by the script when the plan has no event type; its traceid is stored.
        self._event = make_event(EventType.enriched, "/bench", self.templates[0], "0" * 32)

    async def fill_to(self, total: int) -> None:
        now = utcnow()
        while self.count < total:
            end = min(total, self.count + self.batch)
            changes = []
            for index in range(self.count, end):
                item = clone(self.templates[index % len(self.templates)], index)
                plan = decide(item, None, now)
                assert plan is not None
                changes.append((dataclasses.replace(plan, event=None), None, self._event))
            applied = await self.writer.apply_many(changes)
            if any(a.outcome.value != "applied" for a in applied):
                raise RuntimeError("fill: a plan was not applied")
            self.count = end
