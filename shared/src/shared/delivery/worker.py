"""StreamWorker: one consumer in one group, reading, recovering and dead-lettering.

Everything runs in one loop, one step at a time, so an entry this process is
still working on can never be mistaken for an abandoned one:

1. retry entries this consumer failed, once `retry_delay_ms` has passed;
2. every so often, take over entries pending for longer than `claim_idle_ms`
   (on a dead or stuck replica, or on this one when Redis failed mid-batch);
3. read new entries with XREADGROUP COUNT `batch_size`, BLOCK `block_ms`;
4. hand the decoded batch to the service's handler, then in one MULTI:
   append its output events, XACK what succeeded, note errors of what failed.

An entry delivered `max_deliveries` times and still failing, or one that
cannot be decoded at all, goes to the dead-letter stream with its error and
its original fields, and is acknowledged so the pipeline goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.delivery.deadletter import DEAD_LETTER_MAX_LEN, dead_letter_fields
from shared.delivery.groups import GroupLost, ensure_groups, is_group_lost
from shared.delivery.trimming import Trimmer
from shared.events import Event, UndecodableEntry, decode, encode
from shared.observability.metrics import HANDLER_SECONDS, ITEMS
from shared.settings import DeliverySettings
from shared.streams import DEAD_LETTER, Route

log = logging.getLogger("newsfeed.delivery")


@dataclass(frozen=True)
class Done:
    """The effect happened; `emit` goes to the worker's output stream."""

    emit: tuple[Event, ...] = ()


@dataclass(frozen=True)
class Failed:
    reason: str


Result = Done | Failed
Handler = Callable[[Sequence[Event]], Awaitable[Sequence[Result]]]

# Fields are None for an entry trimmed while it was pending.
Entry = tuple[str, dict[str, str] | None]


def with_poison(handler: Handler, pattern: re.Pattern[str]) -> Handler:
    """Fault injection: entries whose subject matches fail before the handler sees them."""

    async def poisoned(events: Sequence[Event]) -> Sequence[Result]:
        healthy = [event for event in events if not pattern.search(event.subject)]
        done = iter(await handler(healthy)) if healthy else iter(())
        return [
            Failed("injected fault: poison entry (NEWSFEED_FAULT_POISON_PATTERN)")
            if pattern.search(event.subject)
            else next(done)
            for event in events
        ]

    return poisoned


def consumer_name(service: str) -> str:
    """Unique per process: a restarted process never inherits a dead one's entries
    silently; they are claimed after the idle time like any other."""
    return f"{service}-{socket.gethostname()}-{os.getpid()}"


def errors_key(route: Route) -> str:
    # Hash-tagged with the stream name so it shares the stream's Cluster slot.
    return f"delivery:{{{route.stream}}}:errors:{route.group}"


@dataclass
class WorkerStats:
    processed: int = 0
    failed: int = 0
    dead_lettered: int = 0
    recovered: int = 0
    batches: int = 0
    last_batch_at: float = 0.0
    running: bool = False
    extra: dict[str, int] = field(default_factory=dict)


class StreamWorker:
    def __init__(
        self,
        redis: aioredis.Redis,
        route: Route,
        handler: Handler,
        settings: DeliverySettings,
        *,
        consumer: str,
        output_stream: str | None = None,
        routes_to_ensure: Sequence[Route] = (),
        writes_to: Sequence[str] = (),
    ) -> None:
        self.redis = redis
        self.route = route
        self.handler = (
            with_poison(handler, re.compile(settings.fault_poison_pattern))
            if settings.fault_poison_pattern
            else handler
        )
        self.settings = settings
        self.consumer = consumer
        self.output_stream = output_stream
        self.routes_to_ensure = tuple(routes_to_ensure) or (route,)
        # Streams this worker appends to, directly or from its handler: it trims them.
        self.writes_to = tuple(writes_to) or ((output_stream,) if output_stream else ())
        self.stats = WorkerStats()
        self._failed_at: dict[str, float] = {}
        self._next_recovery = 0.0
        self._trimmer = Trimmer(redis, settings.stream_max_len)
        self._stopping = asyncio.Event()

    # -- lifecycle -------------------------------------------------------

    def stop(self) -> None:
        """Finish the batch in hand, acknowledge it, then return from run()."""
        self._stopping.set()

    async def run(self) -> None:
        await ensure_groups(self.redis, self.routes_to_ensure)
        self.stats.running = True
        backoff = 0.1
        try:
            while not self._stopping.is_set():
                try:
                    await self.step()
                    backoff = 0.1
                except (RedisConnectionError, RedisTimeoutError, OSError) as error:
                    # Redis restarting: what we hold stays pending and is retried.
                    log.warning("redis unavailable, retrying in %.1fs: %s", backoff, error)
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
        finally:
            self.stats.running = False
            await self._forget_self_if_idle()

    async def step(self) -> int:
        """One pass of the loop; returns how many entries it handled."""
        handled = await self._retry_own_failures()
        now = time.monotonic()
        if now >= self._next_recovery:
            self._next_recovery = now + self._recovery_interval()
            handled += await self._recover_abandoned()
        block = 1 if self._failed_at else self.settings.block_ms
        try:
            reply = await self.redis.xreadgroup(
                self.route.group,
                self.consumer,
                {self.route.stream: ">"},
                count=self.settings.batch_size,
                block=block,
            )
        except ResponseError as error:
            if is_group_lost(error):
                raise GroupLost(
                    f"group {self.route.group!r} on {self.route.stream!r} is gone "
                    "(Redis restarted empty?); stopping rather than hanging"
                ) from error
            raise
        entries: list[Entry] = [e for _, batch in reply for e in batch] if reply else []
        if entries:
            await self._process(entries)
        return handled + len(entries)

    # -- processing ------------------------------------------------------

    async def _process(self, entries: list[Entry]) -> None:
        decoded: list[tuple[str, Event]] = []
        for entry_id, fields in entries:
            if fields is None:  # trimmed while pending: nothing left to do
                continue
            try:
                decoded.append((entry_id, decode(fields)))
            except UndecodableEntry as error:
                await self._dead_letter(entry_id, fields, f"undecodable entry: {error}", 1)
        if not decoded:
            return
        stage = self.route.group
        ITEMS.labels(stage, "in").inc(len(decoded))
        started = time.perf_counter()
        try:
            results = list(await self.handler([event for _, event in decoded]))
            if len(results) != len(decoded):
                raise RuntimeError(f"handler returned {len(results)} results for {len(decoded)}")
        except (RedisConnectionError, RedisTimeoutError):
            raise
        except Exception as error:  # the whole step failed: every entry is retried
            log.exception("handler failed for a batch of %d", len(decoded))
            results = [Failed(f"{type(error).__name__}: {error}")] * len(decoded)
        HANDLER_SECONDS.labels(stage).observe(time.perf_counter() - started)
        await self._settle(decoded, results)

    async def _settle(self, decoded: list[tuple[str, Event]], results: list[Result]) -> None:
        acked: list[str] = []
        failures: dict[str, str] = {}
        async with self.redis.pipeline(transaction=True) as pipe:
            for (entry_id, event), result in zip(decoded, results, strict=True):
                if isinstance(result, Done):
                    acked.append(entry_id)
                    if self.output_stream:
                        for out in result.emit:
                            pipe.xadd(self.output_stream, encode(out))
                else:
                    failures[entry_id] = result.reason
                    log.warning(
                        "entry failed",
                        extra={"entry_id": entry_id, "uri": event.subject, "reason": result.reason},
                    )
            if acked:
                pipe.xack(self.route.stream, self.route.group, *acked)
                pipe.hdel(errors_key(self.route), *acked)
            if failures:
                pipe.hset(errors_key(self.route), mapping=failures)
            await pipe.execute()
        now = time.monotonic()
        for entry_id in acked:
            self._failed_at.pop(entry_id, None)
        for entry_id in failures:
            self._failed_at[entry_id] = now
        self.stats.processed += len(acked)
        self.stats.failed += len(failures)
        ITEMS.labels(self.route.group, "out").inc(len(acked))
        if failures:
            ITEMS.labels(self.route.group, "failed").inc(len(failures))
        self.stats.batches += 1
        self.stats.last_batch_at = time.time()
        if acked:
            for stream in self.writes_to:
                await self._trimmer.maybe_trim(stream)

    # -- retries, recovery, dead letters -------------------------------------

    async def _retry_own_failures(self) -> int:
        if not self._failed_at:
            return 0
        due_before = time.monotonic() - self.settings.retry_delay_ms / 1000
        due = [i for i, at in self._failed_at.items() if at <= due_before]
        if not due:
            return 0
        return await self._take_over(due, min_idle_ms=0, own=True)

    async def _recover_abandoned(self) -> int:
        # Our own entries count too: one whose settle never reached Redis (it
        # died mid-batch) is pending on us, and nothing else would retry it.
        # The loop is sequential, so none of ours is in flight right now.
        pending = await self._pending(idle_ms=self.settings.claim_idle_ms)
        ids = [p["message_id"] for p in pending]
        if not ids:
            return 0
        handled = await self._take_over(ids, min_idle_ms=self.settings.claim_idle_ms, own=False)
        self.stats.recovered += handled
        return handled

    async def _pending(self, idle_ms: int) -> list[dict[str, Any]]:
        try:
            return list(
                await self.redis.xpending_range(
                    self.route.stream,
                    self.route.group,
                    min="-",
                    max="+",
                    count=self.settings.batch_size,
                    idle=idle_ms,
                )
            )
        except ResponseError as error:
            if is_group_lost(error):
                raise GroupLost(
                    f"group {self.route.group!r} on {self.route.stream!r} is gone"
                ) from error
            raise

    async def _take_over(self, ids: list[str], *, min_idle_ms: int, own: bool) -> int:
        """Claim `ids` (bumping their delivery count), dead-letter those at the cap,
        and process the rest."""
        counts = await self._delivery_counts(ids)
        claimed: list[Entry] = await self.redis.xclaim(
            self.route.stream, self.route.group, self.consumer, min_idle_ms, ids
        )
        present = {entry_id for entry_id, _ in claimed}
        for entry_id in ids:
            if entry_id not in present:  # trimmed, acked meanwhile, or claimed by another
                self._failed_at.pop(entry_id, None)
        retry: list[Entry] = []
        for entry_id, fields in claimed:
            # XCLAIM just delivered it once more.
            deliveries = counts.get(entry_id, 0) + 1
            if fields is None:
                continue
            if deliveries > self.settings.max_deliveries:
                reason = await self.redis.hget(errors_key(self.route), entry_id)
                await self._dead_letter(
                    entry_id, fields, reason or "no error recorded", deliveries - 1
                )
            else:
                retry.append((entry_id, fields))
        if retry:
            log.info("retrying %d entries (%s)", len(retry), "own" if own else "recovered")
            await self._process(retry)
        return len(claimed)

    async def _delivery_counts(self, ids: list[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for entry_id in ids:
            rows = await self.redis.xpending_range(
                self.route.stream, self.route.group, min=entry_id, max=entry_id, count=1
            )
            if rows:
                counts[entry_id] = int(rows[0]["times_delivered"])
        return counts

    async def _dead_letter(
        self, entry_id: str, fields: dict[str, str], error: str, deliveries: int
    ) -> None:
        log.error(
            "dead-lettering entry",
            extra={"entry_id": entry_id, "stream": self.route.stream, "error": error},
        )
        letter = dead_letter_fields(
            stream=self.route.stream,
            group=self.route.group,
            entry_id=entry_id,
            error=error,
            deliveries=deliveries,
            original=fields,
        )
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(DEAD_LETTER, letter, maxlen=DEAD_LETTER_MAX_LEN, approximate=True)
            pipe.xack(self.route.stream, self.route.group, entry_id)
            pipe.hdel(errors_key(self.route), entry_id)
            await pipe.execute()
        self._failed_at.pop(entry_id, None)
        self.stats.dead_lettered += 1
        ITEMS.labels(self.route.group, "dead_lettered").inc()

    # -- helpers ---------------------------------------------------------

    def _recovery_interval(self) -> float:
        return min(max(self.settings.claim_idle_ms / 2000, 0.2), 10.0)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def _forget_self_if_idle(self) -> None:
        """Remove this consumer from the group when it holds nothing, so dead
        replicas do not pile up in XINFO CONSUMERS."""
        try:
            consumers = await self.redis.xinfo_consumers(self.route.stream, self.route.group)
            mine = next((c for c in consumers if c["name"] == self.consumer), None)
            if mine is not None and int(mine["pending"]) == 0:
                await self.redis.xgroup_delconsumer(
                    self.route.stream, self.route.group, self.consumer
                )
        except (ResponseError, RedisConnectionError, RedisTimeoutError, OSError):
            pass
