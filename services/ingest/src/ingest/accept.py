"""Accepting a submission: identity, dedup and the append, as one atomic step.

Per item, ingest keeps `ingest:{news.ingested}:item:<uri>` (a hash of
version, material hash, firstcreated). A Lua script checks that the version
is still the one we read, bumps it and appends the event to news.ingested in
one go, so an accepted submission is always on the stream (the API answers
only after this) and a crash can never leave a bumped version without its
event. The hash tag puts the key in the stream's Cluster slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import redis.asyncio as aioredis
from shared.delivery.trimming import Trimmer
from shared.events import EventType, encode, make_event
from shared.items import utcnow
from shared.streams import INGESTED

from ingest.submission import Submission, material_hash, new_uri, to_item

SOURCE = "/newsfeed/ingest"
MAX_ATTEMPTS = 8

# KEYS: item state, stream. ARGV: expected version, hash, firstcreated, event fields...
_ACCEPT = """
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if current ~= tonumber(ARGV[1]) then
  return {'conflict', tostring(current)}
end
redis.call('HSET', KEYS[1], 'version', current + 1, 'hash', ARGV[2], 'firstcreated', ARGV[3])
local entry = redis.call('XADD', KEYS[2], '*', unpack(ARGV, 4))
return {'accepted', entry}
"""


def state_key(uri: str) -> str:
    return f"ingest:{{{INGESTED}}}:item:{uri}"


@dataclass(frozen=True)
class Accepted:
    uri: str
    version: int
    changed: bool
    entry_id: str | None = None


class TooMuchContention(RuntimeError):
    """The same item was updated concurrently so often that we gave up."""


class Acceptor:
    def __init__(self, redis: aioredis.Redis, trimmer: Trimmer | None = None) -> None:
        self._redis = redis
        self._trimmer = trimmer
        self._accept = redis.register_script(_ACCEPT)

    async def accept(self, submission: Submission, traceid: str) -> Accepted:
        uri = submission.uri or new_uri()
        digest = material_hash(submission)
        for _ in range(MAX_ATTEMPTS):
            state = await self._redis.hgetall(state_key(uri))
            current = int(state.get("version", 0))
            if current and state.get("hash") == digest:
                return Accepted(uri, current, changed=False)
            now = utcnow()
            firstcreated = (
                datetime.fromisoformat(state["firstcreated"])
                if "firstcreated" in state
                else submission.firstcreated or now
            )
            item = to_item(
                submission, uri=uri, version=current + 1, firstcreated=firstcreated, now=now
            )
            fields = encode(make_event(EventType.ingested, SOURCE, item, traceid, now))
            outcome, detail = await self._accept(
                keys=[state_key(uri), INGESTED],
                args=[current, digest, firstcreated.isoformat(), *_flatten(fields)],
            )
            if outcome == "accepted":
                if self._trimmer is not None:
                    await self._trimmer.maybe_trim(INGESTED)
                return Accepted(uri, current + 1, changed=True, entry_id=str(detail))
        raise TooMuchContention(f"item {uri} changed concurrently {MAX_ATTEMPTS} times")


def _flatten(fields: dict[str, str]) -> list[str]:
    return [part for pair in fields.items() for part in pair]
