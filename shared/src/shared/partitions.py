"""Partitions: every stage's stream, and the keys written with it, split N ways.

An item's partition is a stable hash of its `uri` (CRC-32, the same in any
language), so all events of one item go through one partition, in order.
Every key of partition `p` — its stream at each stage, the entries' error
bookkeeping, ingest's item state, the read model's documents and its slice
of each feed index — carries one hash tag, `{nf<N>.<p>.<k>}`. On a Redis
Cluster they therefore share one hash slot, and what must be atomic (ingest's
accept, a worker's settle: XADD downstream + XACK upstream, dead-lettering,
publication's read-model write) runs as one MULTI or one script in one slot.

The tag is not just `p`: `k` is the smallest number that puts the tag's slot
in the p-th N-th of the 16,384 slots, so the N partitions are spread evenly
over the slot range and therefore over a cluster's primaries (a default
cluster gives each primary a contiguous range). With N = 1 there is one tag
and everything sits in one slot, as on a single Redis.

N is fixed for the life of the data: a different N would move items to other
partitions. `shared.partitions` only names things; checking N against the one
the data was written with is the delivery layer's job at start-up.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import cached_property

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

MAX_PARTITIONS = 256


def _tag_for(index: int, count: int) -> str:
    low = index * REDIS_CLUSTER_HASH_SLOTS // count
    high = (index + 1) * REDIS_CLUSTER_HASH_SLOTS // count
    k = 0
    while True:
        tag = f"nf{count}.{index}.{k}"
        if low <= key_slot(tag.encode()) < high:
            return tag
        k += 1


@dataclass(frozen=True)
class Partitions:
    """N partitions: which one a uri goes to, and the names of their keys."""

    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_PARTITIONS:
            raise ValueError(f"partitions must be 1..{MAX_PARTITIONS}, not {self.count}")

    @cached_property
    def tags(self) -> tuple[str, ...]:
        """The hash tag of each partition (without braces), by index."""
        return tuple(_tag_for(index, self.count) for index in range(self.count))

    @property
    def indexes(self) -> range:
        return range(self.count)

    def of(self, uri: str) -> int:
        """The partition of an item: stable across processes, languages and restarts."""
        return zlib.crc32(uri.encode()) % self.count

    def key(self, name: str, index: int) -> str:
        """`name` in partition `index`: `news.ingested:{nf16.3.40}`."""
        return f"{name}:{{{self.tags[index]}}}"

    def key_for(self, name: str, uri: str) -> str:
        return self.key(name, self.of(uri))

    def keys(self, name: str) -> tuple[str, ...]:
        """`name` in every partition, by index."""
        return tuple(self.key(name, index) for index in self.indexes)

    def describe(self, name: str, index: int) -> str:
        """What `key(name, index)` is, for documents (the AsyncAPI channels)."""
        return (
            f"`{name}`, partition {index} of {self.count}: the items whose uri's CRC-32 mod "
            f"{self.count} is {index}. With N partitions every stream has N keys "
            f"`{name}:{{nf<N>.<p>.<k>}}` (NEWSFEED_PARTITIONS), p in 0..N-1 and k the smallest "
            "number that puts the tag's slot in the p-th N-th of the 16,384; the braces are a "
            "Redis Cluster hash tag shared by all of a partition's keys (one slot: "
            "shared.partitions, docs/scaling.md), not an AsyncAPI parameter."
        )

    def slot(self, index: int) -> int:
        return int(key_slot(self.tags[index].encode()))
