"""The entry point: for each enriched version, load, decide, apply, in stream order."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from shared.delivery import Done, Failed, Handler, Result
from shared.events import Event, EventType, follow
from shared.items import utcnow
from shared.readmodel import ApplyOutcome, ReadModelWriter

from publication.lifecycle import decide

SOURCE = "/newsfeed/publication"
log = logging.getLogger("newsfeed.publication")
MAX_ATTEMPTS = 8


def make_handler(writer: ReadModelWriter, *, updates_move_to_top: bool = False) -> Handler:
    async def publish(event: Event) -> Result:
        for _ in range(MAX_ATTEMPTS):
            stored = await writer.load(event.subject)
            plan = decide(event.data, stored, utcnow(), updates_move_to_top=updates_move_to_top)
            if plan is None:  # stale or repeated: already in effect
                return Done()
            out = follow(event, plan.event or EventType.published, SOURCE, plan.item)
            applied = await writer.apply(plan, stored, out)
            if applied.outcome is ApplyOutcome.applied:
                log.info(
                    "item %s",
                    (plan.event or "stored").rsplit(".", 1)[-1],
                    extra={
                        "uri": plan.item.uri,
                        "version": plan.item.version,
                        "traceid": event.traceid,
                        "status": plan.status.value,
                    },
                )
                return Done()
        return Failed(f"{event.subject} kept changing under us ({MAX_ATTEMPTS} attempts)")

    async def handle(events: Sequence[Event]) -> list[Result]:
        # One at a time, in stream order: two versions of one item in a batch
        # must land oldest first.
        return [await publish(event) for event in events]

    return handle
