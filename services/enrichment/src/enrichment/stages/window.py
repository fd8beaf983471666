"""A replica's copy of the related-stories window, in memory.

Pure data, no I/O: `related.RelatedStories` loads it from Redis once and then
applies the change log (one entry per batch any replica wrote) to it.

Signatures, uris and clusters are kept in three parallel lists so that the
search is a tight loop over plain ints; a dict gives each uri's slot, and a
removal moves the last slot into the hole, so neither adding nor removing
rebuilds anything. The search is exact (every signature is compared): with
128-bit signatures and a threshold of 28 bits, a banded index would either
compare most of the window anyway (more than 28 bands of 4-5 bits) or miss
near-duplicates (fewer, wider bands), which would change the clusters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import islice

# A change-log field's value: the signature and the cluster, or this for
# "trimmed from the window".
REMOVED = ""


def encode(signature: int, cluster: str) -> str:
    """The stored form of a window entry (signature hash and change log alike)."""
    return f"{signature:032x} {cluster}"


def decode(value: str) -> tuple[int, str]:
    signature, cluster = value.split(" ", 1)
    return int(signature, 16), cluster


class Window:
    def __init__(self) -> None:
        self.uris: list[str] = []
        self.signatures: list[int] = []
        self.clusters: list[str] = []
        self.slots: dict[str, int] = {}

    def clear(self) -> None:
        self.uris.clear()
        self.signatures.clear()
        self.clusters.clear()
        self.slots.clear()

    def __len__(self) -> int:
        return len(self.uris)

    def __contains__(self, uri: object) -> bool:
        return uri in self.slots

    def put(self, uri: str, signature: int, cluster: str) -> None:
        slot = self.slots.get(uri)
        if slot is None:
            self.slots[uri] = len(self.uris)
            self.uris.append(uri)
            self.signatures.append(signature)
            self.clusters.append(cluster)
        else:
            self.signatures[slot] = signature
            self.clusters[slot] = cluster

    def remove(self, uri: str) -> None:
        slot = self.slots.pop(uri, None)
        if slot is None:
            return
        last_uri = self.uris.pop()
        last_signature = self.signatures.pop()
        last_cluster = self.clusters.pop()
        if slot < len(self.uris):  # the removed one was not the last: fill its hole
            self.uris[slot] = last_uri
            self.signatures[slot] = last_signature
            self.clusters[slot] = last_cluster
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
        signatures = self.signatures
        best: tuple[int, str, str] | None = None
        start = 0
        while True:
            # The tight loop: most signatures are far, so it only asks "close?";
            # a hit's slot is found after, and the scan goes on past it.
            for other in islice(signatures, start, None):
                if (signature ^ other).bit_count() <= max_distance:
                    break
            else:
                return best[2] if best else None
            slot = signatures.index(other, start)  # the first equal one is this hit
            start = slot + 1
            if self.uris[slot] != uri:
                candidate = ((signature ^ other).bit_count(), self.uris[slot], self.clusters[slot])
                if best is None or candidate < best:
                    best = candidate
