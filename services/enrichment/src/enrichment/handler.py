"""The entry point: decode (done by the delivery layer), enrich, emit."""

from __future__ import annotations

from collections.abc import Sequence

from shared.delivery import Done, Failed, Handler, Result
from shared.events import Event, EventType, follow

from enrichment.pipeline import EnrichFn, run_pipeline

SOURCE = "/newsfeed/enrichment"


def make_handler(enrich: EnrichFn = run_pipeline) -> Handler:
    async def handle(events: Sequence[Event]) -> list[Result]:
        results: list[Result] = []
        for event in events:
            try:
                item = enrich(event.data)
            except Exception as error:  # a bad item fails alone, not its batch
                results.append(Failed(f"{type(error).__name__}: {error}"))
            else:
                results.append(Done((follow(event, EventType.enriched, SOURCE, item),)))
        return results

    return handle
