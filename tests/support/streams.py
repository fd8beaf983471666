"""Stream names as the services write them: a stage's stream in one partition."""

from __future__ import annotations

from shared.partitions import Partitions

ONE = Partitions(1)  # the default NEWSFEED_PARTITIONS


def stream(name: str, partition: int = 0, partitions: Partitions = ONE) -> str:
    """`name` (INGESTED, ENRICHED, ...) in `partition` of `partitions`."""
    return partitions.key(name, partition)
