"""Key names of the read model, and the feed indexes an item belongs in.

The read model is split into the same N partitions as the streams
(shared.partitions): an item lives in partition `Partitions(N).of(uri)`,
and every key of partition p starts with `rm:{<tag of p>}`, so all of them
share p's hash slot on a Redis Cluster:

    rm:{tag}:state:<uri>     hash: version, status, member, traceid
    rm:{tag}:item:<uri>      JSON document of the current version
    rm:{tag}:versions:<uri>  list of earlier versions' documents, newest first
    rm:{tag}:feed:all        sorted set: the partition's visible items
    rm:{tag}:feed:<facet>:<value>   the same, per tag/type/author/...
    rm:{tag}:embargo         sorted set: the partition's embargoed uris by release time (ms)

The tag comes before the uri, so a uri with braces in it cannot move its keys
to another slot. A feed index is named without its partition (`feed:all`,
`feed:tag:ukraine`: `FEED_ALL`, `index_key`); it is one sorted set per
partition (`ReadModelKeys.feeds`), and readers merge them (reader.py).

Feed sets give every member score 0 and name it "<stamp>|<uri>", where the
stamp is 15 digits of milliseconds since 0001-01-01 UTC: lexical order is
(time, uri) for any date Python can hold (an archive item from 1969 or a
typo'd year 2300 included), and a keyset cursor is exact across partitions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from shared.items import Entity, NewsItem
from shared.partitions import Partitions

# The names of feed indexes, the same in every partition.
FEED_ALL = "feed:all"
PAGE_MAX = 100
MAX_INDEXES_PER_ITEM = 64
# People, places and organisations get a feed of their own only where the item
# is about them: on enrichment's scale (40 for the headline, 20 a mention) that
# is the headline or two mentions. A passing mention is not worth a membership
# (about 140 bytes of Redis, and a ZADD, per item and entity); an entity with no
# relevance was named by the source and is always indexed.
ENTITY_MIN_RELEVANCE = 40.0


class Facet(StrEnum):
    """Ways to filter the feed; each has its own sorted set per value."""

    tag = "tag"
    type = "type"
    author = "author"
    language = "language"
    person = "person"
    place = "place"
    organisation = "organisation"


@dataclass(frozen=True)
class ReadModelKeys:
    """The read model's keys for N partitions (N = 1: one slot, as on one Redis)."""

    partitions: Partitions = field(default_factory=lambda: Partitions(1))

    def partition(self, uri: str) -> int:
        return self.partitions.of(uri)

    def prefix(self, index: int) -> str:
        """`rm:{tag}`: the start of every read-model key of partition `index`."""
        return self.partitions.key("rm", index)

    def state(self, uri: str) -> str:
        return self.item_keys(uri)[0]

    def item(self, uri: str) -> str:
        return self.item_keys(uri)[1]

    def versions(self, uri: str) -> str:
        return self.item_keys(uri)[2]

    def item_keys(self, uri: str, partition: int | None = None) -> tuple[str, str, str]:
        """The state, document and history keys of `uri`. A caller that already
        knows its partition passes it: publication's batches are grouped by
        partition, and the hash was computed three times more per item."""
        prefix = self.prefix(self.partition(uri) if partition is None else partition)
        return f"{prefix}:state:{uri}", f"{prefix}:item:{uri}", f"{prefix}:versions:{uri}"

    def feed(self, index_name: str, partition: int) -> str:
        """The sorted set of the feed index `index_name` (FEED_ALL, index_key) in a partition."""
        return f"{self.prefix(partition)}:{index_name}"

    def feeds(self, index_name: str) -> tuple[str, ...]:
        """The index's sorted set in every partition, by partition."""
        return tuple(self.feed(index_name, p) for p in self.partitions.indexes)

    def embargo(self, partition: int) -> str:
        return f"{self.prefix(partition)}:embargo"


def normalize(value: str) -> str:
    """Filter values match regardless of case and spacing: "Peace  Talks" = "peace talks"."""
    return " ".join(value.casefold().split())


def index_key(facet: Facet, value: str) -> str:
    """The name of a facet value's feed index (its key: ReadModelKeys.feed)."""
    return f"feed:{facet.value}:{normalize(value)}"


def indexed(entity: Entity) -> bool:
    return entity.relevance is None or entity.relevance >= ENTITY_MIN_RELEVANCE


def facet_values(item: NewsItem) -> list[tuple[Facet, str]]:
    values: list[tuple[Facet, str]] = [(Facet.type, item.type.value)]
    if item.language:
        values.append((Facet.language, item.language.split("-")[0]))
    values += [(Facet.tag, subject.name) for subject in item.subjects]
    values += [(Facet.author, author.name) for author in item.authors]
    values += [(Facet.person, entity.name) for entity in item.people if indexed(entity)]
    values += [(Facet.place, entity.name) for entity in item.places if indexed(entity)]
    values += [
        (Facet.organisation, entity.name) for entity in item.organisations if indexed(entity)
    ]
    return values


def facet_keys(item: NewsItem) -> tuple[str, ...]:
    """Every feed index a visible item belongs in, `feed:all` first, bounded in number
    (names: its sets are those of the item's partition).

    A function of the stored document alone: the writer finds the sets an item
    is in from its document instead of keeping their names (docs/readmodel.md).
    Changing it changes where stored items are expected to be: see "Migration"
    there."""
    keys = dict.fromkeys([FEED_ALL, *(index_key(f, v) for f, v in facet_values(item) if v)])
    return tuple(keys)[:MAX_INDEXES_PER_ITEM]


# Milliseconds from 0001-01-01 to 1970-01-01: added so every stamp is positive.
_EPOCH_OFFSET_MS = 62_135_596_800_000
STAMP_DIGITS = 15


def stamp(at: datetime) -> str:
    return f"{round(at.timestamp() * 1000) + _EPOCH_OFFSET_MS:0{STAMP_DIGITS}d}"


def feed_member(at: datetime, uri: str) -> str:
    return f"{stamp(at)}|{uri}"


def member_uri(member: str) -> str:
    return member.split("|", 1)[1]


def member_prefix(at: datetime) -> str:
    """The lowest member at time `at`: everything older sorts below it."""
    return f"{stamp(at)}|"
