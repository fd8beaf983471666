"""Page caches: rendered pages, dropped by the events that touch their feed.

Two instances: the first pages of every output (API, feeds, HTML page,
fragment), and older pages (with a cursor). Keys are (output, query string,
base URL); values are `Rendered` responses, so a hit costs no Redis I/O and
no serialization. Each page is filed under its feed (`all`, or
`<facet>:<value>` as shared.readmodel.feeds names them), and an event drops
the pages of exactly the feeds it touches: those the item was in before and
is in after (news.published's `feeds` field). An event that does not say
(an entry written before the field existed) or a Redis outage drops
everything.

A page computed while an event touching its feed arrived is not stored (the
invalidations since the page's generation are checked at `put`), so a stale
page cannot slip back in. A time limit bounds what an event-less change
(publication's retention drops old items silently) can leave behind; the
number of entries and, for older pages, their bytes are bounded (least
recently used go first), since filter values and cursors come from readers.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable

from gateway.responses import Rendered

# Invalidations remembered for `put`'s check: a page whose load spans more
# than this many events is simply not stored.
RECENT_INVALIDATIONS = 4096


class PageCache:
    def __init__(
        self,
        max_entries: int,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_bytes: int | None = None,
    ) -> None:
        self._entries: OrderedDict[Hashable, tuple[float, Rendered, str]] = OrderedDict()
        self._by_feed: dict[str, set[Hashable]] = {}
        self._recent: deque[tuple[int, frozenset[str] | None]] = deque(maxlen=RECENT_INVALIDATIONS)
        self._max = max_entries
        self._max_bytes = max_bytes
        self._ttl = ttl_s
        self._clock = clock
        self.bytes = 0
        self.generation = 0

    def get(self, key: Hashable) -> Rendered | None:
        entry = self._entries.get(key)
        if entry is None or self._clock() >= entry[0]:
            return None
        if self._max > 1:
            self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: Hashable, value: Rendered, generation: int, feed: str) -> None:
        """Store `value`, a page of `feed`, unless an invalidation of that feed
        happened since `generation` was read."""
        if self._max <= 0 or self._stale(generation, feed):
            return
        size = len(value.body)
        if self._max_bytes is not None and size > self._max_bytes:
            return
        self._remove(key)
        self._entries[key] = (self._clock() + self._ttl, value, feed)
        self._by_feed.setdefault(feed, set()).add(key)
        self.bytes += size
        while len(self._entries) > self._max or (
            self._max_bytes is not None and self.bytes > self._max_bytes
        ):
            self._remove(next(iter(self._entries)))

    def _stale(self, generation: int, feed: str) -> bool:
        if generation == self.generation:
            return False
        if not self._recent or self._recent[0][0] > generation + 1:
            return True  # more invalidations since than remembered
        for at, feeds in reversed(self._recent):
            if at <= generation:
                break
            if feeds is None or feed in feeds:
                return True
        return False

    def _remove(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self.bytes -= len(entry[1].body)
        keys = self._by_feed.get(entry[2])
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_feed[entry[2]]

    def invalidate(self, feeds: frozenset[str] | None = None) -> None:
        """Drop the pages of `feeds`; None drops every page."""
        self.generation += 1
        self._recent.append((self.generation, feeds))
        if feeds is None:
            self._entries.clear()
            self._by_feed.clear()
            self.bytes = 0
            return
        for feed in feeds:
            for key in list(self._by_feed.get(feed, ())):
                self._remove(key)

    def __len__(self) -> int:
        return len(self._entries)
