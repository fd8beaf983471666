"""Stream and consumer-group names: named here once, imported everywhere."""

from __future__ import annotations

from dataclasses import dataclass

INGESTED = "news.ingested"
ENRICHED = "news.enriched"
PUBLISHED = "news.published"
DEAD_LETTER = "news.deadletter"

ENRICHMENT_GROUP = "enrichment"
PUBLICATION_GROUP = "publication"
ENTITY_MODEL_GROUP = "entity-model"


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

# Enrichment's second pass (the entity model, off the fast path) reads
# news.enriched beside publication and appends its refined items to it. Not
# in ROUTES: only a second pass creates its group, since a group nobody reads
# would hold news.enriched above its cap (trimming keeps what a group needs).
ENTITY_MODEL_IN = Route(ENRICHED, ENTITY_MODEL_GROUP)

# An entry id is two unsigned 64-bit numbers, "<ms>-<seq>".
ENTRY_ID_PART_MAX = 2**64 - 1
LAST_ENTRY_ID = f"{ENTRY_ID_PART_MAX}-{ENTRY_ID_PART_MAX}"


def is_entry_id(value: str) -> bool:
    """Whether Redis would take `value` as a stream entry id (ASCII digits,
    each half at most 2**64 - 1): a reader's id checked before it reaches Redis."""
    parts = value.split("-")
    return len(parts) == 2 and all(
        part.isascii() and part.isdigit() and len(part) <= 20 and int(part) <= ENTRY_ID_PART_MAX
        for part in parts
    )
