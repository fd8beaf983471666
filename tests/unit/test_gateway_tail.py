"""The gateway's tail: every news.published entry empties the page cache, live-update
clients hear of the entries they asked for, and a malformed entry neither stops the
tail nor reaches a client."""

from __future__ import annotations

from typing import Any

from gateway.tail import Change, Tail, to_change
from shared.events import EventType, encode
from shared.readmodel import Facet

from tests.support.builders import event_for, news_item


class CountingInvalidation:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


def published_entry(uri: str, type_: EventType = EventType.published) -> dict[str, str]:
    return encode(event_for(news_item(uri=uri), type_))


def change(entry_id: str, fields: dict[str, str]) -> Change:
    made = to_change(entry_id, fields)
    assert made is not None
    return made


def tail_with(invalidate: CountingInvalidation) -> Tail:
    # dispatch never touches Redis; the client is never used.
    redis: Any = None
    return Tail(redis, invalidate=invalidate)


def test_every_entry_empties_the_cache_even_with_no_client_and_a_malformed_one() -> None:
    invalidate = CountingInvalidation()
    tail = tail_with(invalidate)
    broken = published_entry("urn:broken") | {"data": "{not json"}
    for entry_id, fields in (("1-0", published_entry("urn:a")), ("2-0", broken)):
        tail.dispatch(change(entry_id, fields))
    assert invalidate.calls == 2
    assert tail.events == 2


def test_a_client_gets_the_good_entries_and_never_a_malformed_one() -> None:
    tail = tail_with(CountingInvalidation())
    client = tail.subscribe(None)
    broken = published_entry("urn:broken") | {"data": "{not json"}
    for entry_id, fields in (("1-0", broken), ("2-0", published_entry("urn:good"))):
        tail.dispatch(change(entry_id, fields))
    delivered = client.queue.get_nowait()
    assert delivered is not None
    assert (delivered.uri, delivered.event.data.uri) == ("urn:good", "urn:good")
    assert b"urn:good" in delivered.frame
    assert client.queue.empty()


def test_a_filtered_client_hears_only_of_new_items_in_its_feed() -> None:
    tail = tail_with(CountingInvalidation())
    english = tail.subscribe((Facet.language, "en"))
    french = news_item(uri="urn:fr").model_copy(update={"language": "fr"})
    english_item = news_item(uri="urn:en").model_copy(update={"language": "en"})
    tail.dispatch(change("1-0", encode(event_for(french, EventType.published))))
    tail.dispatch(change("2-0", encode(event_for(english_item, EventType.published))))
    delivered = english.queue.get_nowait()
    assert delivered is not None
    assert delivered.uri == "urn:en"
    assert english.queue.empty()


def test_a_kill_becomes_a_tombstone_and_a_later_publication_lifts_it() -> None:
    tail = tail_with(CountingInvalidation())
    tail.dispatch(change("1-0", published_entry("urn:k", EventType.killed)))
    assert [stone.uri for stone in tail.tombstones.recent()] == ["urn:k"]
    tail.dispatch(change("2-0", published_entry("urn:k")))
    assert tail.tombstones.recent() == []
