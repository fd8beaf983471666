"""The tail: one task per gateway process follows every partition of news.published.

It XREADs the partition streams with no consumer group, so every replica sees
every event, starting where each stream ended when it started. For each event
it

1. updates the recent kills that Atom feeds list as tombstones (RFC 6721),
2. drops the cached pages of the feeds the event touches (`invalidate`, with
   the feed names the entry's `feeds` field lists; every page when an entry
   does not say),
3. hands the event to its listeners (the live-update hub), in order.

Positions. With N partitions the stream has no single order, so a reader's
place is a *position*: the last entry id it has of each partition. Written as
the entry ids joined by `.` (`1767778926315-0.1767778926002-3`); with one
partition that is a plain entry id. Each event a client is sent carries the
position after it as its SSE `id`, so the `Last-Event-ID` a client comes back
with says exactly what it has, whichever replica it comes back to.

The tail keeps the last `history` events in memory (with their encoded
frames), so a client that resumes after a short absence is served without
touching Redis; an older position is read from the streams themselves, and
one the streams no longer hold (trimmed, or from before Redis lost them)
gets None: the client must reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from shared.events import Event, EventType, UndecodableEntry, decode
from shared.readmodel.feeds import ALL, FIELD, feed_names, parse_feeds
from shared.redis_client import UNAVAILABLE, cluster_mode

from gateway.positions import START, EntryKey, Position, entry_key, format_position
from gateway.render.stream import event_frame

log = logging.getLogger("newsfeed.gateway.tail")

KINDS: dict[str, str] = {
    EventType.published.value: "published",
    EventType.released.value: "published",
    EventType.updated.value: "updated",
    EventType.corrected.value: "updated",
    # New names from enrichment's second pass: the item's page changes, its stamp does not.
    EventType.refined.value: "updated",
    EventType.killed.value: "killed",
    EventType.withheld.value: "killed",
}
"""What a reader sees: an item appears (published), changes (updated) or goes (killed)."""

LOST_RANGES_KEPT = 16  # per partition: Redis losing entries again and again is rare


class Change:
    """One news.published entry as the gateway uses it.

    Decoding an event (pydantic, 20-30 µs) is deferred until something needs
    the item: dropping cached pages needs only the entry's `feeds` field, so
    with no live-update client and no kill an event is never decoded. The
    decoded event and the SSE frame are made at most once."""

    __slots__ = (
        "_event",
        "_feeds",
        "_frame",
        "entry_id",
        "fields",
        "key",
        "kind",
        "partition",
        "position",
        "uri",
    )

    def __init__(
        self, entry_id: str, kind: str, fields: Mapping[str, str], uri: str, partition: int = 0
    ) -> None:
        self.entry_id = entry_id
        self.partition = partition
        self.key = entry_key(entry_id)
        self.kind = kind
        self.fields = fields
        self.uri = uri
        self.position: Position = ()
        self._event: Event | None = None
        self._feeds: tuple[frozenset[str], frozenset[str]] | bool | None = False
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
            log.warning("skipping undecodable entry %s: %s", self.entry_id, error)
            return False
        return True

    @property
    def is_kill(self) -> bool:
        return self.fields.get("type") == EventType.killed.value

    @property
    def feeds(self) -> tuple[frozenset[str], frozenset[str]] | None:
        """(before, after): the feed sets the item was in and is in; None: unknown."""
        if self._feeds is False:
            self._feeds = parse_feeds(self.fields.get(FIELD))
        assert self._feeds is not True
        return self._feeds

    @property
    def touched(self) -> frozenset[str] | None:
        """Every feed whose pages this change can alter; None: any feed."""
        feeds = self.feeds
        return None if feeds is None else feeds[0] | feeds[1]

    def concerns(self, feed: str) -> bool:
        """Whether a client showing `feed` must hear of this change: a kill always
        (it reaches every client), a new item if it lands in the feed, an update
        if the item was or is in it."""
        if self.kind == "killed" or feed == ALL:
            return True
        feeds = self.feeds
        if feeds is None:  # an entry that does not say: judge by the item
            if self.kind != "published":
                return True
            return self.decodes() and feed in feed_names(self.event.data)
        before, after = feeds
        return feed in after or (self.kind == "updated" and feed in before)

    @property
    def frame(self) -> bytes:
        if self._frame is None:
            self._frame = event_frame(format_position(self.position), self.kind, self.event)
        return self._frame


def to_change(entry_id: str, fields: Mapping[str, str], partition: int = 0) -> Change | None:
    """The change an entry announces, undecoded; None for entries the gateway ignores."""
    kind = KINDS.get(fields.get("type", ""))
    uri = fields.get("subject")
    if kind is None or not uri:
        return None
    return Change(entry_id, kind, fields, uri, partition)


@dataclass(frozen=True, slots=True)
class Tombstone:
    uri: str
    when: datetime
    note: str | None
    feeds: frozenset[str] | None  # the feeds it was in; None: unknown, listed in every one


class Tombstones:
    """The most recent kills, newest last; a kill undone by a new publication is dropped."""

    def __init__(self, kept: int) -> None:
        self._kept = kept
        self._by_uri: OrderedDict[str, Tombstone] = OrderedDict()

    def apply(self, change: Change) -> None:
        if change.is_kill:
            if not change.decodes():
                return
            event, feeds = change.event, change.feeds
            self._by_uri.pop(change.uri, None)
            self._by_uri[change.uri] = Tombstone(
                change.uri, event.time, event.data.ednote, None if feeds is None else feeds[0]
            )
            while len(self._by_uri) > self._kept:
                self._by_uri.popitem(last=False)
        elif change.kind == "published":
            self._by_uri.pop(change.uri, None)

    def recent(self, feed: str = ALL) -> list[Tombstone]:
        """Newest first: the kills of items that were in `feed` (or may have been)."""
        return [
            stone
            for stone in reversed(self._by_uri.values())
            if stone.feeds is None or feed in stone.feeds
        ]


def _entries(reply: object) -> list[tuple[str, list[tuple[str, dict[str, str]]]]]:
    """XREAD's reply, RESP2 (list) or RESP3 (dict), as (stream, entries) pairs."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return [(name, batch[0] if batch else []) for name, batch in reply.items()]
    assert isinstance(reply, list)
    return [(name, batch) for name, batch in reply]


Listener = Callable[[Change], None]
Invalidate = Callable[[frozenset[str] | None], None]


class Tail:
    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        streams: Sequence[str],
        invalidate: Invalidate,
        count: int = 200,
        block_ms: int = 1000,
        history: int = 1000,
        tombstones_kept: int = 100,
        tombstone_scan: int = 5000,
        should_stop: Callable[[], bool] = lambda: False,
        retry_s: float = 1.0,
    ) -> None:
        if not streams:
            raise ValueError("the tail needs at least one stream")
        self._redis = redis
        self.streams = tuple(streams)
        self._partition_of = {name: index for index, name in enumerate(self.streams)}
        self._invalidate = invalidate
        self._count = count
        self._block_ms = block_ms
        self._history: deque[Change] = deque()
        self._history_max = max(history, 0)
        self._scan = tombstone_scan
        self._should_stop = should_stop
        self._retry_s = retry_s
        self.tombstones = Tombstones(tombstones_kept)
        self.position: list[EntryKey] | None = None
        # Per partition: the newest entry no longer in the history (a client whose
        # position is at or past it in every partition can be served from memory).
        self._floor: list[EntryKey] = [START] * len(self.streams)
        # Per partition: ranges (last entry when Redis came back, where the tail
        # was] of entries Redis lost; positions in them must reload.
        self._lost: list[list[tuple[EntryKey, EntryKey]]] = [[] for _ in self.streams]
        self._server_id: str | None = None  # Redis's run id, to notice restarts
        self.listeners: list[Listener] = []
        self.closers: list[Callable[[str], None]] = []
        self.closing = False
        self.events = 0
        self._stopping = asyncio.Event()
        self._reads: dict[str, asyncio.Future[Any]] = {}

    @property
    def ready(self) -> bool:
        return self.position is not None

    @property
    def last_id(self) -> str | None:
        """The current position, as a client would send it back."""
        return None if self.position is None else format_position(tuple(self.position))

    @property
    def partitions(self) -> int:
        return len(self.streams)

    async def prime(self) -> None:
        """Start at the end of each stream; learn recent kills and fill the history
        from what the streams still hold."""
        self._server_id = None
        await self._check_server()
        scan = max(self._scan, self._history_max + 1, 1)
        per_stream = -(-scan // len(self.streams))
        newest: list[list[Change]] = []
        position: list[EntryKey] = []
        floors: list[EntryKey] = []
        for index, stream in enumerate(self.streams):
            entries = await self._redis.xrevrange(stream, "+", "-", count=per_stream)
            changes = [
                change
                for entry_id, fields in reversed(entries)
                if (change := to_change(entry_id, fields, index)) is not None
            ]
            newest.append(changes)
            position.append(entry_key(entries[0][0]) if entries else START)
            # Fewer than asked: the stream holds nothing older (so a client at
            # START, or at or past the first entry, is served in full).
            floors.append(
                entry_key(entries[-1][0])
                if len(entries) == per_stream
                else (START if not entries else _before(entry_key(entries[-1][0])))
            )
        merged = list(heapq.merge(*newest, key=lambda change: change.key))
        seen: set[str] = set()
        kills: list[Change] = []
        for change in reversed(merged):
            if change.uri not in seen:
                seen.add(change.uri)
                if change.is_kill:
                    kills.append(change)
        for change in reversed(kills):
            self.tombstones.apply(change)
        # The history: the newest entries, positions counted from the floors.
        kept = merged[len(merged) - self._history_max :] if self._history_max else []
        running = list(floors)
        for change in merged[: len(merged) - len(kept)]:
            running[change.partition] = change.key
        self._floor = list(running)
        self._history.clear()
        for change in kept:
            running[change.partition] = change.key
            change.position = tuple(running)
            self._history.append(change)
        self.position = position
        log.info(
            "tailing %s after %s (%d recent kills)",
            ", ".join(self.streams),
            self.last_id,
            len(kills),
        )

    async def run(self) -> None:
        """Follow the streams until `stop`; Redis outages are waited out, other errors raise.

        It stops between reads rather than by cancellation: redis-py (8.1) can
        swallow a cancellation that lands just after a command was sent and
        then wait for a reply forever."""
        failing = False
        while not self._stopping.is_set():
            self._check_stop()
            try:
                if self.position is None:
                    await self.prime()
                elif failing:
                    await self._after_outage()
                read = await self._read()
                await self._check_server()
            except (*UNAVAILABLE, OSError) as error:
                if not failing:
                    log.warning("tail waiting for redis: %s", error)
                failing = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._retry_s)
                continue
            if failing:
                log.info("tail reconnected to redis")
                failing = False
            assert self.position is not None
            for stream, entries in read:
                index = self._partition_of[stream]
                for entry_id, fields in entries:
                    change = to_change(entry_id, fields, index)
                    if change is None:
                        self.position[index] = entry_key(entry_id)
                    else:
                        self.dispatch(change)
        self._close_all("server stopping")
        await asyncio.gather(*self._reads.values(), return_exceptions=True)

    async def _read(self) -> list[tuple[str, list[tuple[str, dict[str, str]]]]]:
        """The next entries of the streams, blocking up to `block_ms` for some.

        One XREAD for every stream, except on a Redis Cluster, where the
        partitions' streams live in different slots and one command cannot span
        them: there each stream has its own XREAD in flight, and whichever answers
        first is taken; the others stay in flight (never cancelled) for the next
        call. A stream's position moves only when its entries are dispatched, so a
        read lost to an error is simply read again."""
        assert self.position is not None
        if len(self.streams) == 1 or not cluster_mode(self._redis):
            at = zip(self.streams, self.position, strict=True)
            reply = await self._redis.xread(
                {stream: f"{ms}-{seq}" for stream, (ms, seq) in at},
                count=self._count,
                block=self._block_ms,
            )
            return _entries(reply)
        for stream, (ms, seq) in zip(self.streams, self.position, strict=True):
            if stream not in self._reads:
                self._reads[stream] = asyncio.ensure_future(
                    self._redis.xread(
                        {stream: f"{ms}-{seq}"}, count=self._count, block=self._block_ms
                    )
                )
        done, _ = await asyncio.wait(self._reads.values(), return_when=asyncio.FIRST_COMPLETED)
        out: list[tuple[str, list[tuple[str, dict[str, str]]]]] = []
        failed: BaseException | None = None
        for stream, task in list(self._reads.items()):
            if task in done:
                del self._reads[stream]
                if task.exception() is not None:
                    failed = failed or task.exception()
                else:
                    out += _entries(task.result())
        if failed is not None:
            raise failed
        return out

    def stop(self) -> None:
        """End `run` after the read in progress (at most `block_ms`); close every stream."""
        self._stopping.set()
        self._close_all("server stopping")

    async def _after_outage(self) -> None:
        # Events may have been missed while Redis was away: drop cached pages.
        self._invalidate(None)
        await self._check_server()

    async def _check_server(self) -> None:
        """Notice a Redis restart (a new run id; the client's retries hide it from
        the reads) and look for entries it lost (restarted empty, or from an older
        file). Called before entries read are dispatched, so what the tail has
        dispatched is all from before the restart. On a Redis Cluster: not done."""
        if cluster_mode(self._redis):
            return
        run_id = str((await self._redis.info("server")).get("run_id", ""))
        if self._server_id is None or run_id == self._server_id:
            self._server_id = run_id
            return
        self._server_id = run_id
        log.warning("redis restarted; looking for entries it lost")
        self._invalidate(None)
        await self._find_lost()

    async def _find_lost(self) -> None:
        """Entries the tail dispatched that Redis no longer holds: the ones after
        the newest entry it still has at or below the tail's position. Clients
        told of them must reload: every stream is ended, and a client coming back
        with a position naming a lost entry is sent `reset` (see `backlog`). The
        tail reads on from where it was: what Redis holds up to there was
        dispatched already."""
        assert self.position is not None
        lost = False
        for index, stream in enumerate(self.streams):
            at = self.position[index]
            if at == START:
                continue
            held = await self._redis.xrevrange(stream, f"{at[0]}-{at[1]}", "-", count=1)
            have = entry_key(held[0][0]) if held else START
            if have < at:
                log.warning(
                    "%s lost its entries after %s up to %s; live clients are sent to reload",
                    stream,
                    format_position((have,)),
                    format_position((at,)),
                )
                ranges = self._lost[index]
                ranges.append((have, at))
                del ranges[:-LOST_RANGES_KEPT]
                lost = True
        if lost:
            self._history.clear()
            self._floor = list(self.position)
            for close in self.closers:
                close("redis lost events; reconnect")

    def names_lost(self, position: Position) -> bool:
        """Whether `position` names an entry Redis lost while this tail ran."""
        return any(
            low < position[index] <= high
            for index, ranges in enumerate(self._lost)
            for low, high in ranges
        )

    def _check_stop(self) -> None:
        if not self.closing and self._should_stop():
            self._close_all("server stopping")

    def _close_all(self, reason: str) -> None:
        self.closing = True
        for close in self.closers:
            close(reason)

    def dispatch(self, change: Change) -> None:
        assert self.position is not None
        self.events += 1
        self.position[change.partition] = change.key
        change.position = tuple(self.position)
        self.tombstones.apply(change)
        self._invalidate(change.touched)
        if self._history_max:
            self._history.append(change)
            if len(self._history) > self._history_max:
                dropped = self._history.popleft()
                self._floor[dropped.partition] = dropped.key
        for listener in self.listeners:
            listener(change)

    async def backlog(self, after: Position, limit: int) -> list[Change] | None:
        """What came after position `after`, oldest first; None when that cannot be
        given in full (more than `limit` entries, a position of another partitioning,
        one the streams no longer hold, or one naming entries Redis lost). `()` is
        the start of every stream."""
        n = len(self.streams)
        if not after:
            after = (START,) * n
        if len(after) != n or self.position is None or self.names_lost(after):
            return None
        if any(after[i] > self.position[i] for i in range(n)):
            # Ahead of this tail: another replica's, or from before Redis lost the stream.
            for index, stream in enumerate(self.streams):
                newest = await self._redis.xrevrange(stream, "+", "-", count=1)
                if (entry_key(newest[0][0]) if newest else START) < after[index]:
                    return None
        if all(after[i] >= self._floor[i] for i in range(n)):
            missed = _after(self._history, after)
            return None if len(missed) > limit else missed
        return await self._from_streams(after, limit)

    async def _from_streams(self, after: Position, limit: int) -> list[Change] | None:
        read: list[list[Change]] = []
        total = 0
        for index, stream in enumerate(self.streams):
            since = after[index]
            first = await self._redis.xrange(stream, "-", "+", count=1)
            if first and entry_key(first[0][0]) > since and since != START:
                return None  # trimmed past it
            entries = await self._redis.xrange(
                stream, f"({since[0]}-{since[1]}", "+", count=limit + 1
            )
            total += len(entries)
            if total > limit:
                return None
            changes = [to_change(entry_id, fields, index) for entry_id, fields in entries]
            read.append([change for change in changes if change is not None and change.decodes()])
        running = list(after)
        out = list(heapq.merge(*read, key=lambda change: change.key))
        for change in out:
            running[change.partition] = change.key
            change.position = tuple(running)
        return out


def _before(key: EntryKey) -> EntryKey:
    """The greatest entry key below `key`."""
    ms, seq = key
    return (ms, seq - 1) if seq else (max(ms - 1, 0), 2**64 - 1 if ms else 0)


def _after(history: Iterable[Change], after: Position) -> list[Change]:
    """The changes of `history` past `after` in their own partition, oldest first.
    Scans from the newest back, and stops once every partition is behind `after`."""
    out: list[Change] = []
    behind: set[int] = set()
    n = len(after)
    for change in reversed(history if isinstance(history, deque) else list(history)):
        if change.key > after[change.partition]:
            out.append(change)
        else:
            behind.add(change.partition)
            if len(behind) == n:
                break
    out.reverse()
    return out
