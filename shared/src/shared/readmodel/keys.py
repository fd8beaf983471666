"""Key names of the read model, and the feed indexes an item belongs in.

    rm:{news.published}:state:<uri>     hash: version, status, member, traceid
    rm:{news.published}:item:<uri>      JSON document of the current version
    rm:{news.published}:versions:<uri>  list of earlier versions' documents, newest first
    rm:{news.published}:feed:all        sorted set: every visible item
    rm:{news.published}:feed:<facet>:<value>   the same, per tag/type/author/...
    rm:{news.published}:embargo         sorted set: uri scored by release time (ms)

Feed sets give every member score 0 and name it "<stamp>|<uri>", where the
stamp is 15 digits of milliseconds since 0001-01-01 UTC: lexical order is
(time, uri) for any date Python can hold (an archive item from 1969 or a
typo'd year 2300 included), and a keyset cursor is exact.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from shared.items import Entity, NewsItem
from shared.streams import PUBLISHED

TAG = "{" + PUBLISHED + "}"
PREFIX = f"rm:{TAG}"
FEED_ALL = f"{PREFIX}:feed:all"
EMBARGO = f"{PREFIX}:embargo"
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


def state_key(uri: str) -> str:
    return f"{PREFIX}:state:{uri}"


def item_key(uri: str) -> str:
    return f"{PREFIX}:item:{uri}"


def versions_key(uri: str) -> str:
    return f"{PREFIX}:versions:{uri}"


def normalize(value: str) -> str:
    """Filter values match regardless of case and spacing: "Peace  Talks" = "peace talks"."""
    return " ".join(value.casefold().split())


def index_key(facet: Facet, value: str) -> str:
    return f"{PREFIX}:feed:{facet.value}:{normalize(value)}"


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
    """Every feed set a visible item belongs in, `feed:all` first, bounded in number.

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
