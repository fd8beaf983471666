"""Stream and consumer-group names: named here once, imported everywhere."""

from __future__ import annotations

from dataclasses import dataclass

INGESTED = "news.ingested"
ENRICHED = "news.enriched"
PUBLISHED = "news.published"
DEAD_LETTER = "news.deadletter"

ENRICHMENT_GROUP = "enrichment"
PUBLICATION_GROUP = "publication"


@dataclass(frozen=True)
class Route:
    """A consumer group reading one stream."""

    stream: str
    group: str


ENRICHMENT_IN = Route(INGESTED, ENRICHMENT_GROUP)
PUBLICATION_IN = Route(ENRICHED, PUBLICATION_GROUP)

# Every group the pipeline reads with. Each service creates all of them at
# start-up (at id 0), so entries written before a consumer first ran are
# delivered to it rather than skipped.
ROUTES: tuple[Route, ...] = (ENRICHMENT_IN, PUBLICATION_IN)
