"""Gateway's view of the read model: pages, items and their versions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import redis.asyncio as aioredis

from shared.items import NewsItem, PubStatus, utcnow
from shared.readmodel.cursor import decode_cursor, encode_cursor
from shared.readmodel.keys import (
    FEED_ALL,
    PAGE_MAX,
    Facet,
    index_key,
    item_key,
    member_uri,
    versions_key,
)


@dataclass(frozen=True)
class FeedPage:
    items: list[NewsItem]
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


def visible(item: NewsItem, now: datetime) -> bool:
    """Usable, and not under an embargo that has not passed (even by a millisecond)."""
    return item.pubstatus is PubStatus.usable and (item.embargoed is None or item.embargoed <= now)


class ReadModelReader:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    async def page(
        self, limit: int, cursor: str | None = None, facet: tuple[Facet, str] | None = None
    ) -> FeedPage:
        """Up to `limit` visible items, newest first, after `cursor` (exclusive)."""
        limit = max(1, min(limit, PAGE_MAX))
        key = index_key(*facet) if facet else FEED_ALL
        upper = "(" + decode_cursor(cursor) if cursor else "+"
        members: list[str] = await self._redis.zrange(
            key, upper, "-", desc=True, bylex=True, offset=0, num=limit + 1
        )
        more = len(members) > limit
        members = members[:limit]
        docs = await self._redis.mget([item_key(member_uri(m)) for m in members]) if members else []
        now = utcnow()
        items = [NewsItem.model_validate_json(doc) for doc in docs if doc is not None]
        next_cursor = encode_cursor(members[-1]) if more else None
        return FeedPage([item for item in items if visible(item, now)], next_cursor)

    async def item(self, uri: str) -> ItemLookup:
        doc = await self._redis.get(item_key(uri))
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
        docs = await self._redis.lrange(versions_key(uri), 0, -1)
        previous = [NewsItem.model_validate_json(doc) for doc in docs]
        # Earlier documents of a visible item: never a kill or withheld one.
        shown = [item for item in previous if item.pubstatus is PubStatus.usable]
        return VersionsLookup(found.item, shown)
