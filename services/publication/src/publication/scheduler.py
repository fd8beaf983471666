"""Background duties of publication: embargo release and retention.

Any number of publication replicas may run these; the release script lets
exactly one of them release each item, and retention is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from shared.events import EventType, make_event, new_trace_id
from shared.items import utcnow
from shared.readmodel import ReadModelWriter, StoredStatus
from shared.redis_client import UNAVAILABLE

log = logging.getLogger("newsfeed.publication")
SOURCE = "/newsfeed/publication"


async def release_due(writer: ReadModelWriter, batch: int = 100) -> int:
    released = 0
    for uri in await writer.due_for_release(utcnow(), batch):
        stored = await writer.load(uri)
        if stored is None or stored.doc is None or stored.status is not StoredStatus.embargoed:
            continue
        event = make_event(EventType.released, SOURCE, stored.doc, stored.traceid or new_trace_id())
        if await writer.release(stored, event):
            released += 1
            log.info("released %s", uri)
    return released


async def apply_retention(writer: ReadModelWriter, max_items: int, max_age_days: int) -> int:
    retired = 0
    if max_age_days > 0:
        retired += await writer.retire_older_than(utcnow() - timedelta(days=max_age_days))
    if max_items > 0:
        retired += await writer.retire_beyond(max_items)
    return retired


async def run_periodically(
    writer: ReadModelWriter,
    stop: asyncio.Event,
    *,
    release_interval_s: float,
    retention_interval_s: float,
    max_items: int,
    max_age_days: int,
) -> None:
    next_retention = 0.0
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        try:
            await release_due(writer)
            if loop.time() >= next_retention:
                next_retention = loop.time() + retention_interval_s
                retired = await apply_retention(writer, max_items, max_age_days)
                if retired:
                    log.info("retention retired %d items", retired)
        except (*UNAVAILABLE, OSError) as error:
            # Redis restarting: the embargo queue is in Redis, nothing is lost by waiting.
            log.warning("scheduler waiting for redis: %s", error)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=release_interval_s)
