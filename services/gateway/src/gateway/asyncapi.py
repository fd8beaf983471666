"""What the gateway reads, declared with FastStream for the AsyncAPI document
(tools/asyncapi.py) only.

The gateway runs no FastStream broker: its tail (gateway.tail) XREADs every
partition of news.published with no consumer group, in one loop over raw
bytes that feeds the page cache and the live updates. These subscribers
describe that read (FastStream's `xread` binding) and are never started.
"""

from __future__ import annotations

from faststream.redis import RedisBroker, StreamSub
from shared.entries import ENTRIES, unvalidated
from shared.partitions import Partitions
from shared.streams import PUBLISHED


async def _tail(entry: object) -> None:
    """Never called: it names the message for the document (below)."""


_tail.__annotations__["entry"] = unvalidated(ENTRIES[PUBLISHED])


def declare(broker: RedisBroker, partitions: Partitions) -> None:
    for index in partitions.indexes:
        key = partitions.key(PUBLISHED, index)
        broker.subscriber(
            stream=StreamSub(key),
            title=f"gateway:{key}",
            description=f"{partitions.describe(PUBLISHED, index)} Every gateway replica "
            "reads it with XREAD, no group, from where it ended when the replica started.",
        )(_tail)
