"""Enrichment's second pass (issue 15): the entity model off the fast path.

What readers get in the end must not depend on where the model runs: the
first pass and then the second make the item that one inline pass makes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import pytest
from enrichment import second_pass
from enrichment.config import EnrichmentConfig
from enrichment.enrichers import entities
from enrichment.pipeline import build_second_pass, first_pass, has_second_pass, run_pipeline
from shared.delivery import Done, Handler, Result
from shared.events import Event, EventType
from shared.items import NewsItem, PubStatus

from tests.support.builders import event_for
from tests.support.enrichment import (
    FIRST_PASS,
    INLINE_PASS,
    SECOND,
    SECOND_PASS,
    as_item,
    labelled,
)

INLINE = EnrichmentConfig(entity_model="inline")


def model_version(item: NewsItem) -> bool:
    """Whether the entities in `item` were found with the model (its version says so)."""
    return "." in item.enrichment[entities.NAME].split("+", 1)[1]


def handled(handle: Handler, events: Sequence[Event]) -> Sequence[Result]:
    """What `handle` returns for `events` (asyncio.run wants a coroutine, a Handler
    promises only an awaitable)."""

    async def run() -> Sequence[Result]:
        return await handle(events)

    return asyncio.run(run())


def test_the_first_pass_leaves_the_model_to_the_second() -> None:
    item = as_item(labelled()[0])
    assert not model_version(run_pipeline(item, FIRST_PASS))
    assert model_version(run_pipeline(item, INLINE_PASS))
    assert [e.NAME for e in SECOND_PASS] == ["entities", "subjects", "quotes"]


def test_no_second_pass_when_the_model_is_inline_or_switched_off() -> None:
    assert has_second_pass(SECOND)
    assert first_pass(INLINE) == INLINE
    for config in (INLINE, EnrichmentConfig(disabled=("entity_model",))):
        assert not has_second_pass(config)
        with pytest.raises(ValueError, match="no second pass"):
            build_second_pass(config)


def test_both_passes_make_what_one_inline_pass_makes() -> None:
    """On every item of the labelled set: the second pass's item is the inline
    one, or there is none and the first pass already had the inline names."""
    refined = 0
    for entry in labelled():
        item = as_item(entry)
        inline = run_pipeline(item, INLINE_PASS)
        first = run_pipeline(item, FIRST_PASS)
        better = second_pass.refine(first, SECOND_PASS)
        if better is None:
            assert first.model_copy(update={"enrichment": inline.enrichment}) == inline
        else:
            assert better == inline
            refined += 1
    # The model adds names to some items, or this test could not fail.
    assert refined >= 3


def test_nothing_to_refine_in_a_kill_or_the_same_names() -> None:
    item = run_pipeline(as_item(labelled()[0]), INLINE_PASS)
    assert second_pass.refine(item, SECOND_PASS) is None  # already the model's names
    killed = item.model_copy(update={"pubstatus": PubStatus.canceled, "people": ()})
    assert second_pass.refine(killed, SECOND_PASS) is None


def test_the_handler_emits_refined_events_and_passes_its_own_by() -> None:
    handle = second_pass.make_handler(SECOND_PASS)
    entries = [as_item(entry) for entry in labelled()]
    firsts = [run_pipeline(item, FIRST_PASS) for item in entries]
    changed = next(f for f in firsts if second_pass.refine(f, SECOND_PASS) is not None)
    refined_event = event_for(changed, EventType.refined)
    results = handled(handle, [event_for(changed), refined_event])
    assert all(isinstance(result, Done) for result in results)
    done = [result for result in results if isinstance(result, Done)]  # all() does not narrow
    (emitted,) = done[0].emit
    assert emitted.type is EventType.refined
    assert emitted.data.version == changed.version
    assert emitted.data == run_pipeline(entries[firsts.index(changed)], INLINE_PASS)
    assert done[1].emit == ()


def test_items_enriched_too_long_ago_are_passed_by_unrefined() -> None:
    """Behind after a burst, the pass catches up with the present instead of
    refining what readers saw long ago."""
    entries = [run_pipeline(as_item(entry), FIRST_PASS) for entry in labelled()]
    changed = next(f for f in entries if second_pass.refine(f, SECOND_PASS) is not None)
    event = event_for(changed)
    old = event.model_copy(update={"time": event.time - timedelta(seconds=61)})
    handle = second_pass.make_handler(SECOND_PASS, max_lag=60.0)
    before = second_pass.PASSED_BY["late"]
    fresh, late = handled(handle, [event, old])
    assert isinstance(fresh, Done)
    assert len(fresh.emit) == 1
    assert late == Done()
    assert second_pass.PASSED_BY["late"] == before + 1
