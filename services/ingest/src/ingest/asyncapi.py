"""What ingest writes, declared with FastStream for the AsyncAPI document
(tools/asyncapi.py) only.

Ingest runs no FastStream broker: its accept script (ingest.accept) checks the
item's version, bumps it and appends the event to the item's partition of
news.ingested in one step on one slot, which a FastStream publish — a command
of its own — cannot be part of. So these publishers describe that append and
are never called.
"""

from __future__ import annotations

from faststream.redis import RedisBroker
from shared.entries import ENTRIES
from shared.partitions import Partitions
from shared.streams import INGESTED


def declare(broker: RedisBroker, partitions: Partitions) -> None:
    for index in partitions.indexes:
        key = partitions.key(INGESTED, index)
        broker.publisher(
            stream=key,
            title=f"ingest:{key}",
            description=partitions.describe(INGESTED, index),
            schema=ENTRIES[INGESTED],
        )
