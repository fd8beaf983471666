"""JSON API pages straight from the stored documents, without a round trip through models.

The read model stores each item as the JSON of its NewsItem (publication's
`model_dump_json(exclude_none=True)`), which is exactly what the API returns
for it. `ReadModelReader.page` validates every document into a NewsItem and
the API would dump it back to the same JSON; for a 20-item page that is most
of the time a deep page takes. Here the keys, the keyset cursor and the
visibility rule are the reader's (shared.readmodel), the documents are only
parsed enough (orjson) to check that rule, and their bytes go out unchanged.
A test checks that both ways give the same page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson
import redis.asyncio as aioredis
from shared.items import utcnow
from shared.readmodel import (
    FEED_ALL,
    PAGE_MAX,
    Facet,
    decode_cursor,
    encode_cursor,
    index_key,
    item_key,
    member_uri,
)


@dataclass(frozen=True, slots=True)
class RawPage:
    docs: list[str]
    next_cursor: str | None


def visible(doc: dict[str, object], now: datetime) -> bool:
    """shared.readmodel.reader.visible, on a stored document."""
    if doc.get("pubstatus", "usable") != "usable":
        return False
    embargoed = doc.get("embargoed")
    return embargoed is None or datetime.fromisoformat(str(embargoed)) <= now


async def raw_page(
    redis: aioredis.Redis, limit: int, cursor: str | None, facet: tuple[Facet, str] | None
) -> RawPage:
    limit = max(1, min(limit, PAGE_MAX))
    key = index_key(*facet) if facet else FEED_ALL
    upper = "(" + decode_cursor(cursor) if cursor else "+"
    members: list[str] = await redis.zrange(
        key, upper, "-", desc=True, bylex=True, offset=0, num=limit + 1
    )
    more = len(members) > limit
    members = members[:limit]
    docs: list[str | None] = (
        await redis.mget([item_key(member_uri(m)) for m in members]) if members else []
    )
    now = utcnow()
    shown = [doc for doc in docs if doc is not None and visible(orjson.loads(doc), now)]
    return RawPage(shown, encode_cursor(members[-1]) if more else None)


def feed_body(page: RawPage) -> bytes:
    """The same bytes as gateway.render.api.feed_body for the same items."""
    items = ",".join(page.docs).encode()
    return b'{"items":[' + items + b'],"next_cursor":' + orjson.dumps(page.next_cursor) + b"}"
