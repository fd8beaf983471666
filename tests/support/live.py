"""Live readers against real services while faults strike: what each one saw,
and what a page following its events would show.

`Readers` runs `EventSource`s (tests/support/event_source.py) in a thread of
their own. On `reset` a reader does what the page does: it reloads the feed's
state, here every item of the run from `/v1/feed`. `Publisher` keeps
submitting new items, updates and kills through ingest from another thread,
retrying through outages as any client of ingest would.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis as sync_redis
from shared.events import decode
from shared.partitions import Partitions
from shared.streams import PUBLISHED

from tests.support.chaos import feed_items
from tests.support.event_source import EventSource, Received
from tests.support.services import TOKEN

Key = tuple[str, int, str]  # (uri, version, event type): one published event
View = dict[str, int]  # uri -> version of every item the page shows


def feed_versions(gateway: str, prefix: str) -> View:
    """The items of this run the feed shows now, with their versions (every page)."""
    return {
        item["uri"]: int(item["version"])
        for item in feed_items(gateway)
        if item["uri"].startswith(prefix)
    }


def published(redis_url: str, partitions: int, prefix: str) -> list[tuple[int, str, Key]]:
    """Every event of this run on news.published, as (partition, entry id, key)."""
    client = sync_redis.Redis.from_url(redis_url, decode_responses=True)
    out: list[tuple[int, str, Key]] = []
    for index, name in enumerate(Partitions(partitions).keys(PUBLISHED)):
        for entry_id, fields in client.xrange(name):
            event = decode(fields)
            if event.subject.startswith(prefix):
                out.append((index, entry_id, (event.subject, event.data.version, event.type.value)))
    client.close()
    return out


def key_of(event: Received) -> Key:
    return (str(event.data["uri"]), int(event.data["version"]), str(event.data["event_type"]))


def position(last_event_id: str) -> tuple[tuple[int, int], ...]:
    return tuple(
        (int(ms), int(seq or 0))
        for ms, _, seq in (part.partition("-") for part in last_event_id.split("."))
    )


@dataclass
class Reader:
    """One live reader and what its page would show."""

    source: EventSource
    gateway: str
    prefix: str
    reloads: dict[int, View] = field(default_factory=dict)  # event index -> state reloaded
    checked: int = 0  # events already checked (by an earlier phase of a test)

    async def reload(self) -> None:
        """After `reset`: the page reloads its feed (here every item of the run)."""
        self.reloads[len(self.source.events) - 1] = await asyncio.to_thread(
            feed_versions, self.gateway, self.prefix
        )

    def view(self) -> View:
        """What the page shows after applying every event in order, reloading on reset."""
        state: dict[str, tuple[int, bool]] = {}
        for index, event in enumerate(self.source.events):
            if event.type == "reset":
                state = {uri: (v, True) for uri, v in self.reloads.get(index, {}).items()}
                continue
            uri, version = str(event.data["uri"]), int(event.data["version"])
            if not uri.startswith(self.prefix):
                continue
            if version >= state.get(uri, (0, False))[0]:
                state[uri] = (version, event.type != "killed")
        return {uri: version for uri, (version, alive) in state.items() if alive}

    def keys(self) -> set[Key]:
        return {key_of(event) for event in self.source.events if event.type != "reset"}

    def duplicate_ids(self) -> list[str]:
        seen: set[str] = set()
        doubled: list[str] = []
        for event in self.source.events:
            if event.type != "reset":
                if event.last_event_id in seen:
                    doubled.append(event.last_event_id)
                seen.add(event.last_event_id)
        return doubled

    def ids_going_back(self) -> list[tuple[str, str]]:
        """Consecutive ids where the second is behind the first in some partition
        (not counted across a reset, after which the position starts again)."""
        back: list[tuple[str, str]] = []
        previous: str | None = None
        for event in self.source.events:
            if event.type == "reset":
                previous = None
                continue
            at = event.last_event_id
            if previous is not None and any(
                a < b for a, b in zip(position(at), position(previous), strict=False)
            ):
                back.append((previous, at))
            previous = at
        return back

    def out_of_order(self) -> list[str]:
        """Items whose versions arrived out of order (each id counted once; not
        across a reset, after which the page starts again)."""
        last: dict[str, int] = {}
        seen: set[str] = set()
        bad: list[str] = []
        for event in self.source.events:
            if event.type == "reset":
                last.clear()  # the page reloads: versions are judged afresh
                continue
            if event.last_event_id in seen:
                continue
            seen.add(event.last_event_id)
            uri, version = str(event.data["uri"]), int(event.data["version"])
            if version < last.get(uri, 0):
                bad.append(f"{uri} v{version} after v{last[uri]}")
            last[uri] = max(version, last.get(uri, 0))
        return bad


class Readers:
    """Live readers running in a thread with their own event loop."""

    def __init__(self) -> None:
        self.readers: list[Reader] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._stops: dict[int, asyncio.Event] = {}
        self._tasks: dict[int, Any] = {}

    def follow(self, reader: Reader) -> Reader:
        """Start (or start again, keeping its last event id) following the stream."""
        if reader not in self.readers:
            self.readers.append(reader)

        async def run() -> None:
            stop = asyncio.Event()
            self._stops[id(reader)] = stop
            reader.source.on_reset = reader.reload
            await reader.source.run(stop)

        self._tasks[id(reader)] = asyncio.run_coroutine_threadsafe(run(), self._loop)
        return reader

    def pause(self, reader: Reader) -> None:
        """Stop following (the tab is closed); `follow` resumes it."""
        stop = self._stops.get(id(reader))
        if stop is not None:
            self._loop.call_soon_threadsafe(stop.set)
            self._tasks[id(reader)].result(15)

    def close(self) -> None:
        for reader in self.readers:
            self.pause(reader)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


class Publisher(threading.Thread):
    """Submits new items, updates and kills through ingest until stopped.

    Step i submits item i; every third step also updates item i-2, every
    fifth kills item i-4 (after its update). A submission is retried until
    ingest accepts it (outages answer 5xx or refuse the connection)."""

    def __init__(self, ingest: str, prefix: str, rate_per_s: float = 10.0) -> None:
        super().__init__(daemon=True)
        self.ingest = ingest
        self.prefix = prefix
        self.interval = 1.0 / rate_per_s
        self.accepted = 0
        self.versions: dict[str, int | None] = {}  # what ingest acknowledged; None: killed
        self.failures: list[str] = []
        self._stop_event = threading.Event()
        self._step = 0

    def uri(self, i: int) -> str:
        return f"{self.prefix}{i:05d}"

    def operations(self, i: int) -> Iterable[dict[str, object]]:
        yield {
            "uri": self.uri(i),
            "headline": f"Live item {i}",
            "body_html": f"<p>Item {i}: the council met in Kyiv about air defence.</p>",
            "authors": [{"name": "Live desk", "role": "desk"}],
        }
        if i % 3 == 2:
            k = i - 2
            yield {
                "uri": self.uri(k),
                "headline": f"Live item {k}",
                "body_html": f"<p>Item {k}: the council met in Kyiv about air defence.</p>"
                "<p>Update: a statement followed.</p>",
                "authors": [{"name": "Live desk", "role": "desk"}],
            }
        if i % 5 == 4:
            yield {"uri": self.uri(i - 4), "pubstatus": "canceled", "ednote": "Withdrawn."}

    def submit(self, client: httpx.Client, body: dict[str, object]) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                response = client.post(f"{self.ingest}/v1/items", json=body)
                if response.status_code == 202:
                    self.accepted += 1
                    killed = body.get("pubstatus") == "canceled"
                    self.versions[str(body["uri"])] = None if killed else response.json()["version"]
                    return
                if response.status_code < 500:
                    self.failures.append(f"{body['uri']}: {response.status_code} {response.text}")
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.failures.append(f"{body['uri']}: not accepted within 60 s")

    def expected(self) -> View:
        """The items the feed must show once everything acknowledged went through."""
        return {uri: v for uri, v in self.versions.items() if v is not None}

    def publish(self, steps: int) -> None:
        """Submit `steps` steps now, from the caller's thread (the publisher not running)."""
        with httpx.Client(timeout=10, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            for _ in range(steps):
                for body in self.operations(self._step):
                    self.submit(client, body)
                self._step += 1

    def run(self) -> None:
        with httpx.Client(timeout=10, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            while not self._stop_event.wait(self.interval):
                for body in self.operations(self._step):
                    self.submit(client, body)
                self._step += 1

    def stop(self) -> None:
        self._stop_event.set()
        self.join(90)
