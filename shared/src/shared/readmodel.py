"""The read model: what readers see. Publication writes it; gateway reads it.

Keys (all carry the hash tag `{news.published}`, so on Redis Cluster they
share a slot with the `news.published` stream and one script can update the
item, its feed position and emit its event atomically):

    rm:{news.published}:state:<uri>   hash: version, status, member
    rm:{news.published}:item:<uri>    JSON of the item at its current version
                                      (also kept for a killed item, for 410)
    rm:{news.published}:feed:all      sorted set, every score 0, members
                                      "<13-digit epoch ms>|<uri>": lexical
                                      order is (time, uri), newest last

A feed page is a ZRANGE BYLEX REV from a keyset cursor (the last member
seen, exclusive), so "Show More" neither repeats nor skips an item while new
items arrive at the top.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import orjson
import redis.asyncio as aioredis

from shared.events import Event, encode
from shared.items import NewsItem, PubStatus
from shared.streams import PUBLISHED

TAG = "{" + PUBLISHED + "}"
FEED_ALL = f"rm:{TAG}:feed:all"
PAGE_MAX = 100


def state_key(uri: str) -> str:
    return f"rm:{TAG}:state:{uri}"


def item_key(uri: str) -> str:
    return f"rm:{TAG}:item:{uri}"


def feed_member(at: datetime, uri: str) -> str:
    return f"{int(at.timestamp() * 1000):013d}|{uri}"


def member_uri(member: str) -> str:
    return member.split("|", 1)[1]


class ApplyOutcome(StrEnum):
    applied = "applied"
    stale = "stale"  # this version (or a newer one) is already in place


class BadCursor(ValueError):
    """A cursor that this read model did not hand out."""


def encode_cursor(member: str) -> str:
    return base64.urlsafe_b64encode(member.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        member = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise BadCursor("cursor is not one this feed handed out") from error
    stamp, sep, uri = member.partition("|")
    if not sep or len(stamp) != 13 or not stamp.isdigit() or not uri:
        raise BadCursor("cursor is not one this feed handed out")
    return member


# KEYS: state, item, feed, stream
# ARGV: version, status, item_json, member, then the event's fields as
#       name/value pairs without `type` (the script decides it).
# A version at or below the stored one changes nothing and emits nothing:
# redelivered and out-of-order events are harmless.
_APPLY = """
local version = tonumber(ARGV[1])
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if current >= version then
  return {'stale', tostring(current)}
end
local was = redis.call('HGET', KEYS[1], 'status')
local member = redis.call('HGET', KEYS[1], 'member') or ARGV[4]
local status = ARGV[2]
redis.call('HSET', KEYS[1], 'version', version, 'status', status, 'member', member)
local kind
if status == 'usable' then
  redis.call('SET', KEYS[2], ARGV[3])
  redis.call('ZADD', KEYS[3], 0, member)
  if was == 'usable' then kind = 'updated' else kind = 'published' end
elseif status == 'canceled' then
  redis.call('SET', KEYS[2], ARGV[3])
  redis.call('ZREM', KEYS[3], member)
  kind = 'killed'
else
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[3], member)
  kind = 'withheld'
end
local fields = {'type', 'org.newsfeed.item.' .. kind}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XADD', KEYS[4], '*', unpack(fields))
return {'applied', kind}
"""


@dataclass(frozen=True)
class Applied:
    outcome: ApplyOutcome
    detail: str  # event kind when applied, current version when stale


class ReadModelWriter:
    """Publication's only way to change what readers see."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._apply = redis.register_script(_APPLY)

    async def apply(self, item: NewsItem, event: Event) -> Applied:
        """Make `item` the visible version and emit `event` on news.published, atomically."""
        fields = encode(event)
        del fields["type"]
        flat = [part for pair in fields.items() for part in pair]
        outcome, detail = await self._apply(
            keys=[state_key(item.uri), item_key(item.uri), FEED_ALL, PUBLISHED],
            args=[
                item.version,
                item.pubstatus.value,
                item.model_dump_json(exclude_none=True),
                feed_member(item.firstcreated, item.uri),
                *flat,
            ],
        )
        return Applied(ApplyOutcome(outcome), str(detail))


@dataclass(frozen=True)
class FeedPage:
    items: list[NewsItem]
    next_cursor: str | None


@dataclass(frozen=True)
class ItemLookup:
    item: NewsItem | None
    killed: bool = False


class ReadModelReader:
    """Gateway's view of the read model."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    async def page(self, limit: int, cursor: str | None = None) -> FeedPage:
        limit = max(1, min(limit, PAGE_MAX))
        upper = "(" + decode_cursor(cursor) if cursor else "+"
        members: list[str] = await self._redis.zrange(
            FEED_ALL, upper, "-", desc=True, bylex=True, offset=0, num=limit + 1
        )
        more = len(members) > limit
        members = members[:limit]
        docs = await self._redis.mget([item_key(member_uri(m)) for m in members]) if members else []
        items = [NewsItem.model_validate(orjson.loads(doc)) for doc in docs if doc is not None]
        visible = [item for item in items if item.pubstatus is PubStatus.usable]
        next_cursor = encode_cursor(members[-1]) if more and members else None
        return FeedPage(visible, next_cursor)

    async def item(self, uri: str) -> ItemLookup:
        doc = await self._redis.get(item_key(uri))
        if doc is None:
            return ItemLookup(None)
        item = NewsItem.model_validate(orjson.loads(doc))
        return ItemLookup(item, killed=item.pubstatus is PubStatus.canceled)
