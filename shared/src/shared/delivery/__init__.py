"""At-least-once delivery with effects exactly once, on Redis Streams.

FastStream 0.7 alone reads without COUNT, never recovers entries a dead
consumer left pending, has no delivery cap and creates groups at `$` (see
docs/delivery.md). This package gives every service all of that once:

- `groups.ensure_groups`: groups created at id 0 before anyone writes;
- `worker.StreamWorker`: bounded batch reads, ack after the effect, recovery
  of abandoned entries, retry of failed ones, a delivery cap with dead letters,
  clean stop, and a clear failure when Redis lost the group;
- `deadletter`: list, show, replay and drop dead letters;
- `trimming.trim_stream`: trims a stream without dropping unacknowledged entries.
"""

from shared.delivery.groups import GroupLost, ensure_groups
from shared.delivery.worker import Done, Failed, Handler, Result, StreamWorker

__all__ = ["Done", "Failed", "GroupLost", "Handler", "Result", "StreamWorker", "ensure_groups"]
