"""publication.lifecycle.decide: what an incoming version does, as a pure function."""

from __future__ import annotations

from datetime import timedelta

from publication.lifecycle import decide
from shared.events import EventType
from shared.items import Entity, NewsItem, PubStatus
from shared.readmodel import FEED_ALL, Facet, Plan, Stored, StoredStatus, index_key

from tests.support.builders import BASE_TIME, news_item

NOW = BASE_TIME + timedelta(hours=1)


def stored_from(plan: Plan) -> Stored:
    return Stored(
        version=plan.item.version,
        status=plan.status,
        member=plan.member,
        indexes=plan.indexes,
        traceid="0" * 32,
        doc=plan.item,
    )


def first_published(item: NewsItem) -> Stored:
    plan = decide(item, None, NOW)
    assert plan is not None
    return stored_from(plan)


def test_a_first_usable_version_is_published_at_its_firstcreated_time() -> None:
    item = news_item("urn:t:a").model_copy(
        update={"people": (Entity(name="Andriy Yermak"),), "language": "en-GB"}
    )
    plan = decide(item, None, NOW)
    assert plan is not None
    assert plan.event is EventType.published
    assert plan.status is StoredStatus.usable
    assert plan.member.endswith("|urn:t:a")
    assert plan.item.updated is None
    assert plan.indexes[0] == FEED_ALL
    assert index_key(Facet.person, "andriy yermak") in plan.indexes
    assert index_key(Facet.language, "en") in plan.indexes
    assert index_key(Facet.author, "The Kyiv Independent news desk") in plan.indexes


def test_a_version_at_or_below_the_stored_one_changes_nothing() -> None:
    stored = first_published(news_item("urn:t:a", version=2))
    assert decide(news_item("urn:t:a", version=2), stored, NOW) is None
    assert decide(news_item("urn:t:a", version=1), stored, NOW) is None


def test_an_update_keeps_the_feed_position_and_gets_an_updated_stamp() -> None:
    stored = first_published(news_item("urn:t:a"))
    update = news_item("urn:t:a", version=2, body_html="<p>More detail.</p>")
    plan = decide(update, stored, NOW)
    assert plan is not None
    assert plan.event is EventType.updated
    assert plan.member == stored.member
    assert plan.item.updated == update.versioncreated


def test_updates_move_to_the_top_only_when_the_newsroom_says_so() -> None:
    stored = first_published(news_item("urn:t:a"))
    update = news_item("urn:t:a", version=2, body_html="<p>More.</p>")
    plan = decide(update, stored, NOW, updates_move_to_top=True)
    assert plan is not None
    assert plan.member != stored.member
    assert plan.member > (stored.member or "")


def test_a_new_public_note_on_an_update_is_a_correction_kept_with_its_version() -> None:
    stored = first_published(news_item("urn:t:a"))
    corrected = news_item("urn:t:a", version=2, ednote="An earlier version misnamed the city.")
    plan = decide(corrected, stored, NOW)
    assert plan is not None
    assert plan.event is EventType.corrected
    assert [(c.version, c.note) for c in plan.item.corrections] == [
        (2, "An earlier version misnamed the city.")
    ]
    # The same note carried on a later update is not a second correction.
    again = news_item("urn:t:a", version=3, ednote="An earlier version misnamed the city.")
    later = decide(again, stored_from(plan), NOW)
    assert later is not None
    assert later.event is EventType.updated
    assert len(later.item.corrections) == 1


def test_a_kill_leaves_every_feed_and_emits_killed() -> None:
    stored = first_published(news_item("urn:t:a"))
    kill = news_item("urn:t:a", version=2, pubstatus=PubStatus.canceled, ednote="Withdrawn.")
    plan = decide(kill, stored, NOW)
    assert plan is not None
    assert plan.event is EventType.killed
    assert plan.status is StoredStatus.canceled
    assert plan.indexes == ()


def test_withholding_a_visible_item_hides_it_and_says_so() -> None:
    stored = first_published(news_item("urn:t:a"))
    plan = decide(news_item("urn:t:a", version=2, pubstatus=PubStatus.withheld), stored, NOW)
    assert plan is not None
    assert plan.indexes == ()
    assert plan.event is EventType.withheld
    # Withheld from the start: nothing was public, so no event.
    first = decide(news_item("urn:t:b", pubstatus=PubStatus.withheld), None, NOW)
    assert first is not None
    assert first.event is None


def test_a_later_usable_version_brings_a_withheld_item_back() -> None:
    withheld = decide(news_item("urn:t:a", pubstatus=PubStatus.withheld), None, NOW)
    assert withheld is not None
    plan = decide(news_item("urn:t:a", version=2), stored_from(withheld), NOW)
    assert plan is not None
    assert plan.event is EventType.published
    assert FEED_ALL in plan.indexes


def test_an_embargoed_item_is_stored_invisible_and_scheduled() -> None:
    release = NOW + timedelta(minutes=30)
    item = news_item("urn:t:a").model_copy(update={"embargoed": release})
    plan = decide(item, None, NOW)
    assert plan is not None
    assert plan.status is StoredStatus.embargoed
    assert plan.indexes == ()
    assert plan.event is None
    assert plan.embargo_until == release
    assert plan.member.endswith("|urn:t:a")


def test_an_embargo_already_past_publishes_at_the_release_time() -> None:
    release = NOW - timedelta(minutes=5)
    item = news_item("urn:t:a").model_copy(update={"embargoed": release})
    plan = decide(item, None, NOW)
    assert plan is not None
    assert plan.event is EventType.published
    created_then = decide(
        news_item("urn:t:a").model_copy(update={"firstcreated": release}), None, NOW
    )
    assert created_then is not None
    assert plan.member == created_then.member


def test_an_embargo_on_an_item_readers_already_saw_is_ignored() -> None:
    stored = first_published(news_item("urn:t:a"))
    late = news_item("urn:t:a", version=2).model_copy(
        update={"embargoed": NOW + timedelta(hours=1)}
    )
    plan = decide(late, stored, NOW)
    assert plan is not None
    assert plan.status is StoredStatus.usable
    assert plan.event is EventType.updated


def test_a_stale_usable_version_after_a_kill_does_not_resurrect_the_item() -> None:
    stored = first_published(news_item("urn:t:a"))
    kill = decide(news_item("urn:t:a", version=3, pubstatus=PubStatus.canceled), stored, NOW)
    assert kill is not None
    assert decide(news_item("urn:t:a", version=2), stored_from(kill), NOW) is None


def test_people_places_and_organisations_are_indexed_where_the_item_is_about_them() -> None:
    """Enrichment scores an entity 40 for the headline and 20 a mention: a passing
    mention gets no feed membership; an entity without a score (from the source) does."""
    item = news_item("urn:t:a").model_copy(
        update={
            "people": (Entity(name="In Headline", relevance=60), Entity(name="Once", relevance=20)),
            "places": (Entity(name="Twice", relevance=40),),
            "organisations": (Entity(name="From Source"),),
        }
    )
    plan = decide(item, None, NOW)
    assert plan is not None
    assert index_key(Facet.person, "in headline") in plan.indexes
    assert index_key(Facet.person, "once") not in plan.indexes
    assert index_key(Facet.place, "twice") in plan.indexes
    assert index_key(Facet.organisation, "from source") in plan.indexes


# -- refinements: enrichment's second pass, the same version with the model's names


def with_people(item: NewsItem, *names: str) -> NewsItem:
    return item.model_copy(update={"people": tuple(Entity(name=name) for name in names)})


def test_a_refinement_replaces_its_version_without_an_update_stamp() -> None:
    stored = first_published(news_item("urn:t:a"))
    refined = with_people(news_item("urn:t:a"), "Nikos Christodoulides")
    plan = decide(refined, stored, NOW, refinement=True)
    assert plan is not None
    assert plan.event is EventType.refined
    assert plan.status is StoredStatus.usable
    assert plan.member == stored.member
    assert plan.item.updated is None
    assert plan.item.people == refined.people
    assert index_key(Facet.person, "nikos christodoulides") in plan.indexes


def test_a_refinement_of_an_updated_item_keeps_its_stamp_and_corrections() -> None:
    first = first_published(news_item("urn:t:a"))
    corrected = news_item("urn:t:a", version=2, ednote="An earlier version misnamed the city.")
    corrected_plan = decide(corrected, first, NOW)
    assert corrected_plan is not None
    stored = stored_from(corrected_plan)
    refined = with_people(corrected, "Nikos Christodoulides")
    plan = decide(refined, stored, NOW, refinement=True)
    assert plan is not None
    assert plan.item.updated == corrected_plan.item.updated is not None
    assert plan.item.corrections == corrected_plan.item.corrections != ()
    assert plan.event is EventType.refined


def test_the_same_refinement_again_changes_nothing() -> None:
    stored = first_published(news_item("urn:t:a"))
    refined = with_people(news_item("urn:t:a"), "Nikos Christodoulides")
    plan = decide(refined, stored, NOW, refinement=True)
    assert plan is not None
    assert decide(refined, stored_from(plan), NOW, refinement=True) is None


def test_a_refinement_of_an_older_version_is_stale() -> None:
    stored = first_published(news_item("urn:t:a", version=2))
    refined = with_people(news_item("urn:t:a", version=1), "Nikos Christodoulides")
    assert decide(refined, stored, NOW, refinement=True) is None


def test_a_refinement_before_its_version_publishes_that_version() -> None:
    refined = with_people(news_item("urn:t:a"), "Nikos Christodoulides")
    plan = decide(refined, None, NOW, refinement=True)
    assert plan is not None
    assert plan.event is EventType.published
    # Its first-pass entry, retried later, is then the same version: nothing happens.
    assert decide(news_item("urn:t:a"), stored_from(plan), NOW) is None


def test_a_refinement_of_an_embargoed_item_stays_embargoed_and_unannounced() -> None:
    embargo = NOW + timedelta(hours=2)
    item = news_item("urn:t:a").model_copy(update={"embargoed": embargo})
    stored = first_published(item)
    assert stored.status is StoredStatus.embargoed
    plan = decide(with_people(item, "Nikos Christodoulides"), stored, NOW, refinement=True)
    assert plan is not None
    assert plan.status is StoredStatus.embargoed
    assert plan.event is None
    assert plan.embargo_until == embargo
    assert plan.indexes == ()


def test_a_refinement_of_a_killed_item_changes_nothing() -> None:
    killed_plan = decide(
        news_item("urn:t:a", version=2, pubstatus=PubStatus.canceled),
        first_published(news_item("urn:t:a")),
        NOW,
    )
    assert killed_plan is not None
    stored = stored_from(killed_plan)
    refined = with_people(news_item("urn:t:a", version=2), "Nikos Christodoulides")
    assert decide(refined, stored, NOW, refinement=True) is None
