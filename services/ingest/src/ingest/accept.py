"""Accepting a submission: identity, dedup and the append, as one atomic step.

Per item, ingest keeps `ingest:{<tag>}:item:<uri>` (a hash of
version, material hash, firstcreated, pubstatus, and per feed source
`seen:<source>`: the material hash that source last gave). A Lua script
checks that the version is still the one we read, bumps it and appends the
event to news.ingested in one go, so an accepted submission is always on the
stream (the API answers only after this) and a crash can never leave a bumped
version without its event. The key carries the hash tag of the item's
partition (shared.partitions), so it shares a Cluster slot with the partition
of news.ingested the script appends to.

API submissions and feed entries both come through here; a feed entry has an
`Origin` with `feed=True`, which changes two things:

- a killed item (pubstatus canceled) is a tombstone: the feed that still
  lists it never brings it back (only an editor, through the API, can);
- an entry is unchanged when it matches the item's current content *or* the
  content this source last gave, so an editor's later edit is not undone by
  every poll of a feed that still carries the older text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import redis.asyncio as aioredis
from pydantic import HttpUrl
from redis.exceptions import ConnectionError as RedisConnectionError
from shared.delivery.trimming import Trimmer
from shared.events import EventType, encode, make_event
from shared.items import utcnow
from shared.partitions import Partitions
from shared.replicated import NotReplicated, ReplicatedWrites, ScriptCall
from shared.streams import INGESTED

from ingest.identity import Identity, IdentityIndex, canonical_url, link_identity
from ingest.submission import Submission, material_hash, new_uri, to_item

SOURCE = "/newsfeed/ingest"
MAX_ATTEMPTS = 8
CANCELED = "canceled"

# KEYS: item state, stream. ARGV: expected version, hash, firstcreated,
# pubstatus, the origin's seen field ('' for none), '1' if a tombstone stops
# it, event fields...
_ACCEPT = """
if ARGV[6] == '1' and redis.call('HGET', KEYS[1], 'status') == 'canceled' then
  return {'tombstoned', ''}
end
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if current ~= tonumber(ARGV[1]) then
  return {'conflict', tostring(current)}
end
redis.call('HSET', KEYS[1], 'version', current + 1, 'hash', ARGV[2], 'firstcreated', ARGV[3],
  'status', ARGV[4])
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[5], ARGV[2])
end
local entry = redis.call('XADD', KEYS[2], '*', unpack(ARGV, 7))
return {'accepted', entry}
"""


@dataclass(frozen=True)
class Origin:
    """Where a submission comes from: the item's `source`, and whether it is a
    feed poll (tombstones hold, per-source change detection) or an editor."""

    source: str = "api"
    feed: bool = False

    @property
    def seen_field(self) -> str:
        return f"seen:{self.source}" if self.feed else ""


API = Origin()


# Before partitions every item's state sat in the one slot of news.ingested.
LEGACY_STATE_PREFIX = f"ingest:{{{INGESTED}}}:item:"


async def move_legacy_states(redis: aioredis.Redis, partitions: Partitions) -> int:
    """Move item states of the single-slot layout to their partition's keys
    (once, at start; a state already at its new key is kept), so an item
    submitted again after the upgrade continues from its version instead of
    starting over at 1 (which publication would take for a stale version).
    That layout only ever ran on one Redis, where RENAME crosses slots."""
    moved = 0
    async for old in redis.scan_iter(match=f"{LEGACY_STATE_PREFIX}*", count=1000):
        uri = old.removeprefix(LEGACY_STATE_PREFIX)
        moved += int(await redis.renamenx(old, state_key(partitions, uri)))
    return moved


def state_key(partitions: Partitions, uri: str) -> str:
    # The tag first: a uri may hold braces of its own.
    return f"ingest:{{{partitions.tags[partitions.of(uri)]}}}:item:{uri}"


def replication_marker(partitions: Partitions, uri: str) -> str:
    """The key an unchanged resubmission writes before its WAIT (in the item's
    slot, so on the primary that holds the item's state)."""
    return f"ingest:{{{partitions.tags[partitions.of(uri)]}}}:replicated"


@dataclass(frozen=True)
class Accepted:
    uri: str
    version: int
    changed: bool
    entry_id: str | None = None
    tombstoned: bool = False
    # A feed entry unchanged from the item but new from this source: remember it.
    record_seen: bool = False


__all__ = ["NotReplicated"]  # answered 503 with Retry-After, as an Unconfirmed write


class TooMuchContention(RuntimeError):
    """The same item was updated concurrently so often that we gave up."""


class Acceptor:
    def __init__(
        self,
        redis: aioredis.Redis,
        partitions: Partitions,
        trimmer: Trimmer | None = None,
        *,
        prepared: bool = True,
        ack_replicas: int = 0,
        ack_timeout_ms: int = 1000,
    ) -> None:
        self._redis = redis
        self._partitions = partitions
        # With ack_replicas, 202 only once WAIT saw the replicas take the write
        # (on a cluster, on the connection to the primary of the item's slot).
        self._writes = ReplicatedWrites(redis, ack_replicas, ack_timeout_ms)
        # Until the service checked the partition count and made the groups,
        # nothing is accepted (answered 503 like any moment without storage).
        self.prepared = prepared
        self._trimmer = trimmer
        self._accept = redis.register_script(_ACCEPT)
        self._identities = IdentityIndex(redis)

    async def resolve(self, identity: Identity) -> str:
        """The uri a feed entry's identity names (bound or minted now)."""
        return await self._identities.resolve(identity)

    async def uri_of(self, submission: Submission, identity: Identity | None) -> str:
        """The item's uri: a feed entry's identity, else the submitted uri (and
        its link is bound to it), else the one its canonical link names."""
        if identity is not None:
            return await self._identities.resolve(identity)
        canonical = canonical_url(str(submission.link)) if submission.link else None
        if submission.uri:
            if canonical:
                await self._identities.bind(link_identity(canonical).keys, submission.uri)
            return submission.uri
        if canonical:
            return await self._identities.resolve(link_identity(canonical))
        return new_uri()

    async def accept(
        self,
        submission: Submission,
        traceid: str,
        origin: Origin = API,
        identity: Identity | None = None,
        uri: str | None = None,
    ) -> Accepted:
        """`uri`: the item's, when the caller already resolved its identity."""
        self._check_prepared()
        submission = with_canonical_link(submission)
        if uri is None:
            uri = await self.uri_of(submission, identity)
        digest = material_hash(submission)
        for _ in range(MAX_ATTEMPTS):
            state = await self._redis.hgetall(state_key(self._partitions, uri))
            step = next_step(self._partitions, submission, uri, digest, state, origin, traceid)
            if isinstance(step, Accepted):
                if step.record_seen:
                    await self._redis.hset(
                        state_key(self._partitions, uri), origin.seen_field, digest
                    )
                await self._confirm_earlier_writes([uri])
                return step
            [outcome] = await self._write([step])
            accepted = step.outcome(outcome)
            if accepted is not None:
                await self._trim([uri])
                return accepted
        raise TooMuchContention(f"item {uri} changed concurrently {MAX_ATTEMPTS} times")

    async def accept_many(
        self, submissions: Sequence[tuple[Submission, str]]
    ) -> list[Accepted | TooMuchContention]:
        """Accept editors' submissions (submission, traceid) in order, in two
        pipelined round trips: every item's state, then every append. An item
        whose state moved in between (another writer, or the same uri twice in
        the batch) goes through `accept` on its own, after the others, so a
        later submission of a uri still lands after an earlier one."""
        self._check_prepared()
        prepared = [(with_canonical_link(sub), traceid) for sub, traceid in submissions]
        uris = [await self.uri_of(sub, None) for sub, _ in prepared]
        async with self._redis.pipeline(transaction=False) as pipe:
            for uri in uris:
                pipe.hgetall(state_key(self._partitions, uri))
            states = await pipe.execute()
        results: list[Accepted | TooMuchContention | None] = [None] * len(prepared)
        steps: list[tuple[int, AcceptCall]] = []
        for index, ((sub, traceid), uri, state) in enumerate(
            zip(prepared, uris, states, strict=True)
        ):
            step = next_step(self._partitions, sub, uri, material_hash(sub), state, API, traceid)
            if isinstance(step, Accepted):
                results[index] = step
            else:
                steps.append((index, step))
        if unchanged := [
            uri for uri, result in zip(uris, results, strict=True) if result is not None
        ]:
            await self._confirm_earlier_writes(unchanged)
        if steps:
            outcomes = await self._write([step for _, step in steps])
            for (index, step), outcome in zip(steps, outcomes, strict=True):
                results[index] = step.outcome(outcome)
            await self._trim([step.uri for _, step in steps])
        for index, result in enumerate(results):
            if result is None:  # the state moved: retry this one alone
                sub, traceid = prepared[index]
                try:
                    results[index] = await self.accept(sub, traceid)
                except TooMuchContention as error:
                    results[index] = error
        return [result for result in results if result is not None]

    async def _write(self, steps: Sequence[AcceptCall]) -> list[list[object]]:
        """Run the accept script for each step (one round trip per primary);
        with `ack_replicas`, WAIT behind them on the same connection
        (NotReplicated or Unconfirmed short of that: the API answers 503)."""
        calls = [ScriptCall(self._accept, step.keys, step.args) for step in steps]
        return await self._writes.run(calls)

    async def _confirm_earlier_writes(self, uris: Sequence[str]) -> None:
        """An unchanged resubmission is answered 202 only once the write that
        made the item's state is on the replicas too (it may be the one a 503
        answered): a marker written in each item's slot moves the connection
        to the primary's current replication offset, and WAIT waits for the
        replicas to reach it."""
        await self._writes.confirm([replication_marker(self._partitions, uri) for uri in uris])

    def _check_prepared(self) -> None:
        if not self.prepared:
            raise RedisConnectionError("ingest is starting: the streams are not prepared yet")

    async def _trim(self, uris: Sequence[str]) -> None:
        """Trim the partitions of news.ingested these uris were appended to."""
        if self._trimmer is not None:
            for partition in sorted({self._partitions.of(uri) for uri in uris}):
                await self._trimmer.maybe_trim(self._partitions.key(INGESTED, partition))


@dataclass(frozen=True)
class AcceptCall:
    """One run of the accept script: append version `current + 1` if the item
    is still at `current`."""

    uri: str
    current: int
    keys: list[str]
    args: list[str | int]

    def outcome(self, reply: list[object]) -> Accepted | None:
        """What the script's reply means; None when the state moved (retry)."""
        outcome, detail = reply
        if outcome == "tombstoned":
            return Accepted(self.uri, self.current, changed=False, tombstoned=True)
        if outcome == "accepted":
            return Accepted(self.uri, self.current + 1, changed=True, entry_id=str(detail))
        return None


def next_step(
    partitions: Partitions,
    submission: Submission,
    uri: str,
    digest: str,
    state: dict[str, str],
    origin: Origin,
    traceid: str,
) -> Accepted | AcceptCall:
    """Given the item's stored state: the submission is unchanged or stopped by
    a tombstone (Accepted), or the accept script should append it (AcceptCall)."""
    seen = origin.seen_field
    current = int(state.get("version", 0))
    if origin.feed and state.get("status") == CANCELED:
        return Accepted(uri, current, changed=False, tombstoned=True)
    if current and digest in (state.get("hash"), state.get(seen or "hash")):
        record = bool(seen) and state.get(seen) != digest
        return Accepted(uri, current, changed=False, record_seen=record)
    now = utcnow()
    firstcreated = (
        datetime.fromisoformat(state["firstcreated"])
        if "firstcreated" in state
        else submission.firstcreated or now
    )
    item = to_item(
        submission,
        uri=uri,
        version=current + 1,
        firstcreated=firstcreated,
        now=now,
        source=origin.source,
    )
    fields = encode(make_event(EventType.ingested, SOURCE, item, traceid, now))
    return AcceptCall(
        uri,
        current,
        keys=[state_key(partitions, uri), partitions.key_for(INGESTED, uri)],
        args=[
            current,
            digest,
            firstcreated.isoformat(),
            submission.pubstatus.value,
            seen,
            "1" if origin.feed else "0",
            *_flatten(fields),
        ],
    )


def with_canonical_link(submission: Submission) -> Submission:
    """The submission with its link in canonical form (the item's `link` is the
    story's canonical URL), or with none if it is not an http(s) URL."""
    if submission.link is None:
        return submission
    canonical = canonical_url(str(submission.link))
    if canonical == str(submission.link):
        return submission
    return submission.model_copy(update={"link": HttpUrl(canonical) if canonical else None})


def _flatten(fields: dict[str, str]) -> list[str]:
    return [part for pair in fields.items() for part in pair]
