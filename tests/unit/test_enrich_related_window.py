"""Related stories in memory: the replica's window, its search, and SimHash."""

from __future__ import annotations

import hashlib
import random

from enrichment.stages.related import BITS, simhash
from enrichment.stages.window import REMOVED, Window, encode


def reference_simhash(weighted: list[tuple[str, int]]) -> int:
    """SimHash written plainly: bit i is set when the features whose hash has
    bit i set weigh more than half of all."""
    counts = [0] * BITS
    for feature, weight in weighted:
        digest_bytes = hashlib.blake2b(feature.encode(), digest_size=16).digest()
        digest = int.from_bytes(digest_bytes, "little")
        for i in range(BITS):
            counts[i] += weight * ((digest >> i) & 1)
    total = sum(weight for _, weight in weighted)
    return sum(1 << i for i in range(BITS) if 2 * counts[i] > total)


def test_simhash_is_the_plain_definition() -> None:
    rng = random.Random(5)
    vocabulary = [f"word{n}" for n in range(300)] + ["Galuzin", "Одеса", "talk"]
    for size in (0, 1, 2, 4, 17, 60, 400):
        weighted = [(rng.choice(vocabulary), rng.choice((1, 3))) for _ in range(size)]
        assert simhash(weighted) == reference_simhash(weighted)


def brute_force_nearest(
    entries: dict[str, tuple[int, str]], signature: int, uri: str, max_distance: int
) -> str | None:
    close = sorted(
        ((signature ^ other).bit_count(), other_uri, cluster)
        for other_uri, (other, cluster) in entries.items()
        if other_uri != uri and (signature ^ other).bit_count() <= max_distance
    )
    return close[0][2] if close else None


def near(signature: int, bits: int, rng: random.Random) -> int:
    for position in rng.sample(range(BITS), bits):
        signature ^= 1 << position
    return signature


def test_the_nearest_is_the_closest_within_the_distance_whatever_the_order() -> None:
    rng = random.Random(8)
    window = Window()
    entries: dict[str, tuple[int, str]] = {}
    stories = [rng.getrandbits(BITS) for _ in range(20)]
    for n in range(600):
        story = rng.choice(stories)
        signature = near(story, rng.randrange(0, 40), rng) if n % 3 else rng.getrandbits(BITS)
        uri, cluster = f"urn:t:{n}", f"cluster-{n % 50}"
        window.put(uri, signature, cluster)
        entries[uri] = (signature, cluster)
        if n % 7 == 0:  # removals move the last slot into the hole
            gone = rng.choice(sorted(entries))
            window.remove(gone)
            del entries[gone]
    assert len(window) == len(entries)
    assert {u: (window.signatures[s], window.clusters[s]) for u, s in window.slots.items()} == (
        entries
    )
    for _ in range(200):
        query = near(rng.choice(stories), rng.randrange(0, 40), rng)
        uri = rng.choice(sorted(entries))
        assert window.nearest(query, uri, 28) == brute_force_nearest(entries, query, uri, 28)


def test_ties_go_to_the_smallest_uri_and_an_item_is_not_its_own_neighbour() -> None:
    window = Window()
    window.put("urn:t:b", 0b1111, "cluster-b")
    window.put("urn:t:a", 0b1111, "cluster-a")
    window.put("urn:t:self", 0b0111, "cluster-self")
    assert window.nearest(0b0111, "urn:t:self", 2) == "cluster-a"
    assert window.nearest(0b0111, "urn:t:self", 0) is None
    assert window.nearest(1 << 100, "urn:t:x", 3) is None


def test_a_change_log_entry_adds_updates_and_trims() -> None:
    window = Window()
    window.put("urn:t:old", 1, "c1")
    window.put("urn:t:kept", 2, "c2")
    window.apply(
        {"urn:t:old": REMOVED, "urn:t:kept": encode(3, "c3"), "urn:t:new": encode(4, "c4")}
    )
    assert sorted(window.slots) == ["urn:t:kept", "urn:t:new"]
    assert window.nearest(3, "urn:t:x", 0) == "c3"
    window.replace([("urn:t:only", encode(5, "c5"))])
    assert window.uris == ["urn:t:only"]
    assert "urn:t:kept" not in window
