"""The read model: what readers see. Publication writes it; gateway reads it.

See docs/readmodel.md for the key layout. In short, the read model is split
into the streams' N partitions: an item's keys and its partition's slice of
every feed index share the partition's hash slot, so on Redis Cluster one
script changes them (and emits the event) atomically, and readers merge the
partitions' slices of an index into one feed.
"""

from shared.readmodel.cursor import BadCursor, decode_cursor, encode_cursor
from shared.readmodel.keys import (
    FEED_ALL,
    PAGE_MAX,
    Facet,
    ReadModelKeys,
    facet_keys,
    feed_member,
    index_key,
    member_uri,
)
from shared.readmodel.reader import (
    DocumentPage,
    FeedPage,
    ItemLookup,
    PageMembers,
    ReadModelReader,
    VersionsLookup,
    page_members,
)
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
    "DocumentPage",
    "Facet",
    "FeedPage",
    "ItemLookup",
    "PageMembers",
    "Plan",
    "ReadModelKeys",
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
    "member_uri",
    "page_members",
]
