"""The scheduler: polls due sources, at most one replica per source at a time.

Every tick (bounded: at most `concurrency` polls in flight per replica) it
claims as many due sources as it has free slots, in one script on the due
set (SourceStore.claim): each claimed source is leased (SET NX PX with a
random token) and its due time moved to the lease's end in the same step, so
the next replica's claim reads past it to the sources nobody holds, and k
replicas run about k times the polls. Each claimed source is polled in a
task; the poller sets the next due time before the lease is given back, so
a second replica never polls the same source twice in a row either. A lease
outlives the longest poll (`lease_s`; each poll is cut off before that); a
replica that dies holding one leaves the source due again when it expires,
and a poll cancelled at shutdown puts its source back as due at once. Every minute the
scheduler also makes sure each enabled source has a due time, so no source
can drop out of the schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from shared.redis_client import UNAVAILABLE

from ingest.poller import Poller, failure_delay
from ingest.source_state import SourceStore, StateChange

log = logging.getLogger("newsfeed.ingest.scheduler")
# How often every enabled source is checked to have a due time (self-healing).
RESCHEDULE_CHECK_S = 60.0


def _now() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    def __init__(
        self,
        store: SourceStore,
        poller: Poller,
        *,
        tick_s: float = 1.0,
        concurrency: int = 8,
        lease_s: float = 120.0,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.store = store
        self.poller = poller
        self.tick_s = tick_s
        self.concurrency = concurrency
        self.lease_s = lease_s
        self._clock = clock
        self._stopping = asyncio.Event()
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self.polls_started = 0

    async def run(self) -> None:
        last_check = 0.0
        while not self._stopping.is_set():
            try:
                if time.monotonic() - last_check > RESCHEDULE_CHECK_S:
                    await self.store.ensure_scheduled(self._clock())
                    last_check = time.monotonic()
                await self.tick()
            except UNAVAILABLE as error:
                log.warning("scheduler tick failed, Redis unreachable: %s", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.tick_s)

    async def tick(self) -> int:
        """Start polls of due sources, up to the free slots; how many started."""
        free = self.concurrency - len(self._inflight)
        if free <= 0 or self._stopping.is_set():
            return 0
        token, claimed = await self.store.claim(self._clock(), free, int(self.lease_s * 1000))
        for source_id in claimed:
            task = asyncio.create_task(self._poll(source_id, token), name=f"poll-{source_id}")
            self._inflight[source_id] = task
            self.polls_started += 1
        return len(claimed)

    async def _poll(self, source_id: str, token: str) -> None:
        try:
            registered = await self.store.get(source_id)
            if registered is None or not registered.config.enabled:
                await self.store.unschedule(source_id)
                return
            try:
                async with asyncio.timeout(self.lease_s * 0.9):
                    await self.poller.poll(registered.config)
            except asyncio.CancelledError:
                # Stopping: the claim moved the due time to the lease's end;
                # another replica may poll it now.
                with contextlib.suppress(RedisConnectionError, RedisTimeoutError):
                    await self.store.schedule(source_id, self._clock())
                raise
            except Exception as error:  # one source's trouble never stops the others
                log.exception("polling source %s failed unexpectedly", source_id)
                with contextlib.suppress(RedisConnectionError, RedisTimeoutError):
                    await self._record_crash(
                        source_id, registered.config.poll_interval_seconds, error
                    )
        finally:
            self._inflight.pop(source_id, None)
            with contextlib.suppress(RedisConnectionError, RedisTimeoutError):
                await self.store.release(source_id, token)

    async def _record_crash(self, source_id: str, interval_s: float, error: Exception) -> None:
        state = await self.store.state(source_id)
        failures = state.consecutive_failures + 1
        delay = failure_delay(interval_s, failures, None, self.poller.policy)
        now = self._clock()
        reason = "poll took longer than its lease" if isinstance(error, TimeoutError) else None
        await self.store.record(
            source_id,
            StateChange.model_construct(
                last_fetch_at=now,
                last_outcome="failed",
                last_error=reason or f"internal error: {type(error).__name__}: {error}"[:300],
                consecutive_failures=failures,
                next_due_at=now + timedelta(seconds=delay),
            ),
        )
        await self.store.schedule(source_id, now + timedelta(seconds=delay))

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop ticking; give polls in flight `grace_s`, then cancel them (leases released)."""
        self._stopping.set()
        tasks = list(self._inflight.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
