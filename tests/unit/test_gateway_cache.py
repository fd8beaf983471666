"""The page caches drop the pages of the feeds an event touches and keep the others;
a page computed while an event touched its feed is not stored, one computed while an
event touched another feed is."""

from __future__ import annotations

from gateway.cache import PageCache
from gateway.responses import render


def page(text: str) -> object:
    return render(text.encode(), "application/json", "no-cache")


def filled() -> PageCache:
    cache = PageCache(100, 30.0)
    for key, feed in (("all", "all"), ("dip", "tag:diplomacy"), ("energy", "tag:energy")):
        cache.put(key, page(key), cache.generation, feed)  # type: ignore[arg-type]
    return cache


def test_a_touched_feed_loses_its_pages_and_an_untouched_one_keeps_them() -> None:
    cache = filled()
    cache.invalidate(frozenset({"all", "tag:diplomacy"}))
    assert cache.get("all") is None
    assert cache.get("dip") is None
    assert cache.get("energy") is not None
    assert len(cache) == 1


def test_an_event_that_does_not_say_drops_every_page() -> None:
    cache = filled()
    cache.invalidate(None)
    assert len(cache) == 0
    assert cache.bytes == 0


def test_a_page_loaded_across_an_event_is_stored_only_if_the_event_missed_its_feed() -> None:
    cache = PageCache(100, 30.0)
    generation = cache.generation
    cache.invalidate(frozenset({"all", "tag:energy"}))
    cache.put("dip", page("dip"), generation, "tag:diplomacy")  # type: ignore[arg-type]
    cache.put("energy", page("energy"), generation, "tag:energy")  # type: ignore[arg-type]
    assert cache.get("dip") is not None
    assert cache.get("energy") is None


def test_least_recently_used_pages_go_first_and_leave_their_feed() -> None:
    cache = PageCache(2, 30.0)
    for key in ("a", "b", "c"):
        cache.put(key, page(key), cache.generation, "tag:x")  # type: ignore[arg-type]
    assert cache.get("a") is None
    cache.invalidate(frozenset({"tag:x"}))
    assert len(cache) == 0
    assert cache.bytes == 0
