"""The tail: one task per gateway process follows news.published.

It XREADs the stream with no consumer group, so every replica sees every
event, starting where the stream ended when it started. For each event it

1. updates the recent kills that Atom feeds list as tombstones (RFC 6721),
2. empties the page caches (`invalidate`: the first pages and the older ones),
3. offers the event to every live-update subscriber through that subscriber's
   own bounded queue. `offer` never waits: a subscriber whose queue is full is
   too slow to keep up, so it is closed (with a log line) and the others go on.

Subscribers that reconnect with the id of the last event they saw get what
they missed from the stream itself (`backlog`), up to a bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from shared.events import Event, EventType, UndecodableEntry, decode
from shared.readmodel import Facet, facet_keys, index_key
from shared.streams import PUBLISHED

from gateway.render.stream import event_frame

log = logging.getLogger("newsfeed.gateway.tail")

KINDS: dict[str, str] = {
    EventType.published.value: "published",
    EventType.released.value: "published",
    EventType.updated.value: "updated",
    EventType.corrected.value: "updated",
    EventType.killed.value: "killed",
    EventType.withheld.value: "killed",
}
"""What a reader sees: an item appears (published), changes (updated) or goes (killed)."""


def entry_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class Change:
    """One news.published entry as the gateway uses it.

    Decoding an event (pydantic, 20-30 µs) is deferred until something needs
    the item: emptying the page cache needs only the entry's arrival, so with
    no live-update client and no kill an event is never decoded. The decoded
    event and the SSE frame are made at most once."""

    __slots__ = ("_event", "_frame", "_indexes", "entry_id", "fields", "key", "kind", "uri")

    def __init__(self, entry_id: str, kind: str, fields: Mapping[str, str], uri: str) -> None:
        self.entry_id = entry_id
        self.key = entry_key(entry_id)
        self.kind = kind
        self.fields = fields
        self.uri = uri
        self._event: Event | None = None
        self._indexes: frozenset[str] | None = None
        self._frame: bytes | None = None

    @property
    def event(self) -> Event:
        """The decoded event; raises UndecodableEntry if the entry is not one."""
        if self._event is None:
            self._event = decode(self.fields)
        return self._event

    def decodes(self) -> bool:
        """Whether the entry is a valid event (decoding it once); a bad one is logged."""
        try:
            self.event  # noqa: B018 - decoding is the point
        except UndecodableEntry as error:
            log.warning("skipping undecodable entry %s on %s: %s", self.entry_id, PUBLISHED, error)
            return False
        return True

    @property
    def is_kill(self) -> bool:
        return self.fields.get("type") == EventType.killed.value

    @property
    def indexes(self) -> frozenset[str]:
        if self._indexes is None:
            self._indexes = frozenset(facet_keys(self.event.data))
        return self._indexes

    @property
    def frame(self) -> bytes:
        if self._frame is None:
            self._frame = event_frame(self.entry_id, self.kind, self.event)
        return self._frame


def to_change(entry_id: str, fields: Mapping[str, str]) -> Change | None:
    """The change an entry announces, undecoded; None for entries the gateway ignores."""
    kind = KINDS.get(fields.get("type", ""))
    uri = fields.get("subject")
    if kind is None or not uri:
        return None
    return Change(entry_id, kind, fields, uri)


class Subscriber:
    """One live-update client: a bounded queue, and the filter it asked for."""

    def __init__(self, facet: tuple[Facet, str] | None, queue_size: int) -> None:
        self.queue: asyncio.Queue[Change | None] = asyncio.Queue(queue_size)
        self.facet_key = index_key(*facet) if facet else None
        self.closed: str | None = None

    def matches(self, change: Change) -> bool:
        # Filtered clients hear of new items in their feed only, and of every
        # change or removal (they act on items they show, and ignore others).
        return (
            self.facet_key is None or change.kind != "published" or self.facet_key in change.indexes
        )

    def offer(self, change: Change) -> bool:
        try:
            self.queue.put_nowait(change)
        except asyncio.QueueFull:
            return False
        return True

    def close(self, reason: str) -> None:
        if self.closed is not None:
            return
        self.closed = reason
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


@dataclass(frozen=True, slots=True)
class Tombstone:
    uri: str
    when: datetime
    note: str | None


class Tombstones:
    """The most recent kills, newest last; a kill undone by a new publication is dropped."""

    def __init__(self, kept: int) -> None:
        self._kept = kept
        self._by_uri: OrderedDict[str, Tombstone] = OrderedDict()

    def apply(self, change: Change) -> None:
        if change.is_kill:
            if not change.decodes():
                return
            event = change.event
            self._by_uri.pop(change.uri, None)
            self._by_uri[change.uri] = Tombstone(change.uri, event.time, event.data.ednote)
            while len(self._by_uri) > self._kept:
                self._by_uri.popitem(last=False)
        elif change.kind == "published":
            self._by_uri.pop(change.uri, None)

    def recent(self) -> list[Tombstone]:
        """Newest first."""
        return list(reversed(self._by_uri.values()))


def _entries(reply: object) -> list[tuple[str, dict[str, str]]]:
    """XREAD's reply, RESP2 (list) or RESP3 (dict), as (id, fields) pairs."""
    if not reply:
        return []
    if isinstance(reply, dict):
        streams = list(reply.values())
        return [(i, f) for batch in streams for i, f in (batch[0] if batch else [])]
    assert isinstance(reply, list)
    return [(i, f) for _, batch in reply for i, f in batch]


class Tail:
    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        invalidate: Callable[[], None],
        count: int = 200,
        block_ms: int = 1000,
        queue_size: int = 100,
        tombstones_kept: int = 100,
        tombstone_scan: int = 5000,
        should_stop: Callable[[], bool] = lambda: False,
        retry_s: float = 1.0,
    ) -> None:
        self._redis = redis
        self._invalidate = invalidate
        self._count = count
        self._block_ms = block_ms
        self._queue_size = queue_size
        self._scan = tombstone_scan
        self._should_stop = should_stop
        self._retry_s = retry_s
        self.tombstones = Tombstones(tombstones_kept)
        self.last_id: str | None = None
        self.subscribers: set[Subscriber] = set()
        self.closing = False
        self.dropped = 0
        self.events = 0
        self._stopping = asyncio.Event()

    @property
    def ready(self) -> bool:
        return self.last_id is not None

    async def prime(self) -> None:
        """Start at the end of the stream; learn recent kills from what it still holds."""
        entries = await self._redis.xrevrange(PUBLISHED, "+", "-", count=max(self._scan, 1))
        seen: set[str] = set()
        kills: list[Change] = []
        for entry_id, fields in entries:
            change = to_change(entry_id, fields)
            if change is None or change.uri in seen:
                continue
            seen.add(change.uri)
            if change.is_kill:
                kills.append(change)
        for change in reversed(kills):
            self.tombstones.apply(change)
        self.last_id = entries[0][0] if entries else "0-0"
        log.info("tailing %s after %s (%d recent kills)", PUBLISHED, self.last_id, len(kills))

    async def run(self) -> None:
        """Follow the stream until `stop`; Redis outages are waited out, other errors raise.

        It stops between reads rather than by cancellation: redis-py (8.1) can
        swallow a cancellation that lands just after a command was sent and
        then wait for a reply forever."""
        failing = False
        while not self._stopping.is_set():
            self._check_stop()
            try:
                if self.last_id is None:
                    await self.prime()
                elif failing:
                    await self._after_outage()
                reply = await self._redis.xread(
                    {PUBLISHED: self.last_id or "0-0"}, count=self._count, block=self._block_ms
                )
            except (RedisConnectionError, RedisTimeoutError, OSError) as error:
                if not failing:
                    log.warning("tail waiting for redis: %s", error)
                failing = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._retry_s)
                continue
            if failing:
                log.info("tail reconnected to redis")
                failing = False
            for entry_id, fields in _entries(reply):
                self.last_id = entry_id
                change = to_change(entry_id, fields)
                if change is not None:
                    self.dispatch(change)
        self._close_all("server stopping")

    def stop(self) -> None:
        """End `run` after the read in progress (at most `block_ms`); close every stream."""
        self._stopping.set()
        self._close_all("server stopping")

    async def _after_outage(self) -> None:
        # Events may have been missed while Redis was away: drop cached pages.
        self._invalidate()
        newest = await self._redis.xrevrange(PUBLISHED, "+", "-", count=1)
        top = newest[0][0] if newest else "0-0"
        if self.last_id is not None and entry_key(top) < entry_key(self.last_id):
            # The stream is behind where we were: Redis lost it and started over.
            log.warning("%s restarted below %s; reading it from the start", PUBLISHED, self.last_id)
            self.last_id = "0-0"

    def _check_stop(self) -> None:
        if not self.closing and self._should_stop():
            self._close_all("server stopping")

    def _close_all(self, reason: str) -> None:
        self.closing = True
        for subscriber in list(self.subscribers):
            subscriber.close(reason)
        self.subscribers.clear()

    def dispatch(self, change: Change) -> None:
        self.events += 1
        self.tombstones.apply(change)
        self._invalidate()
        if not self.subscribers or not change.decodes():
            return
        for subscriber in list(self.subscribers):
            if subscriber.matches(change) and not subscriber.offer(change):
                self.dropped += 1
                self.unsubscribe(subscriber, "too slow: its queue overflowed")

    def subscribe(self, facet: tuple[Facet, str] | None) -> Subscriber:
        subscriber = Subscriber(facet, self._queue_size)
        self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber, reason: str | None = None) -> None:
        self.subscribers.discard(subscriber)
        if reason is not None:
            log.warning("closing a live-update client: %s", reason)
            subscriber.close(reason)

    async def backlog(self, after: str, limit: int) -> list[Change] | None:
        """What came after `after`, oldest first; None when that cannot be given in full
        (more than `limit` entries, or the stream no longer holds the ones after it)."""
        after_key = entry_key(after)
        first = await self._redis.xrange(PUBLISHED, "-", "+", count=1)
        if not first:
            return [] if after_key == (0, 0) else None
        if entry_key(first[0][0]) > after_key and after_key != (0, 0):
            return None  # trimmed past it
        newest = await self._redis.xrevrange(PUBLISHED, "+", "-", count=1)
        if newest and entry_key(newest[0][0]) < after_key:
            return None  # an id from before the stream started over
        entries = await self._redis.xrange(PUBLISHED, "(" + after, "+", count=limit + 1)
        if len(entries) > limit:
            return None
        changes = (to_change(entry_id, fields) for entry_id, fields in entries)
        return [change for change in changes if change is not None and change.decodes()]
