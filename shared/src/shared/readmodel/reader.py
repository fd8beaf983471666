"""Gateway's view of the read model: pages, items and their versions.

A feed index is one sorted set per partition. A page asks each partition for
its newest `limit + 1` members below the cursor (all N in one pipeline: one
round trip on one Redis, one per shard on a cluster) and merges the N sorted
lists, keeping `limit + 1`: at most N x (PAGE_MAX + 1) members are read for
a page at any depth. Members order by (time, uri) in every partition alike,
so the cursor — the last member shown — is an exact position in the merged
feed: Show More neither repeats nor skips an item while new ones arrive.

A page comes two ways, by the same keys, cursor and visibility rule: `page`
validates each document into a NewsItem; `documents` hands the stored JSON
back as bytes (the read model stores each item as its NewsItem's
`model_dump_json(exclude_none=True)`, exactly what the JSON API returns: for a
20-item page, validating and dumping again is most of the time a deep page
takes). Give the reader a client that answers in bytes
(shared.redis_client.with_bytes_replies) and the documents are neither decoded
nor encoded on the way.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from shared.items import NewsItem, PubStatus, utcnow
from shared.readmodel.cursor import decode_cursor, encode_cursor
from shared.readmodel.keys import (
    FEED_ALL,
    PAGE_MAX,
    Facet,
    ReadModelKeys,
    index_key,
    member_uri,
)
from shared.redis_client import Client, get_many


@dataclass(frozen=True)
class FeedPage:
    items: list[NewsItem]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class DocumentPage:
    """A page as the stored JSON documents of its items, newest first."""

    docs: list[bytes]
    next_cursor: str | None


@dataclass(frozen=True)
class ItemLookup:
    """`item` is None when there is nothing a reader may see (unknown, withheld,
    embargoed, retired); `killed` carries the kill document for a 410."""

    item: NewsItem | None
    killed: bool = False


@dataclass(frozen=True)
class VersionsLookup:
    current: NewsItem | None
    previous: list[NewsItem] = field(default_factory=list)
    killed: bool = False


def _shown(pubstatus: str, embargoed: datetime | None, now: datetime) -> bool:
    """Usable, and not under an embargo that has not passed (even by a millisecond)."""
    return pubstatus == PubStatus.usable.value and (embargoed is None or embargoed <= now)


def visible(item: NewsItem, now: datetime) -> bool:
    return _shown(item.pubstatus.value, item.embargoed, now)


# Written by pydantic's compact JSON: the top-level key or a nested one, never
# text inside a string (a quote there is escaped, so `"embargoed"` cannot occur).
_EMBARGO_KEY = b'"embargoed"'
_USABLE = b'"pubstatus":"usable"'


def visible_document(doc: bytes, now: datetime) -> bool:
    """`visible` for a stored document, parsing it only when it could fail the rule.

    The feed sets hold only visible items; the rule is checked again for the
    rare document that mentions an embargo (an update of a visible item may
    carry one, and keeps it once released) or does not say it is usable: those are
    parsed, not validated (cheaper: 5 us against 9 for a 600-byte document)."""
    if _EMBARGO_KEY not in doc and _USABLE in doc:
        return True
    fields = orjson.loads(doc)
    embargoed = fields.get("embargoed")
    return _shown(
        fields.get("pubstatus", PubStatus.usable.value),
        datetime.fromisoformat(embargoed) if embargoed else None,
        now,
    )


@dataclass(frozen=True)
class PageMembers:
    """The feed members of a page, newest first, and the cursor after them."""

    members: list[str]
    next_cursor: str | None


def _text(member: str | bytes) -> str:
    return member.decode() if isinstance(member, bytes) else member


async def page_members(
    redis: Client,
    keys: ReadModelKeys,
    limit: int,
    cursor: str | None = None,
    facet: tuple[Facet, str] | None = None,
) -> PageMembers:
    """Up to `limit` members of a feed index, newest first, after `cursor`
    (exclusive), merged over the partitions. `redis` may answer in bytes."""
    limit = max(1, min(limit, PAGE_MAX))
    sets = keys.feeds(index_key(*facet) if facet else FEED_ALL)
    upper = "(" + decode_cursor(cursor) if cursor else "+"
    if len(sets) == 1:
        replies = [
            await redis.zrange(sets[0], upper, "-", desc=True, bylex=True, offset=0, num=limit + 1)
        ]
    else:
        async with redis.pipeline(transaction=False) as pipe:
            for key in sets:
                pipe.zrange(key, upper, "-", desc=True, bylex=True, offset=0, num=limit + 1)
            replies = await pipe.execute()
    newest = heapq.merge(*([_text(m) for m in reply] for reply in replies), reverse=True)
    members = list(itertools.islice(newest, limit + 1))
    more = len(members) > limit
    members = members[:limit]
    return PageMembers(members, encode_cursor(members[-1]) if more else None)


class ReadModelReader:
    def __init__(self, redis: Client, keys: ReadModelKeys | None = None) -> None:
        self._redis = redis
        self.keys = keys or ReadModelKeys()

    async def page(
        self, limit: int, cursor: str | None = None, facet: tuple[Facet, str] | None = None
    ) -> FeedPage:
        """Up to `limit` visible items, newest first, after `cursor` (exclusive)."""
        found = await page_members(self._redis, self.keys, limit, cursor, facet)
        docs = await get_many(self._redis, [self.keys.item(member_uri(m)) for m in found.members])
        now = utcnow()
        items = [NewsItem.model_validate_json(doc) for doc in docs if doc is not None]
        return FeedPage([item for item in items if visible(item, now)], found.next_cursor)

    async def documents(
        self, limit: int, cursor: str | None = None, facet: tuple[Facet, str] | None = None
    ) -> DocumentPage:
        """`page`, as the items' stored JSON documents."""
        found = await page_members(self._redis, self.keys, limit, cursor, facet)
        docs = await get_many(self._redis, [self.keys.item(member_uri(m)) for m in found.members])
        now = utcnow()
        stored = [
            doc if isinstance(doc, bytes) else doc.encode() for doc in docs if doc is not None
        ]
        return DocumentPage(
            [doc for doc in stored if visible_document(doc, now)], found.next_cursor
        )

    async def item(self, uri: str) -> ItemLookup:
        doc = await self._redis.get(self.keys.item(uri))
        if doc is None:
            return ItemLookup(None)
        item = NewsItem.model_validate_json(doc)
        if item.pubstatus is PubStatus.canceled:
            return ItemLookup(item, killed=True)
        return ItemLookup(item if visible(item, utcnow()) else None)

    async def versions(self, uri: str) -> VersionsLookup:
        """The current version and the kept earlier ones, newest first."""
        found = await self.item(uri)
        if found.item is None or found.killed:
            return VersionsLookup(found.item, killed=found.killed)
        docs = await self._redis.lrange(self.keys.versions(uri), 0, -1)
        previous = [NewsItem.model_validate_json(doc) for doc in docs]
        # Earlier documents of a visible item: never a kill or withheld one.
        shown = [item for item in previous if item.pubstatus is PubStatus.usable]
        return VersionsLookup(found.item, shown)
