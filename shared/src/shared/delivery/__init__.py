"""At-least-once delivery with effects exactly once, on Redis Streams, carried by FastStream.

FastStream 0.7 alone reads without COUNT unless told, never recovers entries a
dead consumer left pending, acks a batch whole, has no delivery cap and creates
groups at `$` (docs/delivery.md, "What FastStream leaves to us"). This
package gives every service all of that once:

- `groups.ensure_groups`: groups created at id 0 on every partition before
  anyone writes, and the partition count checked against the data's;
- `worker.StreamWorker`: FastStream batch subscribers on every partition, ack
  after the effect per entry, recovery of abandoned entries, retry of failed
  ones, a delivery cap with dead letters, clean stop, and a clear failure
  when Redis lost the group;
- `deadletter`: list, show, replay and drop dead letters across partitions;
- `trimming.trim_stream`: trims a stream without dropping unacknowledged entries.

The worker (and FastStream with it) is imported on first use, so services
that only create groups or read the partition count (ingest, the gateway's
metrics) do not load it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.delivery.groups import GroupLost, ensure_groups

if TYPE_CHECKING:
    from shared.delivery.worker import Done, Failed, Handler, Result, StreamWorker

_WORKER_NAMES = frozenset({"Done", "Failed", "Handler", "Result", "StreamWorker"})


def __getattr__(name: str) -> Any:
    if name in _WORKER_NAMES:
        from shared.delivery import worker

        return getattr(worker, name)
    raise AttributeError(f"module 'shared.delivery' has no attribute {name!r}")


__all__ = ["Done", "Failed", "GroupLost", "Handler", "Result", "StreamWorker", "ensure_groups"]
