"""JSON API pages straight from the stored documents, without a round trip through models.

The read model stores each item as the JSON of its NewsItem (publication's
`model_dump_json(exclude_none=True)`), which is exactly what the API returns
for it. `ReadModelReader.page` validates every document into a NewsItem and
the API would dump it back to the same JSON; for a 20-item page that is most
of the time a deep page takes. Here the keys, the keyset cursor and the
visibility rule are the reader's (shared.readmodel: `page_members` merges the
partitions' feed sets), the documents are read as bytes (a client with
`decode_responses=False`, shared.redis_client.with_bytes_replies: 110 kB a
page are neither decoded nor encoded again) and spliced unchanged. A test checks that both
ways give the same page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson
from shared.items import utcnow
from shared.readmodel import Facet, ReadModelKeys, member_uri, page_members
from shared.redis_client import Client, get_many

# Written by pydantic's compact JSON: the top-level key or a nested one, never
# text inside a string (a quote there is escaped, so `"embargoed"` cannot occur).
_EMBARGO_KEY = b'"embargoed"'
_USABLE = b'"pubstatus":"usable"'


@dataclass(frozen=True, slots=True)
class RawPage:
    docs: list[bytes]
    next_cursor: str | None


def visible(doc: dict[str, object], now: datetime) -> bool:
    """shared.readmodel.reader.visible, on a parsed stored document."""
    if doc.get("pubstatus", "usable") != "usable":
        return False
    embargoed = doc.get("embargoed")
    return embargoed is None or datetime.fromisoformat(str(embargoed)) <= now


def shown(doc: bytes, now: datetime) -> bool:
    """`visible` without parsing the document when it cannot be under an embargo.

    The feed sets hold only visible items; this is the reader's rule checked
    again for the rare document that mentions an embargo (an update of a
    visible item may carry one) or does not say it is usable: those are parsed."""
    if _EMBARGO_KEY not in doc and _USABLE in doc:
        return True
    return visible(orjson.loads(doc), now)


async def raw_page(
    redis: Client,
    keys: ReadModelKeys,
    limit: int,
    cursor: str | None,
    facet: tuple[Facet, str] | None,
) -> RawPage:
    """`redis` answers in bytes (shared.redis_client.with_bytes_replies)."""
    found = await page_members(redis, keys, limit, cursor, facet)
    docs: list[bytes | None] = await get_many(
        redis, [keys.item(member_uri(name)) for name in found.members]
    )
    now = utcnow()
    return RawPage([doc for doc in docs if doc is not None and shown(doc, now)], found.next_cursor)


def feed_body(page: RawPage) -> bytes:
    """The same bytes as gateway.render.api.feed_body for the same items."""
    items = b",".join(page.docs)
    return b'{"items":[' + items + b'],"next_cursor":' + orjson.dumps(page.next_cursor) + b"}"
