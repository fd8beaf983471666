"""The read model: what readers see. Publication writes it; gateway reads it.

See docs/readmodel.md for the key layout. In short, every key carries the
hash tag `{news.published}`, so on Redis Cluster an item, all its indexes and
the `news.published` stream share one slot and one script can change them
and emit the event atomically.
"""

from shared.readmodel.cursor import BadCursor, decode_cursor, encode_cursor
from shared.readmodel.keys import (
    FEED_ALL,
    PAGE_MAX,
    Facet,
    facet_keys,
    feed_member,
    index_key,
    item_key,
    member_uri,
    state_key,
)
from shared.readmodel.reader import FeedPage, ItemLookup, ReadModelReader, VersionsLookup
from shared.readmodel.writer import (
    Applied,
    ApplyOutcome,
    Plan,
    ReadModelWriter,
    Stored,
    StoredStatus,
)

__all__ = [
    "FEED_ALL",
    "PAGE_MAX",
    "Applied",
    "ApplyOutcome",
    "BadCursor",
    "Facet",
    "FeedPage",
    "ItemLookup",
    "Plan",
    "ReadModelReader",
    "ReadModelWriter",
    "Stored",
    "StoredStatus",
    "VersionsLookup",
    "decode_cursor",
    "encode_cursor",
    "facet_keys",
    "feed_member",
    "index_key",
    "item_key",
    "member_uri",
    "state_key",
]
