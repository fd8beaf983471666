"""StreamWorker: a service's consumer group, carried by FastStream.

FastStream reads: one batch subscriber per input stream (`StreamSub(batch=True,
max_records=batch_size, polling_interval=block_ms)`) on `RedisBroker`, or on
`RedisClusterBroker` when Redis is a cluster, with `AckPolicy.MANUAL`. What
FastStream 0.7.8 lacks for the guarantees of docs/delivery.md is filled here,
each gap measured in docs/delivery.md ("What FastStream leaves to us"):

1. each subscriber hands its decoded batch to the service's handler and then
   settles it in one script on the partition's slot: append the output events,
   XACK what succeeded, note the errors of what failed (per-entry outcomes;
   FastStream acks a batch whole and nacks without a Redis call);
2. a caretaker task beside the subscribers retries entries this consumer
   failed once `retry_delay_ms` has passed, takes over entries pending longer
   than `claim_idle_ms` anywhere in the group (XPENDING + XCLAIM, a batch at a
   time; FastStream's claimer takes one at a time and never caps), and
   dead-letters those delivered `max_deliveries` times;
3. a subscriber that stopped because its group vanished (FastStream stops it
   silently unless a FastStream app runs it) is raised as `GroupLost`.

An entry this process is still working on is never taken over by itself: the
caretaker skips what the subscribers hold in hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import redis.asyncio as aioredis
from faststream import AckPolicy
from faststream.redis import RedisBroker, RedisClusterBroker, StreamSub
from faststream.redis.annotations import RedisBatchStreamMessage
from faststream.redis.message import FAKE_CONSUMER
from faststream.redis.message import RedisBatchStreamMessage as BatchMessage
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.delivery.deadletter import DEAD_LETTER_MAX_LEN, DEAD_LETTER_SCRIPT, dead_letter_fields
from shared.delivery.groups import REDIS_DOWN, GroupLost, ensure_groups, is_group_lost, until_redis
from shared.delivery.trimming import Trimmer
from shared.entries import ENTRIES, unvalidated
from shared.events import EntryFields, Event, UndecodableEntry, decode, encode_for_redis
from shared.observability.metrics import HANDLER_SECONDS, ITEMS
from shared.partitions import Partitions
from shared.redis_client import known_node
from shared.replicated import (
    NotReplicated,
    ReplicatedWrites,
    ScriptCall,
    Unconfirmed,
    refuse_unreachable,
)
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
Entry = tuple[str, EntryFields | None]


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


@dataclass(frozen=True)
class Lane:
    """One partition of the worker's input: its keys all share one hash slot."""

    index: int
    stream: str  # the input stream's partition
    output: str | None  # the output stream's partition
    errors: str  # the last error of each failed entry, by entry id
    dead_letters: str
    writes_to: tuple[str, ...]  # streams of this partition the worker trims


def lanes_of(
    partitions: Partitions, route: Route, output: str | None, writes_to: Sequence[str]
) -> tuple[Lane, ...]:
    return tuple(
        Lane(
            index=p,
            stream=partitions.key(route.stream, p),
            output=partitions.key(output, p) if output else None,
            errors=partitions.key(f"delivery:errors:{route.group}", p),
            dead_letters=partitions.key(DEAD_LETTER, p),
            writes_to=tuple(partitions.key(name, p) for name in writes_to),
        )
        for p in partitions.indexes
    )


def broker_for(redis: aioredis.Redis | RedisCluster) -> RedisBroker:
    """A FastStream broker on the same Redis as `redis` (its own connections:
    FastStream reads bytes, the services' client speaks strings): a
    `RedisClusterBroker` when `redis` is a cluster client."""
    if isinstance(redis, RedisCluster):
        node = known_node(redis)  # a fresh client has no default node yet
        options = {**redis.get_connection_kwargs(), "host": node.host, "port": node.port}
    else:
        options = redis.connection_pool.connection_kwargs
    auth = ""
    if options.get("password"):
        user = quote(str(options.get("username") or ""), safe="")
        auth = f"{user}:{quote(str(options['password']), safe='')}@"
    url = f"redis://{auth}{options.get('host', '127.0.0.1')}:{options.get('port', 6379)}"
    # Its per-message log lines go to DEBUG; the worker logs what matters.
    if isinstance(redis, RedisCluster):
        return RedisClusterBroker(url, graceful_timeout=30.0, logger=log, log_level=logging.DEBUG)
    return RedisBroker(
        f"{url}/{options.get('db', 0)}", graceful_timeout=30.0, logger=log, log_level=logging.DEBUG
    )


async def _as_read(raw: Mapping[str, Any]) -> BatchMessage:
    """FastStream's message for a batch as XREADGROUP returned it, left undecoded.

    FastStream's own batch parser takes each entry for its binary envelope,
    fails (ours are flat maps), tries JSON twice, then re-encodes the whole
    batch as JSON for its decoder: 13 us per entry measured (docs/delivery.md),
    for a body the worker never reads — it decodes `raw_message` itself. No
    consumer or group: acknowledging is the settle script's job (AckPolicy.MANUAL)."""
    return BatchMessage(raw_message=raw, body=b"", consumer=FAKE_CONSUMER, group=None)


async def _undecoded(message: Any) -> None:
    """The body FastStream hands the handler: nothing (see `_as_read`)."""
    return None


# KEYS: the input partition, its error notes, the output partition (the input
# again when there is none). ARGV: group, the number of acknowledged entries
# and their ids, the number of failed ones and (id, reason) pairs, then each
# output event as its field count and fields.
SETTLE = """
local acked = tonumber(ARGV[2])
local failed = tonumber(ARGV[acked + 3])
-- The outputs first: a script is not rolled back when one of its commands
-- fails (an XADD onto a key of another type, say), so nothing is acknowledged
-- before its output is written. (Under maxmemory Redis refuses only a
-- script's first write, so that case is whole either way.)
local i = acked + 2 * failed + 4
while i <= #ARGV do
  local count = tonumber(ARGV[i])
  redis.call('XADD', KEYS[3], '*', unpack(ARGV, i + 1, i + count))
  i = i + count + 1
end
if acked > 0 then
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 3, 2 + acked))
  redis.call('HDEL', KEYS[2], unpack(ARGV, 3, 2 + acked))
end
if failed > 0 then
  redis.call('HSET', KEYS[2], unpack(ARGV, acked + 4, acked + 3 + 2 * failed))
end
return acked
"""

# KEYS: a stream. ARGV: group, idle ms. Removes the group's consumers idle that
# long with nothing pending, in one step, so none can read an entry in between.
FORGET_IDLE_CONSUMERS = """
local removed = 0
for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local info = {}
  for i = 1, #consumer, 2 do info[consumer[i]] = consumer[i + 1] end
  if info['pending'] == 0 and info['idle'] > tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    removed = removed + 1
  end
end
return removed
"""


@dataclass
class WorkerStats:
    processed: int = 0
    failed: int = 0
    dead_lettered: int = 0
    recovered: int = 0
    forgotten_consumers: int = 0
    replica_shortfalls: int = 0
    unconfirmed_settles: int = 0
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
        broker: RedisBroker | None = None,
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
        self.partitions = Partitions(settings.partitions)
        self.routes_to_ensure = tuple(routes_to_ensure) or (route,)
        # Streams this worker appends to, directly or from its handler: it trims them.
        writes_to = tuple(writes_to) or ((output_stream,) if output_stream else ())
        self.lanes = lanes_of(self.partitions, route, output_stream, writes_to)
        self.stats = WorkerStats()
        self.broker = broker or broker_for(redis)
        self.subscribers = [self._subscribe(lane) for lane in self.lanes]
        self._declare_publishers(writes_to)
        self._failed_at: dict[tuple[Lane, str], float] = {}
        self._in_hand: set[tuple[Lane, str]] = set()
        self._next_recovery = 0.0
        self._trimmer = Trimmer(redis, settings.stream_max_len)
        # With ack_replicas, each settle and dead letter is followed by a WAIT on
        # the connection that made it (on a cluster, to the lane's primary).
        self._writes = ReplicatedWrites(redis, settings.ack_replicas, settings.ack_timeout_ms)
        self._settle_script = redis.register_script(SETTLE)
        self._dead_letter_script = redis.register_script(DEAD_LETTER_SCRIPT)
        self._forget_idle_script = redis.register_script(FORGET_IDLE_CONSUMERS)
        self._stopping = asyncio.Event()

    def _declare_publishers(self, writes_to: Sequence[str]) -> None:
        """FastStream publishers for the AsyncAPI document (tools/asyncapi.py) only:
        nothing publishes through them. The output is appended by the settle script
        (or the handler's own script) together with the XACK, and dead letters with
        theirs, because a FastStream publish is a command of its own that cannot
        join them in one slot (docs/delivery.md)."""
        for lane in self.lanes:
            streams = [*zip(lane.writes_to, writes_to, strict=True)]
            for key, name in [*streams, (lane.dead_letters, DEAD_LETTER)]:
                # A worker may append to the stream it reads (enrichment's second
                # pass): its publisher then needs a name other than its subscriber's.
                appends = ":appended" if key == lane.stream else ""
                self.broker.publisher(
                    stream=key,
                    title=f"{self.route.group}:{key}{appends}",
                    description=self.partitions.describe(name, lane.index),
                    schema=ENTRIES[name],
                )

    def _subscribe(self, lane: Lane) -> Any:
        subscriber = self.broker.subscriber(
            stream=StreamSub(
                lane.stream,
                group=self.route.group,
                consumer=self.consumer,
                batch=True,
                max_records=self.settings.batch_size,
                polling_interval=self.settings.block_ms,
            ),
            ack_policy=AckPolicy.MANUAL,
            parser=_as_read,
            decoder=_undecoded,
            title=f"{self.route.group}:{lane.stream}",
            description=f"{self.partitions.describe(self.route.stream, lane.index)} Read by "
            f"the consumer group `{self.route.group}`, one consumer per process.",
        )

        async def consume(batch: object, message: RedisBatchStreamMessage) -> None:
            """FastStream's handler: one batch its subscriber read from the lane."""
            raw = message.raw_message
            # `data` stays bytes: decode() hands them to pydantic as they are.
            entries: list[Entry] = [
                (
                    entry_id.decode(),
                    {k.decode(): v if k == b"data" else v.decode() for k, v in fields.items()},
                )
                for entry_id, fields in zip(raw["message_ids"], raw["data"], strict=True)
            ]
            await self._process(lane, entries)

        # Named as one entry of the stream (a message of the channel) for the
        # AsyncAPI document, though FastStream hands it a batch of them, unread.
        consume.__annotations__["batch"] = unvalidated(ENTRIES[self.route.stream])
        subscriber(consume)
        return subscriber

    # -- lifecycle -------------------------------------------------------

    def stop(self) -> None:
        """Finish the batch in hand, acknowledge it, then return from run()."""
        self._stopping.set()

    async def run(self) -> None:
        """Wait for Redis (unready meanwhile), start the subscribers, look after
        them until stop(); raise GroupLost if Redis lost the group."""
        if not await until_redis(self._prepare, self._stopping):
            return
        if not await until_redis(self.broker.start, self._stopping):
            return
        self.stats.running = True
        try:
            await self._look_after()
        finally:
            self.stats.running = False
            await self.broker.stop()
            with contextlib.suppress(*REDIS_DOWN, ResponseError):
                await self._handle_read_but_unhandled()
            await self._forget_self_if_idle()

    async def _prepare(self) -> None:
        await ensure_groups(self.redis, self.routes_to_ensure, self.partitions)
        await refuse_unreachable(self.redis, self.settings.ack_replicas)

    async def _look_after(self) -> None:
        backoff = 0.1
        while not self._stopping.is_set():
            if not all(subscriber.running for subscriber in self.subscribers):
                raise GroupLost(
                    f"group {self.route.group!r} on {self.route.stream!r} is gone "
                    "(Redis restarted empty?); stopping rather than hanging"
                )
            try:
                await self.step()
                backoff = 0.1
            except REDIS_DOWN as error:
                # Redis restarting: what we hold stays pending and is retried.
                log.warning("redis unavailable, retrying in %.1fs: %s", backoff, error)
                await self._sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            await self._sleep(self._next_wake())

    async def step(self) -> int:
        """The caretaker's pass: retries due, recovery when due; returns entries handled."""
        handled = await self._retry_own_failures()
        now = time.monotonic()
        if now >= self._next_recovery:
            self._next_recovery = now + self._recovery_interval()
            for lane in self.lanes:
                handled += await self._recover_abandoned(lane)
                await self._forget_idle_consumers(lane)
        return handled

    def _next_wake(self) -> float:
        now = time.monotonic()
        wake = self._next_recovery
        if self._failed_at:
            wake = min(wake, min(self._failed_at.values()) + self.settings.retry_delay_ms / 1000)
        return min(max(wake - now, 0.01), 1.0)

    # -- processing ------------------------------------------------------

    async def _process(self, lane: Lane, entries: list[Entry]) -> None:
        held = {(lane, entry_id) for entry_id, _ in entries}
        self._in_hand.update(held)
        try:
            await self._process_in_hand(lane, entries)
        finally:
            self._in_hand.difference_update(held)

    async def _process_in_hand(self, lane: Lane, entries: list[Entry]) -> None:
        decoded: list[tuple[str, Event]] = []
        for entry_id, fields in entries:
            if fields is None:  # trimmed while pending: nothing left to do
                continue
            try:
                decoded.append((entry_id, decode(fields)))
            except UndecodableEntry as error:
                await self._dead_letter(lane, entry_id, fields, f"undecodable entry: {error}", 1)
        if not decoded:
            return
        stage = self.route.group
        ITEMS.labels(stage, "in").inc(len(decoded))
        started = time.perf_counter()
        try:
            results = list(await self.handler([event for _, event in decoded]))
            if len(results) != len(decoded):
                raise RuntimeError(f"handler returned {len(results)} results for {len(decoded)}")
        except REDIS_DOWN:  # not the handler's failure: the batch stays pending
            raise
        except Exception as error:  # the whole step failed: every entry is retried
            log.exception("handler failed for a batch of %d", len(decoded))
            results = [Failed(f"{type(error).__name__}: {error}")] * len(decoded)
        HANDLER_SECONDS.labels(stage).observe(time.perf_counter() - started)
        await self._settle(lane, decoded, results)

    async def _settle(
        self, lane: Lane, decoded: list[tuple[str, Event]], results: list[Result]
    ) -> None:
        """One script on the lane's slot: output events, XACK, error notes; then,
        with `ack_replicas`, WAIT on the same connection until replicas have it."""
        acked: list[str] = []
        failures: dict[str, str] = {}
        events: list[str | bytes | int] = []
        for (entry_id, event), result in zip(decoded, results, strict=True):
            if isinstance(result, Done):
                acked.append(entry_id)
                if lane.output:
                    for out in result.emit:
                        fields = encode_for_redis(out)
                        events += [2 * len(fields), *(p for pair in fields.items() for p in pair)]
            else:
                failures[entry_id] = result.reason
                log.warning(
                    "entry failed",
                    extra={"entry_id": entry_id, "uri": event.subject, "reason": result.reason},
                )
        args: list[str | bytes | int] = [
            self.route.group,
            len(acked),
            *acked,
            len(failures),
            *(part for pair in failures.items() for part in pair),
            *events,
        ]
        keys = [lane.stream, lane.errors, lane.output or lane.stream]
        try:
            await self._durably(ScriptCall(self._settle_script, keys, args))
        except Unconfirmed as error:
            # A failover: whether the settle was made is unknown. Every entry is
            # retried after retry_delay_ms like a failure, not left to the claim
            # idle time (one the settle did ack is no longer pending: the claim
            # skips it).
            log.warning("settle not confirmed, retrying its entries: %s", error)
            now = time.monotonic()
            for entry_id, _ in decoded:
                self._failed_at[(lane, entry_id)] = now
            self.stats.unconfirmed_settles += 1
            return
        now = time.monotonic()
        for entry_id in acked:
            self._failed_at.pop((lane, entry_id), None)
        for entry_id in failures:
            self._failed_at[(lane, entry_id)] = now
        self.stats.processed += len(acked)
        self.stats.failed += len(failures)
        ITEMS.labels(self.route.group, "out").inc(len(acked))
        if failures:
            ITEMS.labels(self.route.group, "failed").inc(len(failures))
        self.stats.batches += 1
        self.stats.last_batch_at = time.time()
        if acked:
            for stream in lane.writes_to:
                await self._trimmer.maybe_trim(stream)

    # -- retries, recovery, dead letters -------------------------------------

    async def _retry_own_failures(self) -> int:
        if not self._failed_at:
            return 0
        due_before = time.monotonic() - self.settings.retry_delay_ms / 1000
        handled = 0
        for lane in self.lanes:
            due = [i for (on, i), at in self._failed_at.items() if on == lane and at <= due_before]
            if due:
                handled += await self._take_over(lane, due, min_idle_ms=0, own=True)
        return handled

    async def _recover_abandoned(self, lane: Lane) -> int:
        # Our own entries count too: one whose settle never reached Redis (it
        # died mid-batch) is pending on us, and nothing else would retry it.
        # Those a subscriber of ours still holds are left alone.
        pending = await self._pending(lane, idle_ms=self.settings.claim_idle_ms)
        ids = [p["message_id"] for p in pending if (lane, p["message_id"]) not in self._in_hand]
        if not ids:
            return 0
        handled = await self._take_over(
            lane, ids, min_idle_ms=self.settings.claim_idle_ms, own=False
        )
        self.stats.recovered += handled
        return handled

    async def _forget_idle_consumers(self, lane: Lane) -> None:
        """Dead replicas leave consumers behind; those idle far beyond the claim
        time with nothing pending are removed (one that was only asleep comes
        back by itself on its next read)."""
        idle_ms = max(20 * self.settings.claim_idle_ms, 2 * self.settings.block_ms)
        removed = await self._forget_idle_script(
            keys=[lane.stream], args=[self.route.group, idle_ms]
        )
        self.stats.forgotten_consumers += int(removed)

    async def _handle_read_but_unhandled(self) -> None:
        """After the subscribers stopped: entries a read delivered to us just as
        it was cancelled are handled now rather than left for a replica."""
        for lane in self.lanes:
            rows = await self.redis.xpending_range(
                lane.stream,
                self.route.group,
                min="-",
                max="+",
                count=self.settings.batch_size,
                consumername=self.consumer,
            )
            ids = [r["message_id"] for r in rows if (lane, r["message_id"]) not in self._failed_at]
            if ids:
                await self._take_over(lane, ids, min_idle_ms=0, own=True)

    async def _pending(self, lane: Lane, idle_ms: int) -> list[dict[str, Any]]:
        try:
            return list(
                await self.redis.xpending_range(
                    lane.stream,
                    self.route.group,
                    min="-",
                    max="+",
                    count=self.settings.batch_size,
                    idle=idle_ms,
                )
            )
        except ResponseError as error:
            if is_group_lost(error):
                raise GroupLost(f"group {self.route.group!r} on {lane.stream!r} is gone") from error
            raise

    async def _take_over(self, lane: Lane, ids: list[str], *, min_idle_ms: int, own: bool) -> int:
        """Claim `ids` (bumping their delivery count), dead-letter those at the cap,
        and process the rest."""
        counts = await self._delivery_counts(lane, ids)
        claimed: list[Entry] = await self.redis.xclaim(
            lane.stream, self.route.group, self.consumer, min_idle_ms, ids
        )
        present = {entry_id for entry_id, _ in claimed}
        for entry_id in ids:
            if entry_id not in present:  # trimmed, acked meanwhile, or claimed by another
                self._failed_at.pop((lane, entry_id), None)
        retry: list[Entry] = []
        for entry_id, fields in claimed:
            # XCLAIM just delivered it once more.
            deliveries = counts.get(entry_id, 0) + 1
            if fields is None:
                continue
            if deliveries > self.settings.max_deliveries:
                reason = await self.redis.hget(lane.errors, entry_id)
                await self._dead_letter(
                    lane, entry_id, fields, reason or "no error recorded", deliveries - 1
                )
            else:
                retry.append((entry_id, fields))
        if retry:
            log.info("retrying %d entries (%s)", len(retry), "own" if own else "recovered")
            await self._process(lane, retry)
        return len(claimed)

    async def _delivery_counts(self, lane: Lane, ids: list[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for entry_id in ids:
            rows = await self.redis.xpending_range(
                lane.stream, self.route.group, min=entry_id, max=entry_id, count=1
            )
            if rows:
                counts[entry_id] = int(rows[0]["times_delivered"])
        return counts

    async def _dead_letter(
        self, lane: Lane, entry_id: str, fields: EntryFields, error: str, deliveries: int
    ) -> None:
        """Append the letter, XACK the entry, drop its error note: one script, one slot."""
        log.error(
            "dead-lettering entry",
            extra={"entry_id": entry_id, "stream": lane.stream, "error": error},
        )
        letter = dead_letter_fields(
            stream=lane.stream,
            group=self.route.group,
            entry_id=entry_id,
            error=error,
            deliveries=deliveries,
            original=fields,
        )
        args: list[str | int] = [
            self.route.group,
            entry_id,
            lane.index,
            self.partitions.count,
            DEAD_LETTER_MAX_LEN,
            *(part for pair in letter.items() for part in pair),
        ]
        keys = [lane.dead_letters, lane.stream, lane.errors]
        await self._durably(ScriptCall(self._dead_letter_script, keys, args))
        self._failed_at.pop((lane, entry_id), None)
        self.stats.dead_lettered += 1
        ITEMS.labels(self.route.group, "dead_lettered").inc()

    async def _durably(self, write: ScriptCall) -> None:
        """Run `write` (one script in the lane's slot) and, with `ack_replicas`,
        WAIT behind it on the same connection (shared.replicated). A replica's
        copy is a prefix of the primary's history and the script replicates
        whole, so a replica that lacks this XACK lacks this output too: a
        failover redoes such work, never loses it (docs/reliability.md). Short
        of replicas, the lane pauses for the timeout instead of running ahead
        of them; the next WAIT covers this write. When the primary could not be
        asked (a failover: Unconfirmed), the entries stay pending and are
        retried."""
        try:
            await self._writes.run([write])
        except NotReplicated as shortfall:
            self.stats.replica_shortfalls += 1
            log.warning("%s; pausing", shortfall)
            await self._sleep(self.settings.ack_timeout_ms / 1000)

    # -- helpers ---------------------------------------------------------

    def _recovery_interval(self) -> float:
        # A quarter of the idle time, at most 2.5 s: a dead replica's entries are
        # taken over within claim_idle_ms + 2.5 s, for one XPENDING per partition.
        return min(max(self.settings.claim_idle_ms / 4000, 0.2), 2.5)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def _forget_self_if_idle(self) -> None:
        """Remove this consumer from the group when it holds nothing, so dead
        replicas do not pile up in XINFO CONSUMERS."""
        for lane in self.lanes:
            try:
                consumers = await self.redis.xinfo_consumers(lane.stream, self.route.group)
                mine = next((c for c in consumers if c["name"] == self.consumer), None)
                if mine is not None and int(mine["pending"]) == 0:
                    await self.redis.xgroup_delconsumer(
                        lane.stream, self.route.group, self.consumer
                    )
            except (ResponseError, RedisConnectionError, RedisTimeoutError, OSError):
                pass
