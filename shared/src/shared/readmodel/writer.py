"""Publication's only way to change what readers see.

Publication reads what is stored for an item (`load`), decides a `Plan` with
a plain function, and `apply`s it. `apply` is one Lua script that checks the
stored version is still the one read (compare-and-set), then moves the item
between feed sets, keeps the previous version in its history, stores the
document and appends the event to news.published, all at once: a reader
never sees an index entry without its document, and a crash never leaves an
effect without its event or the other way round. Every key one call touches
is in the item's partition (keys.py), so on a Redis Cluster it is one slot.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import partial
from typing import Any

import orjson
from redis.commands.core import AsyncScript

from shared.events import Event, EventType, encode, encode_for_redis
from shared.items import NewsItem
from shared.readmodel.feeds import FIELD as FEEDS_FIELD
from shared.readmodel.feeds import feeds_field
from shared.readmodel.keys import (
    FEED_ALL,
    ReadModelKeys,
    facet_keys,
    feed_member,
    member_prefix,
    member_uri,
)
from shared.redis_client import Client, cluster_mode
from shared.streams import PUBLISHED


class StoredStatus(StrEnum):
    usable = "usable"  # visible in the feed
    embargoed = "embargoed"  # stored, invisible until its release time
    withheld = "withheld"
    canceled = "canceled"  # killed: kept as a tombstone, the document answers 410
    retired = "retired"  # aged out of the feed by retention


@dataclass(frozen=True)
class Stored:
    """What the read model holds for one uri."""

    version: int
    status: StoredStatus
    member: str | None
    indexes: tuple[str, ...]
    traceid: str
    doc: NewsItem | None


@dataclass(frozen=True)
class Plan:
    """What to store for an incoming version, decided by publication."""

    item: NewsItem
    status: StoredStatus
    member: str
    indexes: tuple[str, ...]
    embargo_until: datetime | None
    event: EventType | None


class ApplyOutcome(StrEnum):
    applied = "applied"
    conflict = "conflict"  # the item changed since it was loaded: load and decide again


@dataclass(frozen=True)
class Applied:
    outcome: ApplyOutcome
    detail: str


# One call applies a batch of items of one partition, all keys in its slot.
# KEYS: the partition's embargo set and news.published stream (HEAD_KEYS), then
#       per item: state, item, versions, old feed sets..., new feed sets...
# ARGV: number of items, history cap, kill-doc ttl ms, then per item:
#       #old, #new, #event field values, expected version, version, status, doc,
#       member, old member, embargo ms (-1: leave the embargo set, 0: not in
#       it), uri, event type ('' for none),
#       traceid, then the event's fields but `type` and `data`: the entry is
#       written `type`, `data` (the document: it is sent once) first, then
#       these, unpacked straight from ARGV.
# Returns one {outcome, detail} per item, in order. Each item is checked on
# its own (compare-and-set on its version): a conflict skips that item only.
# To do more in the same step (an XACK of the entries the batch came from, in
# the same partition's input stream), add its keys after HEAD_KEYS and its
# arguments after ARGV[3], and move `k` and `a` on accordingly.
# The state keeps no list of the item's feed sets (they follow from its
# document: facet_keys); HDEL drops the one a state written before kept.
_APPLY = """
local HEAD_KEYS, HEAD_ARGS, ITEM_ARGS = 2, 3, 13
local embargo, stream = KEYS[1], KEYS[2]
local n_items, cap, kill_ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local k, a = HEAD_KEYS + 1, HEAD_ARGS + 1
local results = {}
for n = 1, n_items do
  local n_old, n_new, n_fields = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local state, item, versions = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  local version, status, doc = ARGV[a + 4], ARGV[a + 5], ARGV[a + 6]
  local member, old_member, embargo_ms = ARGV[a + 7], ARGV[a + 8], tonumber(ARGV[a + 9])
  local uri, event_type, traceid = ARGV[a + 10], ARGV[a + 11], ARGV[a + 12]
  local current = tonumber(redis.call('HGET', state, 'version') or '0')
  if current ~= tonumber(ARGV[a + 3]) then
    results[n] = {'conflict', tostring(current)}
  else
    -- Version 0: no state, so no document either (this script writes both).
    -- A version is kept in the history when another replaces it, not when
    -- the same version is stored again (a refinement: enrichment's second pass).
    local previous = current > 0 and cap > 0 and current ~= tonumber(version)
      and redis.call('GET', item)
    if previous then
      redis.call('LPUSH', versions, previous)
      redis.call('LTRIM', versions, 0, cap - 1)
    end
    if old_member ~= '' then
      for i = 1, n_old do redis.call('ZREM', KEYS[k + 2 + i], old_member) end
    end
    for i = 1, n_new do redis.call('ZADD', KEYS[k + 2 + n_old + i], 0, member) end
    if embargo_ms > 0 then
      redis.call('ZADD', embargo, embargo_ms, uri)
    elseif embargo_ms < 0 then
      redis.call('ZREM', embargo, uri)
    end
    redis.call('SET', item, doc)
    if status == 'canceled' and kill_ttl > 0 then
      redis.call('PEXPIRE', item, kill_ttl)
      redis.call('PEXPIRE', versions, kill_ttl)
    end
    redis.call('HSET', state, 'version', version, 'status', status, 'member', member,
      'traceid', traceid)
    redis.call('HDEL', state, 'indexes')
    if event_type ~= '' then
      redis.call('XADD', stream, '*', 'type', event_type, 'data', doc,
        unpack(ARGV, a + ITEM_ARGS, a + ITEM_ARGS + n_fields - 1))
    end
    results[n] = {'applied', event_type}
  end
  k = k + 3 + n_old + n_new
  a = a + ITEM_ARGS + n_fields
end
return results
"""

# KEYS: each item's state and document keys, in pairs (all in one partition).
# Returns per item its state's fields and values, then its document (nil when
# it has no state: a document without a state is never read). One call per
# partition instead of two pipelined commands per item: redis-py spends about
# 10 us of publication's CPU on each reply it parses (an asyncio timeout, a
# response callback), the script's one reply is parsed in C (hiredis).
_LOAD = """
local out = {}
for i = 1, #KEYS, 2 do
  local state = redis.call('HGETALL', KEYS[i])
  out[#out + 1] = state
  out[#out + 1] = #state > 0 and redis.call('GET', KEYS[i + 1]) or false
end
return out
"""

# KEYS: state, embargo, stream, indexes...  ARGV: uri, version, member,
# then event fields without `type`. ZREM decides who releases: exactly one caller.
_RELEASE = """
if tonumber(redis.call('HGET', KEYS[1], 'version') or '0') ~= tonumber(ARGV[2]) then
  return 0
end
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then
  return 0
end
for i = 4, #KEYS do redis.call('ZADD', KEYS[i], 0, ARGV[3]) end
redis.call('HSET', KEYS[1], 'status', 'usable', 'member', ARGV[3])
redis.call('HDEL', KEYS[1], 'indexes')
local fields = {'type', 'org.newsfeed.item.released'}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XADD', KEYS[3], '*', unpack(fields))
return 1
"""

# KEYS: state, item, versions, indexes...  ARGV: member. A member whose state
# says otherwise is a dangling entry: it leaves the indexes, nothing else changes.
_RETIRE = """
for i = 4, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
if redis.call('HGET', KEYS[1], 'member') ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'status', 'retired')
redis.call('HDEL', KEYS[1], 'indexes')
return 1
"""


def feed_sets_of(status: StoredStatus, doc: NewsItem | None, listed: str | None) -> tuple[str, ...]:
    """The feed sets a stored item is in: those of its document while it is visible.

    `listed` is the `indexes` field that states written before this rule kept
    (the sets then, by the rule then): trusted while it is there, so an item
    stored under an older rule leaves exactly the sets it was put in."""
    if listed is not None:
        return tuple(orjson.loads(listed))
    if status is StoredStatus.usable and doc is not None:
        return facet_keys(doc)
    return ()


def _stored(fields: list[str], doc: str | None) -> Stored | None:
    """What the load script read for one item: its state's fields and values, flat."""
    if not fields:
        return None
    state = dict(zip(fields[::2], fields[1::2], strict=True))
    status = StoredStatus(state["status"])
    item = NewsItem.model_validate_json(doc) if doc else None
    return Stored(
        version=int(state["version"]),
        status=status,
        member=state.get("member") or None,
        indexes=feed_sets_of(status, item, state.get("indexes")),
        traceid=state.get("traceid", ""),
        doc=item,
    )


def _visible(stored: Stored | None) -> NewsItem | None:
    """The stored document while it is in the feeds, else None."""
    if stored is None or stored.status is not StoredStatus.usable:
        return None
    return stored.doc


def _visible_plan(plan: Plan) -> NewsItem | None:
    return plan.item if plan.status is StoredStatus.usable else None


def _embargo_arg(plan: Plan, previous: Stored | None) -> int:
    """The apply script's embargo argument: the release time in ms, or -1 to
    leave the embargo set, or 0 when the item is not in it. Only an embargoed
    state is in the set (apply puts it there with that status; release and
    apply take it out as they change the status, and the version check holds
    the status read), so a ZREM per item (a tenth of the script's calls) is
    needed only for one."""
    if plan.embargo_until is not None:
        return int(plan.embargo_until.timestamp() * 1000)
    return -1 if previous is not None and previous.status is StoredStatus.embargoed else 0


def _event_args(event: Event) -> list[str]:
    fields = encode(event)
    del fields["type"]
    return [part for pair in fields.items() for part in pair]


def document_and_event_args(plan: Plan, event: Event) -> tuple[str | bytes, list[str | bytes]]:
    """The plan's document, and the event's fields for the apply script.

    The event carries the plan's item, whose JSON is the document: it is
    serialized once (by `encode_for_redis`) and sent once: the script writes
    it as the entry's `data`. No event type, no event: nothing but the document."""
    if plan.event is None:
        return plan.item.model_dump_json(exclude_none=True), []
    if event.data is not plan.item and event.data != plan.item:
        raise ValueError(f"the event for {plan.item.uri} does not carry the plan's item")
    fields = encode_for_redis(event)
    del fields["type"]
    document = fields.pop("data")
    return document, [part for pair in fields.items() for part in pair]


class ReadModelWriter:
    """Publication's writes, each in the slot of the item's partition.

    An item's events go to its partition of news.published
    (Partitions.key(PUBLISHED, p)), in the same slot as its documents."""

    def __init__(
        self,
        redis: Client,
        *,
        keys: ReadModelKeys | None = None,
        history_cap: int = 20,
        kill_doc_ttl_ms: int = 0,
    ) -> None:
        self._redis = redis
        self.keys = keys or ReadModelKeys()
        self._stream = partial(self.keys.partitions.key, PUBLISHED)
        self._history_cap = history_cap
        self._kill_doc_ttl_ms = kill_doc_ttl_ms
        self._load = redis.register_script(_LOAD)
        self._apply = redis.register_script(_APPLY)
        self._release = redis.register_script(_RELEASE)
        self._retire = redis.register_script(_RETIRE)

    async def load(self, uri: str) -> Stored | None:
        return (await self.load_many([uri]))[0]

    async def load_many(self, uris: Sequence[str]) -> list[Stored | None]:
        """What is stored for each uri: one script call per partition, all in one
        round trip on one Redis (concurrently on a cluster)."""
        batches = self._by_partition(uris)
        calls: list[tuple[list[str], list[str | bytes | int]]] = [
            (
                [
                    key
                    for i in positions
                    for key in self.keys.item_keys(uris[i], partition)[:2]  # state, document
                ],
                [],
            )
            for partition, positions in batches.items()
        ]
        results: list[Stored | None] = [None] * len(uris)
        for positions, reply in zip(
            batches.values(), await self._run(self._load, calls), strict=True
        ):
            for position, fields, doc in zip(positions, reply[::2], reply[1::2], strict=True):
                results[position] = _stored(fields, doc)
        return results

    async def apply(self, plan: Plan, previous: Stored | None, event: Event) -> Applied:
        """Store `plan` if the item is still at `previous`'s version; emit `event`
        (with the plan's event type) in the same step."""
        return (await self.apply_many([(plan, previous, event)]))[0]

    async def apply_many(
        self, changes: Sequence[tuple[Plan, Stored | None, Event]]
    ) -> list[Applied]:
        """`apply` for several items (each uri at most once): one script call per
        partition, all of them in one round trip on one Redis and concurrently
        on a cluster (redis-py's cluster pipeline refuses EVALSHA)."""
        batches = self._by_partition([plan.item.uri for plan, _, _ in changes])
        calls = [
            self._apply_call(partition, [changes[i] for i in positions])
            for partition, positions in batches.items()
        ]
        replies = await self._run(self._apply, calls)
        results: list[Applied | None] = [None] * len(changes)
        for positions, reply in zip(batches.values(), replies, strict=True):
            for position, (outcome, detail) in zip(positions, reply, strict=True):
                results[position] = Applied(ApplyOutcome(outcome), str(detail))
        return [result for result in results if result is not None]

    def _by_partition(self, uris: Sequence[str]) -> dict[int, list[int]]:
        """The positions of `uris` by partition, in order."""
        batches: dict[int, list[int]] = {}
        for position, uri in enumerate(uris):
            batches.setdefault(self.keys.partition(uri), []).append(position)
        return batches

    async def _run(
        self, script: AsyncScript, calls: Sequence[tuple[list[str], list[str | bytes | int]]]
    ) -> list[Any]:
        """Each (keys, args) call of `script`, whose keys share a slot: in one round
        trip on one Redis, concurrently on a cluster (redis-py's cluster pipeline
        refuses EVALSHA)."""
        if cluster_mode(self._redis):
            return list(await asyncio.gather(*(script(keys=k, args=a) for k, a in calls)))
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                # On a pipeline this only queues the EVALSHA (loaded at execute).
                await script(keys=keys, args=args, client=pipe)
            return list(await pipe.execute())

    def _apply_call(
        self, partition: int, changes: Sequence[tuple[Plan, Stored | None, Event]]
    ) -> tuple[list[str], list[str | bytes | int]]:
        """KEYS and ARGV of one call of the apply script (see _APPLY)."""
        keys: list[str] = [self.keys.embargo(partition), self._stream(partition)]
        args: list[str | bytes | int] = [len(changes), self._history_cap, self._kill_doc_ttl_ms]
        for plan, previous, event in changes:
            uri = plan.item.uri
            old_indexes = previous.indexes if previous else ()
            embargo_ms = _embargo_arg(plan, previous)
            document, event_args = document_and_event_args(plan, event)
            if event_args:  # the feed sets before and after, for readers' caches
                event_args += [FEEDS_FIELD, feeds_field(_visible(previous), _visible_plan(plan))]
            keys += [
                *self.keys.item_keys(uri, partition),
                *(self.keys.feed(name, partition) for name in old_indexes),
                *(self.keys.feed(name, partition) for name in plan.indexes),
            ]
            args += [
                len(old_indexes),
                len(plan.indexes),
                len(event_args),
                previous.version if previous else 0,
                plan.item.version,
                plan.status.value,
                document,
                plan.member,
                (previous.member or "") if previous else "",
                embargo_ms,
                uri,
                plan.event.value if plan.event else "",
                event.traceid,
                *event_args,
            ]
        return keys, args

    async def due_for_release(self, now: datetime, limit: int = 100) -> list[str]:
        """Embargoed uris whose time has come, earliest first, from every partition."""
        until = int(now.timestamp() * 1000)
        async with self._redis.pipeline(transaction=False) as pipe:
            for partition in self.keys.partitions.indexes:
                pipe.zrangebyscore(
                    self.keys.embargo(partition), "-inf", until, start=0, num=limit, withscores=True
                )
            replies = await pipe.execute()
        due = heapq.merge(*replies, key=lambda pair: pair[1])
        return [uri for uri, _ in itertools.islice(due, limit)]

    async def release(self, stored: Stored, event: Event) -> bool:
        """Make an embargoed item visible; True for the one caller that did it."""
        assert stored.doc is not None
        item = stored.doc
        partition = self.keys.partition(item.uri)
        release_at = item.embargoed or item.firstcreated
        member = feed_member(release_at, item.uri)
        indexes = [self.keys.feed(name, partition) for name in facet_keys(item)]
        released = await self._release(
            keys=[
                self.keys.state(item.uri),
                self.keys.embargo(partition),
                self._stream(partition),
                *indexes,
            ],
            args=[
                item.uri,
                stored.version,
                member,
                *_event_args(event),
                FEEDS_FIELD,
                feeds_field(None, item),
            ],
        )
        return bool(released)

    async def retire_older_than(self, cutoff: datetime, limit: int = 500) -> int:
        """Retire up to `limit` items first shown before `cutoff`, oldest first."""
        upper = "(" + member_prefix(cutoff)
        return await self._retire_members(await self._oldest(limit, upper))

    async def retire_beyond(self, max_items: int, limit: int = 500) -> int:
        """Retire the oldest items beyond `max_items` (at most `limit` of them)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in self.keys.feeds(FEED_ALL):
                pipe.zcard(key)
            excess = sum(int(count) for count in await pipe.execute()) - max_items
        if excess <= 0:
            return 0
        return await self._retire_members(await self._oldest(min(excess, limit), "+"))

    async def _oldest(self, count: int, upper: str) -> list[str]:
        """The `count` oldest members of `feed:all` below `upper`, over all partitions."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in self.keys.feeds(FEED_ALL):
                pipe.zrange(key, "-", upper, bylex=True, offset=0, num=count)
            replies = await pipe.execute()
        return list(itertools.islice(heapq.merge(*replies), count))

    async def _retire_members(self, members: list[str]) -> int:
        retired = 0
        for member in members:
            uri = member_uri(member)
            partition = self.keys.partition(uri)
            stored = await self.load(uri)
            # feed:all too: a dangling member (no state, or another member) is in it.
            names = dict.fromkeys((FEED_ALL, *(stored.indexes if stored else ())))
            retired += int(
                await self._retire(
                    keys=[
                        self.keys.state(uri),
                        self.keys.item(uri),
                        self.keys.versions(uri),
                        *(self.keys.feed(name, partition) for name in names),
                    ],
                    args=[member],
                )
            )
        return retired
