"""Publication's only way to change what readers see.

Publication reads what is stored for an item (`load`), decides a `Plan` with
a plain function, and `apply`s it. `apply` is one Lua script that checks the
stored version is still the one read (compare-and-set), then moves the item
between feed sets, keeps the previous version in its history, stores the
document and appends the event to news.published, all at once: a reader
never sees an index entry without its document, and a crash never leaves an
effect without its event or the other way round.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import orjson
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from shared.events import Event, EventType, encode
from shared.items import NewsItem
from shared.readmodel.feeds import FIELD as FEEDS_FIELD
from shared.readmodel.feeds import feeds_field
from shared.readmodel.keys import (
    EMBARGO,
    FEED_ALL,
    facet_keys,
    feed_member,
    item_key,
    member_prefix,
    member_uri,
    state_key,
    versions_key,
)
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


# KEYS: state, item, versions, embargo, stream, old indexes..., new indexes...
# ARGV: expected version, version, status, doc, member, old member, #old, #new,
#       history cap, embargo ms (0: none), uri, event type ('' for none),
#       traceid, kill-doc ttl ms, then the event's fields without `type`, where
#       an empty `data` stands for the document (ARGV[4]): it is sent once.
# The state keeps no list of the item's feed sets (they follow from its
# document: facet_keys); HDEL drops the one a state written before kept.
_APPLY = """
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if current ~= tonumber(ARGV[1]) then
  return {'conflict', tostring(current)}
end
local n_old, n_new = tonumber(ARGV[7]), tonumber(ARGV[8])
local previous = redis.call('GET', KEYS[2])
local cap = tonumber(ARGV[9])
if previous and cap > 0 then
  redis.call('LPUSH', KEYS[3], previous)
  redis.call('LTRIM', KEYS[3], 0, cap - 1)
end
if ARGV[6] ~= '' then
  for i = 1, n_old do redis.call('ZREM', KEYS[5 + i], ARGV[6]) end
end
for i = 1, n_new do redis.call('ZADD', KEYS[5 + n_old + i], 0, ARGV[5]) end
if tonumber(ARGV[10]) > 0 then
  redis.call('ZADD', KEYS[4], tonumber(ARGV[10]), ARGV[11])
else
  redis.call('ZREM', KEYS[4], ARGV[11])
end
redis.call('SET', KEYS[2], ARGV[4])
if ARGV[3] == 'canceled' and tonumber(ARGV[14]) > 0 then
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[14]))
  redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[14]))
end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'status', ARGV[3], 'member', ARGV[5],
  'traceid', ARGV[13])
redis.call('HDEL', KEYS[1], 'indexes')
if ARGV[12] ~= '' then
  local fields = {'type', ARGV[12]}
  for i = 15, #ARGV, 2 do
    local value = ARGV[i + 1]
    if ARGV[i] == 'data' and value == '' then value = ARGV[4] end
    fields[#fields + 1] = ARGV[i]
    fields[#fields + 1] = value
  end
  redis.call('XADD', KEYS[5], '*', unpack(fields))
end
return {'applied', ARGV[12]}
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


def _stored(state: dict[str, str], doc: str | None) -> Stored | None:
    if not state:
        return None
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


def _event_args(event: Event) -> list[str]:
    fields = encode(event)
    del fields["type"]
    return [part for pair in fields.items() for part in pair]


def document_and_event_args(plan: Plan, event: Event) -> tuple[str, list[str]]:
    """The plan's document, and the event's fields for the apply script.

    The event carries the plan's item, whose JSON is the document: it is
    serialized once (by `encode`) and sent once, `data` left empty for the
    script to fill in. No event type, no event: nothing but the document."""
    if plan.event is None:
        return plan.item.model_dump_json(exclude_none=True), []
    if event.data is not plan.item and event.data != plan.item:
        raise ValueError(f"the event for {plan.item.uri} does not carry the plan's item")
    fields = encode(event)
    del fields["type"]
    document, fields["data"] = fields["data"], ""
    return document, [part for pair in fields.items() for part in pair]


class ReadModelWriter:
    def __init__(
        self, redis: aioredis.Redis, *, history_cap: int = 20, kill_doc_ttl_ms: int = 0
    ) -> None:
        self._redis = redis
        self._history_cap = history_cap
        self._kill_doc_ttl_ms = kill_doc_ttl_ms
        self._apply = redis.register_script(_APPLY)
        self._release = redis.register_script(_RELEASE)
        self._retire = redis.register_script(_RETIRE)

    async def load(self, uri: str) -> Stored | None:
        return (await self.load_many([uri]))[0]

    async def load_many(self, uris: Sequence[str]) -> list[Stored | None]:
        """What is stored for each uri, in one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for uri in uris:
                pipe.hgetall(state_key(uri))
                pipe.get(item_key(uri))
            replies = await pipe.execute()
        return [_stored(state, doc) for state, doc in zip(replies[::2], replies[1::2], strict=True)]

    async def apply(self, plan: Plan, previous: Stored | None, event: Event) -> Applied:
        """Store `plan` if the item is still at `previous`'s version; emit `event`
        (with the plan's event type) in the same step."""
        return (await self.apply_many([(plan, previous, event)]))[0]

    async def apply_many(
        self, changes: Sequence[tuple[Plan, Stored | None, Event]]
    ) -> list[Applied]:
        """`apply` for several items (each uri at most once) in one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for plan, previous, event in changes:
                await self._queue_apply(pipe, plan, previous, event)
            replies = await pipe.execute()
        return [Applied(ApplyOutcome(outcome), str(detail)) for outcome, detail in replies]

    async def _queue_apply(
        self, pipe: Pipeline, plan: Plan, previous: Stored | None, event: Event
    ) -> None:
        old_indexes = previous.indexes if previous else ()
        embargo_ms = int(plan.embargo_until.timestamp() * 1000) if plan.embargo_until else 0
        document, event_args = document_and_event_args(plan, event)
        if event_args:  # the feed sets before and after, for readers' caches
            event_args += [FEEDS_FIELD, feeds_field(_visible(previous), _visible_plan(plan))]
        # On a pipeline this only queues the EVALSHA (the script is loaded at execute).
        await self._apply(
            client=pipe,
            keys=[
                state_key(plan.item.uri),
                item_key(plan.item.uri),
                versions_key(plan.item.uri),
                EMBARGO,
                PUBLISHED,
                *old_indexes,
                *plan.indexes,
            ],
            args=[
                previous.version if previous else 0,
                plan.item.version,
                plan.status.value,
                document,
                plan.member,
                (previous.member or "") if previous else "",
                len(old_indexes),
                len(plan.indexes),
                self._history_cap,
                embargo_ms,
                plan.item.uri,
                plan.event.value if plan.event else "",
                event.traceid,
                self._kill_doc_ttl_ms,
                *event_args,
            ],
        )

    async def due_for_release(self, now: datetime, limit: int = 100) -> list[str]:
        return list(
            await self._redis.zrangebyscore(
                EMBARGO, "-inf", int(now.timestamp() * 1000), start=0, num=limit
            )
        )

    async def release(self, stored: Stored, event: Event) -> bool:
        """Make an embargoed item visible; True for the one caller that did it."""
        assert stored.doc is not None
        item = stored.doc
        release_at = item.embargoed or item.firstcreated
        member = feed_member(release_at, item.uri)
        indexes = facet_keys(item)
        released = await self._release(
            keys=[state_key(item.uri), EMBARGO, PUBLISHED, *indexes],
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
        members = await self._redis.zrange(
            FEED_ALL, "-", "(" + member_prefix(cutoff), bylex=True, offset=0, num=limit
        )
        return await self._retire_members(members)

    async def retire_beyond(self, max_items: int, limit: int = 500) -> int:
        excess = int(await self._redis.zcard(FEED_ALL)) - max_items
        if excess <= 0:
            return 0
        members = await self._redis.zrange(
            FEED_ALL, "-", "+", bylex=True, offset=0, num=min(excess, limit)
        )
        return await self._retire_members(members)

    async def _retire_members(self, members: list[str]) -> int:
        retired = 0
        for member in members:
            uri = member_uri(member)
            stored = await self.load(uri)
            # feed:all too: a dangling member (no state, or another member) is in it.
            indexes = tuple(dict.fromkeys((FEED_ALL, *(stored.indexes if stored else ()))))
            retired += int(
                await self._retire(
                    keys=[state_key(uri), item_key(uri), versions_key(uri), *indexes],
                    args=[member],
                )
            )
        return retired
