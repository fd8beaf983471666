"""The first-page cache: rendered first pages, dropped by any event on news.published.

Keys are (output, filter, page size, base URL); values are `Rendered`
responses, so a hit costs no Redis I/O and no serialization. The rule is the
simplest correct one: any event may change any first page, so every event
empties the cache. A page computed while an event arrived is not stored
(the generation it was computed under is no longer current), so a stale page
cannot slip back in after the invalidation. A time limit bounds what an
event-less change (publication's retention drops old items silently) can
leave behind, and the number of entries is bounded (least recently used go
first), since filter values come from readers.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from gateway.responses import Rendered


class PageCache:
    def __init__(
        self, max_entries: int, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._entries: OrderedDict[Hashable, tuple[float, Rendered]] = OrderedDict()
        self._max = max_entries
        self._ttl = ttl_s
        self._clock = clock
        self.generation = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Rendered | None:
        entry = self._entries.get(key)
        if entry is None or self._clock() >= entry[0]:
            self.misses += 1
            return None
        self.hits += 1
        if self._max > 1:
            self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: Hashable, value: Rendered, generation: int) -> None:
        """Store `value` if no invalidation happened since `generation` was read."""
        if generation != self.generation or self._max <= 0:
            return
        self._entries[key] = (self._clock() + self._ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def invalidate(self) -> None:
        self.generation += 1
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
