"""The gateway's tail: each news.published entry drops the cached pages of the feeds it
touches (all of them when it does not say), listeners hear of every entry in order with
its position, kills become tombstones of the feeds they were in, and a client's
position is resumed from memory across partitions without a gap or a step back."""

from __future__ import annotations

from typing import Any

import pytest
from gateway.positions import START, format_position, parse_position
from gateway.tail import Change, Tail, to_change
from shared.events import EventType, encode
from shared.items import Entity, NewsItem
from shared.readmodel.feeds import FIELD, feeds_field

from tests.support.builders import event_for, news_item


class Invalidations:
    def __init__(self) -> None:
        self.calls: list[frozenset[str] | None] = []

    def __call__(self, feeds: frozenset[str] | None) -> None:
        self.calls.append(feeds)


def tagged(uri: str, *tags: str, version: int = 1) -> NewsItem:
    return news_item(uri, version=version).model_copy(
        update={"subjects": tuple(Entity(name=tag) for tag in tags)}
    )


def entry(
    item: NewsItem,
    type_: EventType = EventType.published,
    before: NewsItem | None = None,
    after: NewsItem | None = None,
) -> dict[str, str]:
    fields = encode(event_for(item, type_))
    fields[FIELD] = feeds_field(before, after)
    return fields


def change(entry_id: str, fields: dict[str, str], partition: int = 0) -> Change:
    made = to_change(entry_id, fields, partition)
    assert made is not None
    return made


def tail_with(invalidate: Invalidations, partitions: int = 1, history: int = 100) -> Tail:
    # dispatch and the in-memory backlog never touch Redis; the client is never used.
    redis: Any = None
    tail = Tail(
        redis,
        streams=[f"s{p}" for p in range(partitions)],
        invalidate=invalidate,
        history=history,
    )
    tail.position = [START] * partitions
    return tail


def test_an_entry_drops_the_feeds_it_touches_and_one_that_does_not_say_drops_all() -> None:
    invalidate = Invalidations()
    tail = tail_with(invalidate)
    before = tagged("urn:a", "Diplomacy")
    after = tagged("urn:a", "Energy", version=2)
    tail.dispatch(change("1-0", entry(after, EventType.updated, before, after)))
    legacy = encode(event_for(news_item("urn:b"), EventType.published))  # no `feeds`
    tail.dispatch(change("2-0", legacy))
    broken = entry(news_item("urn:c"), after=news_item("urn:c")) | {"data": "{not json"}
    tail.dispatch(change("3-0", broken))
    assert invalidate.calls[0] == frozenset(
        {
            "all",
            "tag:diplomacy",
            "tag:energy",
            "type:text",
            "author:the kyiv independent news desk",
        }
    )
    assert invalidate.calls[1] is None
    assert invalidate.calls[2] == frozenset(
        {"all", "type:text", "author:the kyiv independent news desk"}
    )
    assert tail.events == 3


def test_listeners_hear_every_entry_in_order_with_its_position() -> None:
    tail = tail_with(Invalidations(), partitions=2)
    heard: list[Change] = []
    tail.listeners.append(heard.append)
    a, b = news_item("urn:a"), news_item("urn:b")
    tail.dispatch(change("5-0", entry(a, after=a), partition=1))
    tail.dispatch(change("3-0", entry(b, after=b), partition=0))
    assert [format_position(c.position) for c in heard] == ["0-0.5-0", "3-0.5-0"]
    assert b"id: 3-0.5-0\nevent: published\n" in heard[1].frame


def test_a_filtered_client_hears_of_what_lands_in_its_feed_of_updates_to_it_and_every_kill() -> (
    None
):
    diplomacy, energy = tagged("urn:d", "Diplomacy"), tagged("urn:e", "Energy")
    moved = tagged("urn:d", "Energy", version=2)
    landed = change("1-0", entry(diplomacy, after=diplomacy))
    elsewhere = change("2-0", entry(energy, after=energy))
    left = change("3-0", entry(moved, EventType.updated, diplomacy, moved))
    other_update = change("4-0", entry(energy, EventType.updated, energy, energy))
    kill = change("5-0", entry(energy, EventType.killed, energy, None))
    concerned = [
        c.entry_id
        for c in (landed, elsewhere, left, other_update, kill)
        if c.concerns("tag:diplomacy")
    ]
    assert concerned == ["1-0", "3-0", "5-0"]
    assert all(c.concerns("all") for c in (landed, elsewhere, left, other_update, kill))


def test_a_kill_is_a_tombstone_of_the_feeds_it_was_in_until_published_again() -> None:
    tail = tail_with(Invalidations())
    item = tagged("urn:k", "Diplomacy")
    tail.dispatch(change("1-0", entry(item, EventType.killed, item, None)))
    assert [s.uri for s in tail.tombstones.recent("tag:diplomacy")] == ["urn:k"]
    assert [s.uri for s in tail.tombstones.recent("all")] == ["urn:k"]
    assert tail.tombstones.recent("tag:energy") == []
    tail.dispatch(change("2-0", entry(item, after=item)))
    assert tail.tombstones.recent() == []


async def test_a_position_resumes_from_memory_across_partitions_without_gap_or_repeat() -> None:
    tail = tail_with(Invalidations(), partitions=2)
    ids = [("1-0", 0), ("1-0", 1), ("2-0", 1), ("3-0", 0), ("4-0", 1)]
    for entry_id, partition in ids:
        item = news_item(f"urn:{entry_id}:{partition}")
        tail.dispatch(change(entry_id, entry(item, after=item), partition))
    # Another replica read them in another order: it handed out 3-0 (p0) and 1-0 (p1).
    after = parse_position("3-0.1-0")
    assert after is not None
    missed = await tail.backlog(after, limit=10)
    assert missed is not None
    assert [(c.entry_id, c.partition) for c in missed] == [("2-0", 1), ("4-0", 1)]
    everything = await tail.backlog((), limit=10)
    assert everything is not None
    assert len(everything) == 5
    assert await tail.backlog((), limit=4) is None  # too many: reload
    assert await tail.backlog(((1, 0),), limit=10) is None  # another partitioning: reload


async def test_the_memory_serves_positions_at_or_past_what_it_dropped() -> None:
    tail = tail_with(Invalidations(), history=2)
    for i in range(1, 5):
        item = news_item(f"urn:{i}")
        tail.dispatch(change(f"{i}-0", entry(item, after=item)))
    served = await tail.backlog(((2, 0),), limit=10)
    assert served is not None
    assert [c.entry_id for c in served] == ["3-0", "4-0"]


@pytest.mark.parametrize(
    ("text", "position"),
    [("0", ()), ("12-3", ((12, 3),)), ("1-0.2-5", ((1, 0), (2, 5))), ("1-0.", None), ("x", None)],
)
def test_positions_are_parsed_as_clients_send_them(
    text: str, position: tuple[tuple[int, int], ...] | None
) -> None:
    assert parse_position(text) == position
    if position:
        assert format_position(position) == text
