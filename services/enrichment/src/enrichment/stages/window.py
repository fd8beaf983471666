"""A replica's copy of the related-stories window, in memory.

Pure data, no I/O: `related.RelatedStories` loads it from Redis once and then
applies the change log (one entry per batch any replica wrote) to it.

Signatures are kept as two arrays of 64-bit halves (numpy) beside parallel
lists of uris and clusters, so the search is a vectorized XOR and popcount
over the whole window (about 15 µs for 5,000 signatures, where a Python loop
took about 300); a dict gives each uri's slot, and a removal moves the last
slot into the hole, so neither adding nor removing rebuilds anything. The
search is exact (every signature is compared): with
128-bit signatures and a threshold of 28 bits, a banded index would either
compare most of the window anyway (more than 28 bands of 4-5 bits) or miss
near-duplicates (fewer, wider bands), which would change the clusters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import numpy.typing as npt

# A change-log field's value: the signature and the cluster, or this for
# "trimmed from the window".
REMOVED = ""

_LOW = (1 << 64) - 1
_INITIAL_CAPACITY = 1024


def encode(signature: int, cluster: str) -> str:
    """The stored form of a window entry (signature hash and change log alike)."""
    return f"{signature:032x} {cluster}"


def decode(value: str) -> tuple[int, str]:
    signature, cluster = value.split(" ", 1)
    return int(signature, 16), cluster


class Window:
    def __init__(self) -> None:
        self.uris: list[str] = []
        self.clusters: list[str] = []
        self.slots: dict[str, int] = {}
        self._high: npt.NDArray[np.uint64] = np.zeros(_INITIAL_CAPACITY, np.uint64)
        self._low: npt.NDArray[np.uint64] = np.zeros(_INITIAL_CAPACITY, np.uint64)

    @property
    def signatures(self) -> list[int]:
        """Every signature, slot by slot (for inspection; the search uses the arrays)."""
        count = len(self.uris)
        return [
            (int(high) << 64) | int(low)
            for high, low in zip(self._high[:count], self._low[:count], strict=True)
        ]

    def clear(self) -> None:
        self.uris.clear()
        self.clusters.clear()
        self.slots.clear()

    def __len__(self) -> int:
        return len(self.uris)

    def __contains__(self, uri: object) -> bool:
        return uri in self.slots

    def _store(self, slot: int, signature: int) -> None:
        if slot >= len(self._high):
            grown = max(2 * len(self._high), slot + 1)
            self._high = np.resize(self._high, grown)
            self._low = np.resize(self._low, grown)
        self._high[slot] = signature >> 64
        self._low[slot] = signature & _LOW

    def put(self, uri: str, signature: int, cluster: str) -> None:
        slot = self.slots.get(uri)
        if slot is None:
            slot = self.slots[uri] = len(self.uris)
            self.uris.append(uri)
            self.clusters.append(cluster)
        else:
            self.clusters[slot] = cluster
        self._store(slot, signature)

    def remove(self, uri: str) -> None:
        slot = self.slots.pop(uri, None)
        if slot is None:
            return
        last = len(self.uris) - 1
        last_uri = self.uris.pop()
        last_cluster = self.clusters.pop()
        if slot < last:  # the removed one was not the last: fill its hole
            self.uris[slot] = last_uri
            self.clusters[slot] = last_cluster
            self._high[slot] = self._high[last]
            self._low[slot] = self._low[last]
            self.slots[last_uri] = slot

    def apply(self, changes: Mapping[str, str]) -> None:
        """One change-log entry: uri -> encoded entry, or REMOVED."""
        for uri, value in changes.items():
            if value == REMOVED:
                self.remove(uri)
            else:
                self.put(uri, *decode(value))

    def replace(self, entries: Iterable[tuple[str, str]]) -> None:
        """Forget everything; hold these (uri, encoded entry) instead."""
        self.clear()
        for uri, value in entries:
            self.put(uri, *decode(value))

    def nearest(self, signature: int, uri: str, max_distance: int) -> str | None:
        """The cluster of the closest other item within `max_distance` bits;
        ties go to the smallest uri, so the answer does not depend on order."""
        count = len(self.uris)
        if not count:
            return None
        high = np.uint64(signature >> 64)
        low = np.uint64(signature & _LOW)
        # Two popcounts of at most 64 each: the sum fits the uint8 they return.
        distances = np.bitwise_count(self._high[:count] ^ high) + np.bitwise_count(
            self._low[:count] ^ low
        )
        own = self.slots.get(uri)
        if own is not None:
            distances[own] = np.iinfo(distances.dtype).max  # an item is not its own neighbour
        closest = int(distances.min())
        if closest > max_distance:
            return None
        # Usually one slot; many only when many stored items are equally close
        # (copies of one text), and then still no Python loop over the window.
        slots = np.flatnonzero(distances == closest).tolist()
        slot = min(slots, key=self.uris.__getitem__)
        return self.clusters[slot]
