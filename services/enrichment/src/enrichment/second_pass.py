"""The second pass: the entity model's names for items already on their way.

The first pass enriches without the statistical entity model (about half
of an item's cost) when NEWSFEED_ENRICH_ENTITY_MODEL is second_pass,
so an item reaches readers as fast as the gazetteers and rules allow. This
pass reads news.enriched in a consumer group of its own (ENTITY_MODEL_IN),
runs SECOND_PASS (the entities with the model, then the subjects and quotes
that read them) on each first-pass item and appends the result to the same
stream as a `refined` event of the same version. Publication stores it over
that version without an update stamp (publication.lifecycle.refine).

It emits nothing when the names are the same (most short items), for items
that are not shown (a kill, a withholding), for its own refined events
(which it reads too: they share the stream), and when its entities enricher
fails: the first pass's names then stay, which is better than none.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

from shared.delivery import Done, Failed, Handler, Result
from shared.events import Event, EventType, follow
from shared.items import NewsItem, PubStatus, utcnow

from enrichment.enrichers import entities
from enrichment.pipeline import Enricher, run_pipeline

SOURCE = "/newsfeed/enrichment/second-pass"

log = logging.getLogger("newsfeed.enrichment.second_pass")


def refine(item: NewsItem, pipeline: tuple[Enricher, ...]) -> NewsItem | None:
    """`item` with the second pass's fields, or None when readers would see no change."""
    if item.pubstatus is not PubStatus.usable:
        return None
    refined = run_pipeline(item, pipeline)
    if entities.NAME in refined.enrichment_failures:
        return None
    # The provenance changes whatever the model finds (its version is in it).
    if refined.model_copy(update={"enrichment": item.enrichment}) == item:
        return None
    return refined


# Items passed by since the process started, by why (also logged).
PASSED_BY: Counter[str] = Counter()


def make_handler(pipeline: tuple[Enricher, ...], max_lag: float = 60.0) -> Handler:
    """`max_lag`: seconds after which an enriched item is passed by unrefined (the
    pass is behind: a burst, a stop), so it catches up with what readers see now."""

    async def handle(events: Sequence[Event]) -> list[Result]:
        results: list[Result] = []
        now = utcnow()
        late = 0
        for event in events:
            if event.type != EventType.enriched:  # our own refined events
                results.append(Done())
                continue
            if (now - event.time).total_seconds() > max_lag:
                late += 1
                results.append(Done())
                continue
            try:
                refined = refine(event.data, pipeline)
            except Exception as error:  # a bad item fails alone, not its batch
                results.append(Failed(f"{type(error).__name__}: {error}"))
                continue
            if refined is None:
                results.append(Done())
                continue
            results.append(Done((follow(event, EventType.refined, SOURCE, refined),)))
            log.info(
                "item refined",
                extra={"uri": refined.uri, "version": refined.version, "traceid": event.traceid},
            )
        if late:  # one line a batch: a backlog would flood the log item by item
            PASSED_BY["late"] += late
            log.warning("%d items passed by unrefined: enriched over %g s ago", late, max_lag)
        return results

    return handle
