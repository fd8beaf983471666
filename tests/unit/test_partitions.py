"""Partitions: a uri always lands in one partition, and partitions spread over the slots."""

from __future__ import annotations

import zlib

import pytest
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot
from shared.partitions import MAX_PARTITIONS, Partitions


def test_an_items_partition_is_the_crc32_of_its_uri_so_any_language_can_compute_it() -> None:
    partitions = Partitions(16)
    uri = "urn:newsfeed:demo:zelensky-cyprus"
    assert partitions.of(uri) == zlib.crc32(uri.encode()) % 16
    assert partitions.of(uri) == Partitions(16).of(uri)


@pytest.mark.parametrize("count", [1, 3, 16, 64])
def test_every_key_of_a_partition_shares_one_slot(count: int) -> None:
    partitions = Partitions(count)
    for index in partitions.indexes:
        slots = {
            key_slot(partitions.key(name, index).encode())
            for name in ("news.ingested", "news.enriched", "rm:item:urn:x", "delivery:errors")
        }
        assert slots == {partitions.slot(index)}


@pytest.mark.parametrize("count", [3, 16, 48])
def test_partitions_spread_evenly_over_a_clusters_primaries(count: int) -> None:
    # A default 3-primary cluster splits the slots into three contiguous ranges.
    partitions = Partitions(count)
    third = REDIS_CLUSTER_HASH_SLOTS // 3
    per_primary = [0, 0, 0]
    for index in partitions.indexes:
        per_primary[min(partitions.slot(index) // (third + 1), 2)] += 1
    assert max(per_primary) - min(per_primary) <= 1


def test_uris_spread_over_partitions() -> None:
    partitions = Partitions(16)
    counts = [0] * 16
    for n in range(16_000):
        counts[partitions.of(f"urn:example:{n}")] += 1
    assert min(counts) > 800
    assert max(counts) < 1200


@pytest.mark.parametrize("count", [0, MAX_PARTITIONS + 1])
def test_a_partition_count_out_of_range_is_refused(count: int) -> None:
    with pytest.raises(ValueError, match="partitions must be"):
        Partitions(count)
