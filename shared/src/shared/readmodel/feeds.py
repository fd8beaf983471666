"""Feed sets by name: what a news.published entry's `feeds` field lists.

Every entry publication writes to news.published carries, beside `data`, a
`feeds` field: the feed sets the item was in before the change and is in
after it, as JSON `{"before": [...], "after": [...]}`. A name is `all` or
`<facet>:<value>` with the value normalized as the read model matches it
(`tag:peace talks`), the same sets and the same bound as `facet_keys`, but
independent of how the read model lays out its keys. A reader that caches
feeds drops exactly the feeds a change touches (before ∪ after), kills
included; an item that was never visible was in no feed (docs/events.md).
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson
from pydantic import BaseModel, ConfigDict, Field

from shared.items import NewsItem
from shared.readmodel.keys import MAX_INDEXES_PER_ITEM, Facet, facet_values, normalize

ALL = "all"
FIELD = "feeds"


class FeedSets(BaseModel):
    """The `feeds` field's JSON, as `feeds_field` writes it (for the AsyncAPI document)."""

    model_config = ConfigDict(extra="forbid")

    before: list[str] = Field(max_length=MAX_INDEXES_PER_ITEM)
    after: list[str] = Field(max_length=MAX_INDEXES_PER_ITEM)


def feed_name(facet: Facet | None, value: str = "") -> str:
    """The name of one feed set: `all` for no filter, else `<facet>:<normalized value>`."""
    return ALL if facet is None else f"{facet.value}:{normalize(value)}"


def feed_names(item: NewsItem) -> tuple[str, ...]:
    """The feed sets a visible item is in, `all` first (as `facet_keys`, by name)."""
    names = dict.fromkeys([ALL, *(feed_name(f, v) for f, v in facet_values(item) if v)])
    return tuple(names)[:MAX_INDEXES_PER_ITEM]


def feeds_field(before: NewsItem | None, after: NewsItem | None) -> str:
    """The `feeds` field: the sets of the visible version before and after (None: not visible)."""
    return orjson.dumps(
        {
            "before": list(feed_names(before)) if before is not None else [],
            "after": list(feed_names(after)) if after is not None else [],
        }
    ).decode()


def parse_feeds(text: str | None) -> tuple[frozenset[str], frozenset[str]] | None:
    """(before, after) from a `feeds` field; None when it is missing or not well formed
    (an entry written before the field existed): the reader must assume any feed."""
    if not text:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, dict):
        return None
    before, after = _names(value.get("before")), _names(value.get("after"))
    if before is None or after is None:
        return None
    return before, after


def _names(side: object) -> frozenset[str] | None:
    if not isinstance(side, list) or not all(isinstance(name, str) for name in side):
        return None
    return frozenset(side)


def touched(before: Iterable[str], after: Iterable[str]) -> frozenset[str]:
    return frozenset(before) | frozenset(after)
