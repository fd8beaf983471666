"""Poll a feed's bytes through ingest's real poller, acceptor and identity index
on a real Redis, twice, and say what each poll did.

The fetch is the one part left out (`BytesFetcher` hands over the bytes as a
200 without validators, so every poll downloads and parses the whole feed):
what is checked here — identity, change detection, renditions — does not
depend on HTTP. Used by the corpus re-poll test and, on any folder of feeds,
as `python -m tests.support.poll_rig DIR...`.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urljoin

import redis.asyncio as aioredis
from ingest.accept import Acceptor
from ingest.feed_items import to_candidate
from ingest.fetch import Fetched, Validators
from ingest.identity import IdentityIndex
from ingest.parse import ParseFailed, parse_feed
from ingest.poller import Poller, PollPolicy
from ingest.source_state import Registered, SourceStore
from ingest.sources import SourceConfig
from shared.events import Event, decode
from shared.redis_client import connect
from shared.streams import INGESTED

from tests.support.feed_check import feed_files, headers_of
from tests.support.streams import ONE, stream

POLICY = PollPolicy(min_interval_s=0, future_tolerance_s=600, max_entries=500)


class BytesFetcher:
    """A fetcher that answers every fetch with the same bytes."""

    def __init__(self, body: bytes, content_type: str | None) -> None:
        self.body = body
        self.content_type = content_type

    async def fetch(self, url: str, validators: Validators) -> Fetched:
        return Fetched(url, 200, self.body, self.content_type, Validators(None, None), None)

    async def aclose(self) -> None:
        return None


@dataclass
class Repolled:
    """Two polls of the same bytes."""

    name: str
    outcome: str
    first: Counter[str] = field(default_factory=Counter)
    second: Counter[str] = field(default_factory=Counter)
    items: int = 0  # distinct uris the first poll emitted
    guids: int = 0  # distinct guids among the entries that became items
    guid_uris: int = 0  # distinct uris those guids resolved to
    media_items: int = 0  # items from entries that carry media
    media_items_with_renditions: int = 0

    @property
    def merged_guids(self) -> int:
        return self.guids - self.guid_uris


async def repoll(
    redis: aioredis.Redis, source_id: str, name: str, body: bytes, base_url: str
) -> Repolled:
    headers = headers_of(body)
    content_type = headers.get("content-type")
    url = urljoin(base_url, headers.get("content-location", base_url))
    if not url.startswith(("http://", "https://")):
        url = base_url  # a test feed's hostile Content-Location
    source = SourceConfig.model_validate({"id": source_id, "url": url})
    store = SourceStore(redis, max_sources=1_000_000)
    acceptor = Acceptor(redis, ONE)
    poller = Poller(store, BytesFetcher(body, content_type), acceptor, POLICY)  # type: ignore[arg-type]
    if await store.get(source_id) is None:
        await store.create(Registered(source, "api"), datetime.now(UTC))
    start = await _last_id(redis)
    first = await poller.poll(source)
    middle = await _last_id(redis)
    second = await poller.poll(source)
    # Other sources may be polled at the same time: only this source's events count.
    ours = await _events_of(redis, source_id, start)
    firsts = [event for entry_id, event in ours if _id(entry_id) <= _id(middle)]
    result = Repolled(name, first.outcome, first.counts, second.counts)
    result.items = len({event.subject for event in firsts})
    result.second["emitted"] = len(ours) - len(firsts)
    if first.outcome != "ok":
        return result
    await _identities(redis, result, source, body, content_type, url, firsts)
    return result


def _id(entry_id: str) -> tuple[int, int]:
    if entry_id == "-":
        return (0, 0)
    ms, _, seq = entry_id.partition("-")
    return (int(ms), int(seq))


async def _last_id(redis: aioredis.Redis) -> str:
    last = await redis.xrevrange(stream(INGESTED), count=1)
    return str(last[0][0]) if last else "-"


async def _events_of(redis: aioredis.Redis, source_id: str, after: str) -> list[tuple[str, Event]]:
    since = f"({after}" if after != "-" else "-"
    ours = []
    for entry_id, fields in await redis.xrange(stream(INGESTED), min=since):
        event = decode(fields)
        if event.data.source == source_id:
            ours.append((str(entry_id), event))
    return ours


async def _identities(
    redis: aioredis.Redis,
    result: Repolled,
    source: SourceConfig,
    body: bytes,
    content_type: str | None,
    url: str,
    events: list[Event],
) -> None:
    """Distinct guids against distinct uris, and renditions of media entries.
    Resolving again binds nothing new: every key was bound by the poll."""
    try:
        parsed = parse_feed(body, content_type, url, POLICY.max_entries)
    except ParseFailed:
        return
    index = IdentityIndex(redis)
    by_uri = {event.data.uri: event.data for event in events}
    guid_uri: dict[str, str] = {}
    for entry in parsed.entries:
        try:
            candidate = to_candidate(
                entry,
                source,
                feed_language=parsed.language,
                fetched_at=datetime.now(UTC),
                future_tolerance=timedelta(seconds=POLICY.future_tolerance_s),
            )
        except ValueError:
            continue
        uri = await index.resolve(candidate.identity)
        if entry.guid and entry.guid not in guid_uri:
            guid_uri[entry.guid] = uri
        if entry.media and uri in by_uri:
            result.media_items += 1
            result.media_items_with_renditions += bool(by_uri[uri].renditions)
    result.guids = len(guid_uri)
    result.guid_uris = len(set(guid_uri.values()))


async def _main(folders: list[str]) -> int:
    from tools.devstack import RedisServer

    totals: Counter[str] = Counter()
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as work:
        server = RedisServer(workdir=Path(work)).start()
        try:
            redis = connect(server.url)
            for number, path in enumerate(feed_files(folders), 1):
                got = await repoll(
                    redis,
                    f"f{number}",
                    str(path),
                    path.read_bytes(),
                    "https://feeds.example.org/" + path.name,
                )
                totals["feeds"] += 1
                totals[f"first poll {got.outcome}"] += 1
                totals["items"] += got.items
                changed = got.second["new"] + got.second["updated"]
                totals["second poll: new or updated"] += changed
                totals["second poll: events"] += got.second["emitted"]
                totals["distinct guids"] += got.guids
                totals["merged guids"] += got.merged_guids
                totals["media items"] += got.media_items
                totals["media items with renditions"] += got.media_items_with_renditions
                if got.second["emitted"] or got.merged_guids:
                    problems.append(f"{path}: {got}")
            await redis.aclose()
        finally:
            server.stop()
    for key, value in sorted(totals.items()):
        print(f"{key:40} {value}")
    for line in problems[:30]:
        print("  problem:", line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_main(sys.argv[1:])))
