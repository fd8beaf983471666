"""Page caches: rendered pages, dropped by any event on news.published.

Two instances: the first pages of every output (API, feeds, HTML page,
fragment), and older pages (with a cursor). Keys are (output, filter, page
size, base URL[, cursor]); values are `Rendered` responses, so a hit costs no
Redis I/O and no serialization. The rule is the simplest correct one: any
event may change any page (an update or kill of an item it shows; a new item,
or a new tag on an old one, whose place falls in its range), so every event
empties both caches. A page computed while an event arrived is not stored
(the generation it was computed under is no longer current), so a stale page
cannot slip back in after the invalidation. A time limit bounds what an
event-less change (publication's retention drops old items silently) can
leave behind; the number of entries and, for older pages, their bytes are
bounded (least recently used go first), since filter values and cursors come
from readers.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from gateway.responses import Rendered


class PageCache:
    def __init__(
        self,
        max_entries: int,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_bytes: int | None = None,
    ) -> None:
        self._entries: OrderedDict[Hashable, tuple[float, Rendered]] = OrderedDict()
        self._max = max_entries
        self._max_bytes = max_bytes
        self._ttl = ttl_s
        self._clock = clock
        self.bytes = 0
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
        size = len(value.body)
        if self._max_bytes is not None and size > self._max_bytes:
            return
        replaced = self._entries.pop(key, None)
        if replaced is not None:
            self.bytes -= len(replaced[1].body)
        self._entries[key] = (self._clock() + self._ttl, value)
        self.bytes += size
        while len(self._entries) > self._max or (
            self._max_bytes is not None and self.bytes > self._max_bytes
        ):
            _, (_, dropped) = self._entries.popitem(last=False)
            self.bytes -= len(dropped.body)

    def invalidate(self) -> None:
        self.generation += 1
        self._entries.clear()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)
