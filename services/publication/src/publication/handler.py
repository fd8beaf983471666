"""The entry point: apply each enriched version to the read model.

A batch costs two round trips, not two per item: load every item's stored
state at once, decide each with the plain `decide`, apply all plans in one
pipeline. Several versions of one uri in a batch go in successive rounds,
oldest first, so stream order holds per item; a compare-and-set conflict
(another replica got there first) sends that item to the next round.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from shared.delivery import Done, Failed, Handler, Result
from shared.events import Event, EventType, follow
from shared.items import utcnow
from shared.readmodel import ApplyOutcome, Plan, ReadModelWriter, Stored

from publication.lifecycle import decide

SOURCE = "/newsfeed/publication"
MAX_ROUNDS = 8
log = logging.getLogger("newsfeed.publication")

Change = tuple[Plan, Stored | None, Event]


def first_of_each_uri(
    pending: list[tuple[int, Event]],
) -> tuple[list[tuple[int, Event]], list[tuple[int, Event]]]:
    """Split into (the first event of every uri, the rest), keeping order."""
    now: list[tuple[int, Event]] = []
    later: list[tuple[int, Event]] = []
    seen: set[str] = set()
    for position, event in pending:
        (later if event.subject in seen else now).append((position, event))
        seen.add(event.subject)
    return now, later


def make_handler(writer: ReadModelWriter, *, updates_move_to_top: bool = False) -> Handler:
    async def handle(events: Sequence[Event]) -> list[Result]:
        results: list[Result | None] = [None] * len(events)
        pending = list(enumerate(events))
        for _ in range(MAX_ROUNDS):
            if not pending:
                break
            current, pending = first_of_each_uri(pending)
            stored = await writer.load_many([event.subject for _, event in current])
            now = utcnow()
            changes: list[tuple[int, Change]] = []
            for (position, event), before in zip(current, stored, strict=True):
                plan = decide(
                    event.data,
                    before,
                    now,
                    updates_move_to_top=updates_move_to_top,
                    refinement=event.type == EventType.refined,
                )
                if plan is None:  # stale or repeated: already in effect
                    results[position] = Done()
                    continue
                out = follow(event, plan.event or EventType.published, SOURCE, plan.item)
                changes.append((position, (plan, before, out)))
            applied = await writer.apply_many([change for _, change in changes])
            retry = []
            for (position, (plan, _, out)), outcome in zip(changes, applied, strict=True):
                if outcome.outcome is ApplyOutcome.applied:
                    results[position] = Done()
                    log.info(
                        "item %s",
                        plan.event.name if plan.event else plan.status.value,
                        extra={
                            "uri": plan.item.uri,
                            "version": plan.item.version,
                            "traceid": out.traceid,
                            "status": plan.status.value,
                        },
                    )
                else:
                    retry.append((position, events[position]))
            pending = sorted(retry + pending)
        return [
            result or Failed(f"{events[i].subject} kept changing under us ({MAX_ROUNDS} rounds)")
            for i, result in enumerate(results)
        ]

    return handle
