"""Server-Sent Events frames for /v1/stream (text/event-stream)."""

from __future__ import annotations

from typing import Any

import orjson
from shared.events import Event

from gateway.render.api import item_json

MEDIA_TYPE = "text/event-stream; charset=utf-8"


def event_frame(entry_id: str, kind: str, event: Event) -> bytes:
    """One event: `id` is the news.published entry id, so a client that reconnects
    with it as Last-Event-ID gets what came after; `data` is one line of JSON."""
    item = event.data
    data: dict[str, Any] = {
        "type": kind,
        "event_type": event.type.value,
        "uri": event.subject,
        "version": item.version,
        "time": event.time.isoformat().replace("+00:00", "Z"),
    }
    if kind == "killed":
        # A killed or withheld item's content is not shown again; a kill's note is.
        if item.ednote is not None and event.type.value.endswith(".killed"):
            data["ednote"] = item.ednote
    else:
        data["item"] = item_json(item)
    return b"id: %s\nevent: %s\ndata: %s\n\n" % (
        entry_id.encode(),
        kind.encode(),
        orjson.dumps(data),
    )


def retry_frame(retry_ms: int) -> bytes:
    return b"retry: %d\n\n" % retry_ms


def reset_frame(position: str) -> bytes:
    """Sent instead of a backlog the stream cannot give in full: reload the feed.
    Its `id` is the stream position now: what the client has once it reloaded, so
    it resumes from there if it reconnects before the next event."""
    return b'id: %s\nevent: reset\ndata: {"type":"reset"}\n\n' % position.encode()


HEARTBEAT = b": heartbeat\n\n"
