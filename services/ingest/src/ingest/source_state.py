"""The source registry, per-source fetch state, the due schedule and leases, in Redis.

Keys (hash tag `{news.ingested}`, like the item keys, so one Cluster slot):

    ingest:{news.ingested}:sources              hash  id -> {"managed_by", "config"} JSON
    ingest:{news.ingested}:sources:due          zset  id, scored by next due time (epoch ms)
    ingest:{news.ingested}:source:<id>          hash  fetch state (SourceState's fields)
    ingest:{news.ingested}:source:<id>:seen     HyperLogLog of the item uris it gave
    ingest:{news.ingested}:source:<id>:lease    the replica polling it now (SET NX PX, token)

A lease is taken with SET NX PX and a random token and given back by a
compare-and-delete script, so a replica can only release its own lease, and
a replica that dies holding one loses it when it expires.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict
from shared.streams import INGESTED

from ingest.sources import ManagedBy, SourceConfig

PREFIX = f"ingest:{{{INGESTED}}}"
REGISTRY = f"{PREFIX}:sources"
DUE = f"{PREFIX}:sources:due"

# Claim due sources in one step: for each source due by ARGV[1] (earliest
# first, looking at most ARGV[5] deep), take its lease (SET NX PX) and move its
# due time to when the lease ends, until ARGV[3] are claimed. Other replicas
# then read past it at once instead of queueing on its lease; the poll sets
# the real next due time when it ends, and a replica that dies holding a
# claim leaves the source due again when its lease runs out. The lease keys
# are named from ARGV[6] .. id .. ARGV[7]: built here, as only the script
# knows which sources are due; they share KEYS[1]'s hash tag, so its slot.
_CLAIM = """
local now, lease, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local candidates = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[5]))
local claimed = {}
for _, id in ipairs(candidates) do
  if #claimed >= limit then break end
  if redis.call('SET', ARGV[6] .. id .. ARGV[7], ARGV[4], 'NX', 'PX', lease) then
    redis.call('ZADD', KEYS[1], 'XX', now + lease, id)
    claimed[#claimed + 1] = id
  end
end
return claimed
"""
# How far past the first due source a claim looks for ones nobody holds.
CLAIM_SCAN_FACTOR = 4

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def state_key(source_id: str) -> str:
    return f"{PREFIX}:source:{source_id}"


def seen_key(source_id: str) -> str:
    return f"{PREFIX}:source:{source_id}:seen"


def lease_key(source_id: str) -> str:
    return f"{PREFIX}:source:{source_id}:lease"


def epoch_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def from_epoch_ms(value: float) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


class SourceState(BaseModel):
    """What the service knows about fetching one source (all optional: a new
    source has fetched nothing yet)."""

    model_config = ConfigDict(frozen=True)

    last_fetch_at: datetime | None = None
    last_outcome: str | None = None  # ok | not_modified | failed
    last_http_status: int | None = None
    last_error: str | None = None  # why the last fetch failed
    last_warning: str | None = None  # a fetch that worked with a caveat
    last_success_at: datetime | None = None
    last_duration_ms: int | None = None
    last_bytes: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    consecutive_failures: int = 0
    next_due_at: datetime | None = None
    kind: str | None = None
    feed_title: str | None = None
    moved_to: str | None = None  # a permanent redirect the operator may want to adopt
    entries_last_fetch: int | None = None
    new_last_fetch: int | None = None
    updated_last_fetch: int | None = None
    unchanged_last_fetch: int | None = None
    tombstoned_last_fetch: int | None = None
    rejected_last_fetch: int | None = None
    clamped_last_fetch: int | None = None
    last_rejection: str | None = None
    last_clamped: str | None = None
    items_emitted_total: int = 0
    items_seen: int = 0


class StateChange(SourceState):
    """Some fields of a source's state, to write: built with
    `StateChange.model_construct(field=value, ...)`, which names only the
    fields it changes (None deletes one) and which mypy checks against the
    state's fields, names and types."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class Registered:
    config: SourceConfig
    managed_by: ManagedBy


class SourceExists(Exception):
    pass


class TooManySources(Exception):
    pass


def _encode(registered: Registered) -> str:
    return orjson.dumps(
        {"managed_by": registered.managed_by, "config": registered.config.model_dump(mode="json")}
    ).decode()


def _decode(raw: str) -> Registered:
    data = orjson.loads(raw)
    return Registered(SourceConfig.model_validate(data["config"]), data["managed_by"])


def _state_fields(changes: tuple[StateChange, ...]) -> tuple[dict[str, str], list[str]]:
    """(fields to set, fields to delete) of the fields the changes name, a
    later change's over an earlier's: None deletes a field."""
    named = {name: getattr(change, name) for change in changes for name in change.model_fields_set}
    to_set: dict[str, str] = {}
    to_delete: list[str] = []
    for name, value in named.items():
        if value is None:
            to_delete.append(name)
        elif isinstance(value, datetime):
            to_set[name] = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        else:
            to_set[name] = str(value)
    return to_set, to_delete


class SourceStore:
    def __init__(self, redis: aioredis.Redis, max_sources: int = 1000) -> None:
        self.redis = redis
        self.max_sources = max_sources
        self._release = redis.register_script(_RELEASE)
        self._claim = redis.register_script(_CLAIM)

    # -- registry ------------------------------------------------------------------

    async def sources(self) -> list[Registered]:
        raw = await self.redis.hgetall(REGISTRY)
        return [_decode(raw[key]) for key in sorted(raw)]

    async def get(self, source_id: str) -> Registered | None:
        raw = await self.redis.hget(REGISTRY, source_id)
        return _decode(raw) if raw else None

    async def create(self, registered: Registered, now: datetime) -> None:
        if await self.redis.hlen(REGISTRY) >= self.max_sources:
            raise TooManySources(f"the registry holds its maximum of {self.max_sources} sources")
        if not await self.redis.hsetnx(REGISTRY, registered.config.id, _encode(registered)):
            raise SourceExists(f"source {registered.config.id!r} already exists")
        await self._reschedule(registered.config, now)

    async def put(self, registered: Registered, now: datetime) -> None:
        """Create or replace; a changed URL or a re-enabled source is due at once."""
        old = await self.get(registered.config.id)
        await self.redis.hset(REGISTRY, registered.config.id, _encode(registered))
        config = registered.config
        if old is None or old.config.url != config.url or not old.config.enabled:
            await self._reschedule(config, now)
        elif not config.enabled:
            await self.unschedule(config.id)
        if old is not None and old.config.url != config.url:
            # Validators and failures belonged to the old address.
            await self.redis.hdel(
                state_key(config.id), "etag", "last_modified", "consecutive_failures", "moved_to"
            )

    async def delete(self, source_id: str) -> bool:
        removed = bool(await self.redis.hdel(REGISTRY, source_id))
        await self.redis.zrem(DUE, source_id)
        await self.redis.delete(state_key(source_id), seen_key(source_id))
        return removed

    async def sync_file(self, configs: list[SourceConfig], now: datetime) -> list[str]:
        """Make the file-managed sources exactly `configs`; the ids removed."""
        wanted = {config.id for config in configs}
        removed = [
            registered.config.id
            for registered in await self.sources()
            if registered.managed_by == "file" and registered.config.id not in wanted
        ]
        for source_id in removed:
            await self.delete(source_id)
        for config in configs:
            await self.put(Registered(config, "file"), now)
        return removed

    async def _reschedule(self, config: SourceConfig, at: datetime) -> None:
        if config.enabled:
            await self.schedule(config.id, at)
        else:
            await self.unschedule(config.id)

    # -- schedule ------------------------------------------------------------------

    async def schedule(self, source_id: str, at: datetime) -> None:
        await self.redis.zadd(DUE, {source_id: epoch_ms(at)})

    async def ensure_scheduled(self, now: datetime) -> int:
        """Give every enabled source without a due time one (now); how many."""
        enabled = [r.config.id for r in await self.sources() if r.config.enabled]
        if not enabled:
            return 0
        return int(await self.redis.zadd(DUE, dict.fromkeys(enabled, epoch_ms(now)), nx=True))

    async def unschedule(self, source_id: str) -> None:
        await self.redis.zrem(DUE, source_id)

    async def due(self, now: datetime, limit: int) -> list[str]:
        return [
            str(member)
            for member in await self.redis.zrangebyscore(
                DUE, "-inf", epoch_ms(now), start=0, num=limit
            )
        ]

    async def due_at(self, source_id: str) -> datetime | None:
        score = await self.redis.zscore(DUE, source_id)
        return None if score is None else from_epoch_ms(float(score))

    # -- state -----------------------------------------------------------------------

    async def state(self, source_id: str) -> SourceState:
        fields = await self.redis.hgetall(state_key(source_id))
        seen = await self.redis.pfcount(seen_key(source_id))
        return SourceState.model_validate({**fields, "items_seen": seen})

    async def states(self, source_ids: list[str]) -> list[SourceState]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for source_id in source_ids:
                pipe.hgetall(state_key(source_id))
                # One key: fine on a cluster, whose pipeline refuses `pipe.pfcount`
                # by name only because a PFCOUNT of several keys may span slots.
                pipe.execute_command("PFCOUNT", seen_key(source_id))
            replies = await pipe.execute()
        return [
            SourceState.model_validate({**fields, "items_seen": seen})
            for fields, seen in zip(replies[::2], replies[1::2], strict=True)
        ]

    async def record(self, source_id: str, *changes: StateChange) -> None:
        """Write the fields the changes name, a later change's over an earlier's;
        the others stay as they are."""
        to_set, to_delete = _state_fields(changes)
        async with self.redis.pipeline(transaction=True) as pipe:
            if to_set:
                pipe.hset(state_key(source_id), mapping=to_set)
            if to_delete:
                pipe.hdel(state_key(source_id), *to_delete)
            await pipe.execute()

    async def count_emitted(self, source_id: str, emitted: int) -> None:
        if emitted:
            await self.redis.hincrby(state_key(source_id), "items_emitted_total", emitted)

    async def saw(self, source_id: str, uris: list[str]) -> None:
        if uris:
            await self.redis.pfadd(seen_key(source_id), *uris)

    # -- leases ----------------------------------------------------------------------

    async def claim(self, now: datetime, limit: int, lease_ms: int) -> tuple[str, list[str]]:
        """Up to `limit` due sources, leased to this caller and moved out of the
        due range for the lease's length, in one step: (the leases' token, ids)."""
        token = secrets.token_hex(16)
        lease_prefix, lease_suffix = lease_key("\0").split("\0")
        ids = await self._claim(
            keys=[DUE],
            args=[
                epoch_ms(now),
                lease_ms,
                limit,
                token,
                limit * CLAIM_SCAN_FACTOR,
                lease_prefix,
                lease_suffix,
            ],
        )
        return token, [str(source_id) for source_id in ids]

    async def release(self, source_id: str, token: str) -> bool:
        return bool(await self._release(keys=[lease_key(source_id)], args=[token]))
