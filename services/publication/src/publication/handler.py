"""The entry point: apply each enriched version to the read model, in order."""

from __future__ import annotations

from collections.abc import Sequence

from shared.delivery import Done, Handler, Result
from shared.events import Event, EventType, follow
from shared.readmodel import ReadModelWriter

SOURCE = "/newsfeed/publication"


def make_handler(writer: ReadModelWriter) -> Handler:
    async def handle(events: Sequence[Event]) -> list[Result]:
        # One at a time, in stream order: two versions of one item in a batch
        # must land oldest first. A stale or repeated version is a no-op.
        for event in events:
            item = event.data
            await writer.apply(item, follow(event, EventType.published, SOURCE, item))
        return [Done()] * len(events)

    return handle
