"""The enrichment pipeline, as data: adding an enricher is a file and a line here."""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any, Protocol, cast

from shared.items import NewsItem

from enrichment.enrichers import reading_time, sanitize, text

log = logging.getLogger("newsfeed.enrichment")


class Enricher(Protocol):
    NAME: str
    VERSION: str

    def enrich(self, item: NewsItem) -> dict[str, Any]: ...


def _as_enricher(module: ModuleType) -> Enricher:
    return cast(Enricher, module)


# Order matters: text reads the sanitized body; reading time reads the text.
PIPELINE: tuple[Enricher, ...] = tuple(map(_as_enricher, (sanitize, text, reading_time)))


def run_pipeline(item: NewsItem, pipeline: tuple[Enricher, ...] = PIPELINE) -> NewsItem:
    """Apply each enricher in turn. One enricher failing leaves its fields out
    and is recorded on the item; the item still goes on."""
    provenance = dict(item.enrichment)
    failures = list(item.enrichment_failures)
    for enricher in pipeline:
        try:
            item = item.model_copy(update=enricher.enrich(item))
        except Exception:  # an enricher bug must not drop the item
            log.exception("enricher %s failed on %s", enricher.NAME, item.uri)
            failures.append(enricher.NAME)
        else:
            provenance[enricher.NAME] = enricher.VERSION
    return item.model_copy(
        update={"enrichment": provenance, "enrichment_failures": tuple(failures)}
    )


EnrichFn = Callable[[NewsItem], NewsItem]
