"""Polling sources end to end inside ingest: a real local feed server and a real Redis.

Fetch → parse → identity → accept (the same atomic step as the API) → news.ingested,
with the source's state recording every outcome.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from ingest.accept import Acceptor
from ingest.entries import SourceKind, accept_entries
from ingest.fetch import Fetcher, FetchPolicy
from ingest.identity import link_uri
from ingest.netguard import AddressPolicy
from ingest.parse import parse_feed
from ingest.poller import Poller, PollPolicy, PollResult
from ingest.source_state import DUE, Registered, SourceStore
from ingest.sources import SourceConfig
from ingest.submission import Submission
from prometheus_client import REGISTRY
from shared.events import Event, decode
from shared.items import PubStatus
from shared.streams import INGESTED

from tests.support.feed_fixtures import fixture
from tests.support.streams import ONE, stream
from tools.devstack.feed_server import FeedServer, Item, Route, rss

LOCAL = "127.0.0.1,localhost"
FETCH = FetchPolicy(max_bytes=1_000_000, timeout_s=1.0, connect_timeout_s=1.0, max_redirects=3)
POLL = PollPolicy(min_interval_s=0, backoff_ceiling_s=3600, future_tolerance_s=600, max_entries=10)
BASE = datetime(2026, 1, 7, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def server() -> Iterator[FeedServer]:
    running = FeedServer().start()
    yield running
    running.stop()


@dataclass
class Rig:
    redis: aioredis.Redis
    server: FeedServer
    store: SourceStore
    acceptor: Acceptor
    poller: Poller

    async def source(self, source_id: str, path: str, **settings: Any) -> SourceConfig:
        config = SourceConfig.model_validate(
            {"id": source_id, "url": self.server.url(path), "poll_interval_seconds": 60, **settings}
        )
        await self.store.create(Registered(config, "api"), datetime.now(UTC))
        return config

    async def poll(self, config: SourceConfig) -> PollResult:
        return await self.poller.poll(config)

    async def events(self) -> list[Event]:
        return [decode(fields) for _, fields in await self.redis.xrange(stream(INGESTED))]


@pytest.fixture
async def rig(redis: aioredis.Redis, server: FeedServer) -> AsyncIterator[Rig]:
    store = SourceStore(redis)
    acceptor = Acceptor(redis, ONE)
    fetcher = Fetcher(FETCH, AddressPolicy.from_setting(LOCAL))
    yield Rig(redis, server, store, acceptor, Poller(store, fetcher, acceptor, POLL, rng=lambda: 0))
    await fetcher.aclose()


# -- every kind of feed -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "count", "content_type"),
    [
        ("wire.rss.xml", "rss2.0", 2, "application/rss+xml"),
        ("wire.atom.xml", "atom1.0", 2, "application/atom+xml"),
        ("wire.rdf.xml", "rss1.0", 1, "application/rdf+xml"),
        ("wire.feed.json", "jsonfeed1.1", 2, "application/feed+json"),
    ],
)
async def test_each_feed_kind_becomes_items_carrying_the_source_defaults(
    rig: Rig, name: str, kind: str, count: int, content_type: str
) -> None:
    path = f"/kinds/{name}"
    rig.server.serve(path, Route(body=fixture(name), content_type=content_type))
    desk = {"name": "Kyiv Wire desk", "role": "desk", "biography": "Checked updates."}
    source = await rig.source(
        "wire", path, authors=[desk], language="uk", subjects=["Ukraine"], timezone="Europe/Kyiv"
    )
    result = await rig.poll(source)
    assert result.outcome == "ok"
    events = await rig.events()
    assert len(events) == count
    for event in events:
        item = event.data
        assert item.source == "wire"
        assert item.version == 1
        assert item.headline
        assert item.subjects[0].name == "Ukraine"
        assert item.subjects[0].creator == "source"
        assert item.firstcreated.tzinfo is not None
        assert item.authors
        if item.link is not None:
            assert "utm_" not in str(item.link)
            assert "#" not in str(item.link)
            assert item.uri == link_uri(str(item.link))
    state = await rig.store.state("wire")
    assert state.kind == kind
    assert state.last_outcome == "ok"
    assert state.entries_last_fetch == count
    assert state.new_last_fetch == count
    assert state.items_seen == count
    assert state.items_emitted_total == count


async def test_rss_items_have_utc_dates_canonical_links_and_feed_categories(rig: Rig) -> None:
    rig.server.serve("/rss-detail", Route(body=fixture("wire.rss.xml")))
    await rig.poll(await rig.source("wire", "/rss-detail"))
    by_headline = {e.data.headline: e.data for e in await rig.events()}
    zelensky = by_headline["Zelensky in Cyprus for talks with Christodoulides and EU leaders"]
    assert str(zelensky.link) == "https://wire.example.org/news/zelensky-cyprus"
    assert zelensky.firstcreated == datetime(2026, 1, 7, 10, 40, tzinfo=UTC)
    assert [(s.name, s.creator) for s in zelensky.subjects] == [("Diplomacy", "feed")]
    assert zelensky.authors[0].name == "Kyiv Wire desk"
    assert zelensky.language == "en"  # the feed's own language


# -- conditional GET, re-polls and change detection --------------------------------------


async def test_conditional_get_gives_304_and_no_new_events(rig: Rig) -> None:
    rig.server.serve("/etag-feed", Route(body=fixture("wire.rss.xml"), etag='"abc"'))
    source = await rig.source("wire", "/etag-feed")
    await rig.poll(source)
    assert len(await rig.events()) == 2
    again = await rig.poll(source)
    assert again.outcome == "not_modified"
    assert len(await rig.events()) == 2
    assert rig.server.seen("/etag-feed")[1].headers["If-None-Match"] == '"abc"'
    # Each fetch is counted per source and outcome, with its duration, for /metrics.
    fetches = REGISTRY.get_sample_value(
        "newsfeed_source_fetches_total", {"source": "wire", "outcome": "not_modified"}
    )
    assert fetches is not None
    assert fetches >= 1
    timed = REGISTRY.get_sample_value("newsfeed_source_fetch_seconds_count", {"source": "wire"})
    assert timed is not None
    assert timed >= 2
    state = await rig.store.state("wire")
    assert (state.last_outcome, state.last_http_status, state.etag) == (
        "not_modified",
        304,
        '"abc"',
    )


async def test_100_repolls_of_an_unchanged_feed_emit_nothing(rig: Rig) -> None:
    """No ETag, no Last-Modified: every poll downloads and parses the feed, and
    material-change detection alone keeps the stream quiet."""
    rig.server.serve("/unchanged", Route(body=fixture("wire.rss.xml")))
    source = await rig.source("wire", "/unchanged")
    await rig.poll(source)
    first = await rig.events()
    for _ in range(100):
        result = await rig.poll(source)
        assert result.outcome == "ok"
        assert result.counts["unchanged"] == 2
    assert await rig.events() == first
    assert rig.server.count("/unchanged") == 101
    state = await rig.store.state("wire")
    assert (state.unchanged_last_fetch, state.items_emitted_total, state.items_seen) == (2, 2, 2)


async def test_identity_holds_across_a_title_change(rig: Rig) -> None:
    """Same guid, new title and even a new link slug: the same uri, version 2."""
    old = Item(
        "Blast heard in Kyiv",
        guid="wire-77",
        link="https://wire.example.org/news/blast-heard",
        date=BASE,
    )
    rig.server.serve("/titles", Route(body=rss([old])))
    source = await rig.source("wire", "/titles")
    await rig.poll(source)
    new = Item(
        "Air defence shoots down drones over Kyiv",
        guid="wire-77",
        link="https://wire.example.org/news/air-defence-drones",
        date=BASE,
    )
    rig.server.serve("/titles", Route(body=rss([new])))
    result = await rig.poll(source)
    assert result.counts["updated"] == 1
    first, second = await rig.events()
    assert second.data.uri == first.data.uri
    assert second.data.version == 2
    assert second.data.headline == "Air defence shoots down drones over Kyiv"
    assert second.data.firstcreated == first.data.firstcreated


async def test_identity_by_link_holds_across_a_title_change_without_a_guid(rig: Rig) -> None:
    link = "https://wire.example.org/news/grain"
    rig.server.serve("/no-guid", Route(body=rss([Item("Grain ships leave", link=link)])))
    source = await rig.source("wire", "/no-guid")
    await rig.poll(source)
    rig.server.serve(
        "/no-guid", Route(body=rss([Item("Three grain ships leave Odesa", link=link)]))
    )
    await rig.poll(source)
    first, second = await rig.events()
    assert first.data.uri == second.data.uri == link_uri(link)
    assert second.data.version == 2


async def test_a_cosmetic_change_emits_nothing_and_a_material_one_emits_version_2(
    rig: Rig,
) -> None:
    base = Item("Kyiv metro  reopens", guid="m-1", body="<p>Trains run again.</p>", date=BASE)
    rig.server.serve("/material", Route(body=rss([base])))
    source = await rig.source("wire", "/material")
    await rig.poll(source)
    spaced = Item(" Kyiv metro reopens ", guid="m-1", body="<p>Trains run again.</p>", date=BASE)
    rig.server.serve("/material", Route(body=rss([spaced])))
    assert (await rig.poll(source)).counts["unchanged"] == 1
    edited = Item(
        "Kyiv metro reopens", guid="m-1", body="<p>Trains run again at 6:00.</p>", date=BASE
    )
    rig.server.serve("/material", Route(body=rss([edited])))
    assert (await rig.poll(source)).counts["updated"] == 1
    assert [e.data.version for e in await rig.events()] == [1, 2]


async def test_the_same_story_from_the_api_and_a_feed_is_one_item(rig: Rig) -> None:
    """An editor posts the story with its link; the feed lists it (tracking
    parameters and all): one uri. The feed's differing text is version 2 once;
    re-polls add nothing, and never undo the editor's later edit."""
    posted = await rig.acceptor.accept(
        Submission(
            headline="Zelensky lands in Cyprus",
            body_html="<p>Editor's version.</p>",
            link="https://wire.example.org/news/cyprus?utm_source=newsletter",
        ),
        "0" * 31 + "1",
    )
    assert posted.uri == link_uri("https://wire.example.org/news/cyprus")
    feed_item = Item("Zelensky in Cyprus", guid="c-1", link="http://WIRE.example.org/news/cyprus#x")
    rig.server.serve("/same-story", Route(body=rss([feed_item])))
    source = await rig.source("wire", "/same-story")
    assert (await rig.poll(source)).counts["updated"] == 1
    edit = await rig.acceptor.accept(
        Submission(uri=posted.uri, headline="Zelensky lands in Cyprus", body_html="<p>Edited.</p>"),
        "0" * 31 + "2",
    )
    assert edit.version == 3
    for _ in range(3):
        assert (await rig.poll(source)).counts["unchanged"] == 1
    events = await rig.events()
    assert {e.data.uri for e in events} == {posted.uri}
    assert [e.data.version for e in events] == [1, 2, 3]
    assert [e.data.source for e in events] == ["api", "wire", "api"]


async def test_a_killed_item_is_not_brought_back_by_its_feed(rig: Rig) -> None:
    """Killed by an editor (pubstatus canceled): the feed still lists it, even
    edited, and it stays dead — a tombstone."""
    story = Item("Unverified claim", guid="k-1", body="<p>First text.</p>", date=BASE)
    rig.server.serve("/tombstone", Route(body=rss([story])))
    source = await rig.source("wire", "/tombstone")
    await rig.poll(source)
    (ingested,) = await rig.events()
    kill = Submission(
        uri=ingested.data.uri, pubstatus=PubStatus.canceled, ednote="Sourcing failed."
    )
    assert (await rig.acceptor.accept(kill, "0" * 31 + "3")).version == 2
    edited = Item("Unverified claim (updated)", guid="k-1", body="<p>More.</p>", date=BASE)
    for body in (rss([story]), rss([edited])):
        rig.server.serve("/tombstone", Route(body=body))
        result = await rig.poll(source)
        assert result.counts["tombstoned"] == 1
    events = await rig.events()
    assert [e.data.pubstatus for e in events] == [PubStatus.usable, PubStatus.canceled]
    assert (await rig.store.state("wire")).tombstoned_last_fetch == 1


async def test_an_editor_can_still_restore_a_killed_item(rig: Rig) -> None:
    uri = "urn:newsfeed:test:restorable"
    await rig.acceptor.accept(Submission(uri=uri, headline="A"), "0" * 31 + "4")
    await rig.acceptor.accept(Submission(uri=uri, pubstatus=PubStatus.canceled), "0" * 31 + "5")
    back = await rig.acceptor.accept(Submission(uri=uri, headline="A, confirmed"), "0" * 31 + "6")
    assert back.changed
    assert back.version == 3


# -- dates -------------------------------------------------------------------------------


async def test_future_dates_are_clamped_and_flagged_and_missing_ones_take_the_fetch_time(
    rig: Rig,
) -> None:
    future = datetime.now(UTC) + timedelta(days=3)
    items = [Item("From the future", guid="f-1", date=future), Item("Undated", guid="u-1")]
    rig.server.serve("/dates", Route(body=rss(items)))
    source = await rig.source("wire", "/dates")
    before = datetime.now(UTC)
    result = await rig.poll(source)
    after = datetime.now(UTC)
    assert result.counts["clamped"] == 1
    for event in await rig.events():
        assert before - timedelta(seconds=1) <= event.data.firstcreated <= after
    state = await rig.store.state("wire")
    assert state.clamped_last_fetch == 1
    assert state.last_clamped is not None
    assert "clamped to" in state.last_clamped


async def test_bare_dates_are_read_in_the_source_time_zone(rig: Rig) -> None:
    item = Item("Night alert", guid="tz-1", raw_date="Wed, 07 Jan 2026 03:00:00")
    rig.server.serve("/bare", Route(body=rss([item])))
    await rig.poll(await rig.source("wire", "/bare", timezone="Europe/Kyiv"))
    (event,) = await rig.events()
    assert event.data.firstcreated == datetime(2026, 1, 7, 1, 0, tzinfo=UTC)


# -- scheduling hints and failures -------------------------------------------------------


async def test_rss_ttl_and_cache_control_are_a_floor_on_the_interval(rig: Rig) -> None:
    rig.server.serve("/ttl", Route(body=rss([Item("x", guid="t")], ttl=15)))
    rig.server.serve(
        "/max-age",
        Route(body=rss([Item("y", guid="m")]), headers={"Cache-Control": "max-age=1800"}),
    )
    for source_id, path, floor in (("ttl", "/ttl", 900), ("age", "/max-age", 1800)):
        before = datetime.now(UTC)
        result = await rig.poll(await rig.source(source_id, path))
        assert result.next_due_at is not None
        assert result.next_due_at - before >= timedelta(seconds=floor - 1)
        assert await rig.store.due_at(source_id) == result.next_due_at.replace(
            microsecond=result.next_due_at.microsecond // 1000 * 1000
        )


async def test_retry_after_on_429_sets_the_next_due_time(rig: Rig) -> None:
    rig.server.serve("/busy", Route(status=429, headers={"Retry-After": "120"}))
    before = datetime.now(UTC)
    result = await rig.poll(await rig.source("wire", "/busy"))
    assert result.outcome == "failed"
    assert result.next_due_at is not None
    assert result.next_due_at - before >= timedelta(seconds=119)
    state = await rig.store.state("wire")
    assert state.last_error == "HTTP 429, Retry-After 120 s"
    assert (state.last_http_status, state.consecutive_failures) == (429, 1)


async def test_a_failing_source_backs_off_and_is_never_dropped(rig: Rig) -> None:
    rig.server.serve("/down", Route(status=500))
    source = await rig.source("wire", "/down", poll_interval_seconds=1000)
    waits = []
    for _ in range(5):
        before = datetime.now(UTC)
        result = await rig.poll(source)
        assert result.next_due_at is not None
        waits.append(round((result.next_due_at - before).total_seconds(), -1))
    assert waits == [1000, 2000, 3600, 3600, 3600]
    state = await rig.store.state("wire")
    assert (state.consecutive_failures, state.last_error) == (5, "HTTP 500")
    assert await rig.redis.zscore(DUE, "wire") is not None
    rig.server.serve("/down", Route(body=rss([Item("Back", guid="b")])))
    await rig.poll(source)
    assert (await rig.store.state("wire")).consecutive_failures == 0


# -- hostile cases -------------------------------------------------------------------------


HOSTILE = [
    (
        "gzip-bomb",
        Route(body=gzip.compress(b"\0" * 30_000_000), headers={"Content-Encoding": "gzip"}),
        "cap after decompression",
    ),
    ("trickle", Route(body=fixture("wire.rss.xml"), trickle_s=0.02), "longer than 1 s"),
    ("not-a-feed", Route(body=fixture("not_a_feed.html"), content_type="text/html"), "not a feed"),
    ("xxe", Route(body=fixture("xxe.xml")), "external entity (XXE)"),
    ("billion-laughs", Route(body=fixture("billion_laughs.xml")), "entity expansion"),
    (
        "to-metadata",
        Route(status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"}),
        "metadata",
    ),
    ("to-private", Route(status=307, headers={"Location": "http://192.168.1.1/feed"}), "private"),
]


@pytest.mark.parametrize(("name", "route", "reason"), HOSTILE, ids=[h[0] for h in HOSTILE])
async def test_each_hostile_case_fails_cleanly_with_the_reason_recorded(
    rig: Rig, name: str, route: Route, reason: str
) -> None:
    rig.server.serve(f"/hostile/{name}", route)
    result = await rig.poll(await rig.source(name, f"/hostile/{name}"))
    assert result.outcome == "failed"
    state = await rig.store.state(name)
    assert state.last_outcome == "failed"
    assert state.last_error is not None
    assert reason in state.last_error
    assert state.consecutive_failures == 1
    assert await rig.events() == []
    # ...and the service goes on: the next source polls fine.
    rig.server.serve(f"/after/{name}", Route(body=fixture("wire.rss.xml")))
    assert (await rig.poll(await rig.source("good", f"/after/{name}"))).outcome == "ok"
    assert len(await rig.events()) == 2


async def test_xml_that_names_external_resources_never_fetches_them(rig: Rig) -> None:
    dtd = rig.server.url("/evil.dtd")
    parameter = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY % p SYSTEM "{dtd}"> %p;]>'
        '<rss version="2.0"><channel><title>t</title></channel></rss>'
    ).encode()
    external_dtd = (
        f'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "{dtd}">'
        '<rss version="2.0"><channel><title>t</title><item><title>Fine</title>'
        "<guid>x-1</guid></item></channel></rss>"
    ).encode()
    rig.server.serve("/param", Route(body=parameter))
    rig.server.serve("/extdtd", Route(body=external_dtd))
    refused = await rig.poll(await rig.source("param", "/param"))
    assert refused.error is not None
    assert "parameter entities" in refused.error
    read = await rig.poll(await rig.source("extdtd", "/extdtd"))
    assert read.outcome == "ok"
    assert read.counts["new"] == 1
    assert rig.server.count("/evil.dtd") == 0


async def test_a_refused_body_is_fetched_whole_next_time(rig: Rig) -> None:
    rig.server.serve("/was-bad", Route(body=fixture("xxe.xml"), etag='"bad"'))
    source = await rig.source("wire", "/was-bad")
    await rig.poll(source)
    assert (await rig.store.state("wire")).etag is None
    rig.server.serve("/was-bad", Route(body=fixture("wire.rss.xml"), etag='"good"'))
    assert (await rig.poll(source)).counts["new"] == 2
    assert "If-None-Match" not in rig.server.seen("/was-bad")[1].headers


async def test_loopback_is_refused_without_the_allow_setting(rig: Rig) -> None:
    strict = Fetcher(FETCH, AddressPolicy())
    poller = Poller(rig.store, strict, rig.acceptor, POLL)
    rig.server.serve("/strict", Route(body=fixture("wire.rss.xml")))
    try:
        await poller.poll(await rig.source("strict", "/strict"))
    finally:
        await strict.aclose()
    state = await rig.store.state("strict")
    assert state.last_error == "refused: 127.0.0.1 is a private, loopback or link-local address"
    assert rig.server.count("/strict") == 0


async def test_a_malformed_feed_read_leniently_records_a_warning(rig: Rig) -> None:
    rig.server.serve("/malformed", Route(body=fixture("malformed.xml")))
    result = await rig.poll(await rig.source("wire", "/malformed"))
    assert result.outcome == "ok"
    state = await rig.store.state("wire")
    assert state.last_warning is not None
    assert "malformed" in state.last_warning


async def test_entries_beyond_the_cap_are_left_with_a_warning(rig: Rig) -> None:
    items = [Item(f"Story {n}", guid=f"cap-{n}") for n in range(25)]
    rig.server.serve("/many", Route(body=rss(items)))
    await rig.poll(await rig.source("wire", "/many"))
    assert len(await rig.events()) == 10
    state = await rig.store.state("wire")
    assert state.last_warning == "only the first 10 of 25 entries read"


async def test_an_entry_that_cannot_be_an_item_is_counted_and_explained(rig: Rig) -> None:
    items = [Item("", guid="empty", body=""), Item("Fine", guid="fine")]
    rig.server.serve("/empty-entry", Route(body=rss(items)))
    result = await rig.poll(await rig.source("wire", "/empty-entry"))
    assert (result.counts["rejected"], result.counts["new"]) == (1, 1)
    state = await rig.store.state("wire")
    assert state.last_rejection is not None
    assert "headline or a body" in state.last_rejection


async def test_entries_handed_over_without_a_poll_become_the_same_items(rig: Rig) -> None:
    """`accept_entries` cares only about the parsed feed, not how it arrived: a
    feed pushed or imported is the items a poll of the same bytes makes."""
    rig.server.serve("/handed", Route(body=fixture("wire.rss.xml")))
    source = await rig.source("wire", "/handed")
    await rig.poll(source)
    polled = await rig.events()
    feed = parse_feed(fixture("wire.rss.xml"), "application/rss+xml", str(source.url), 10)
    outcome = await accept_entries(
        rig.acceptor,
        source,
        feed,
        kind=SourceKind.POLLED,
        received_at=datetime.now(UTC),
        future_tolerance=timedelta(minutes=10),
    )
    assert (outcome.unchanged, outcome.emitted, outcome.rejected) == (2, 0, 0)
    assert sorted(outcome.uris) == sorted(event.subject for event in polled)
    assert await rig.events() == polled
