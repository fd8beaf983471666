"""Enrichment: topic tags from rules and source defaults; quotes; the video kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from enrichment.config import EnrichmentConfig
from enrichment.enrichers import entities, kind, quotes, subjects, text
from enrichment.enrichers.subjects import SubjectTagger, hits, parse
from shared.items import Entity, ItemType, NewsItem, Quote, Rendition

from tests.support import builders

CONFIG = EnrichmentConfig()
TEXT, ENTITIES, SUBJECTS, QUOTES, KIND = (
    module.build(CONFIG) for module in (text, entities, subjects, quotes, kind)
)
SEED = Path(__file__).resolve().parents[1] / "fixtures" / "seed_article.txt"


def item(body: str, headline: str = "", **kw: Any) -> NewsItem:
    """An item of plain-text paragraphs, with the fields of the enrichers before subjects."""
    news = builders.item(
        builders.paragraphs(body), headline, uri="urn:newsfeed:test:subjects", **kw
    )
    news = news.model_copy(update=TEXT.enrich(news))
    return news.model_copy(update=ENTITIES.enrich(news))


def tags(news: NewsItem, tagger: SubjectTagger | None = None) -> dict[str, Entity]:
    fields = (tagger or SUBJECTS).enrich(news)
    return {s.name: s for s in fields["subjects"]}


RULES = {
    "tags": [
        {
            "name": "peace talks",
            "keywords": ["peace talks", "ceasefire", "negotiat*", "переговор*"],
        },
        {"name": "war", "min_hits": 2, "keywords": ["troops", "missile*", "війн*"]},
        {"name": "diplomacy", "entities": ["UN", "NATO"]},
        {"name": "peace plan", "keywords": ["мирн* план*"]},
    ],
    "sources": {"kyiv-independent": [{"name": "Ukraine", "relevance": 50}]},
}


@pytest.fixture
def tagger(tmp_path: Path) -> SubjectTagger:
    import yaml

    path = tmp_path / "tags.yaml"
    path.write_text(yaml.safe_dump(RULES, allow_unicode=True), encoding="utf-8")
    return subjects.build(EnrichmentConfig(tag_rules_path=path))


# -- subjects ----------------------------------------------------------------------


def test_the_seed_article_is_about_peace_talks_diplomacy_and_war() -> None:
    news = item(SEED.read_text(encoding="utf-8"), "Russia sets conditions for peace talks")
    found = tags(news)
    assert {"peace talks", "diplomacy", "war"} <= set(found)
    talks = found["peace talks"]
    assert (talks.creator, talks.rel, talks.literal) == ("rules", "about", "peace-talks")
    assert talks.relevance == 100
    assert found["war"].uri == "http://cv.iptc.org/newscodes/mediatopic/16000000"


def test_keywords_phrases_and_wildcards_count_as_hits() -> None:
    rules = parse(RULES)
    counted = hits(rules, "Negotiations on a ceasefire and peace talks; more negotiators came.")
    assert counted[0] == 4  # negotiations, ceasefire, peace talks, negotiators
    assert hits(rules, "Мирні переговори та мирний план")[0] == 1
    assert hits(rules, "Мирні переговори та мирний план")[3] == 1
    assert hits(rules, "peace talksmanship, renegotiate") == {}  # whole words only


def test_a_tag_needs_its_minimum_of_hits(tagger: SubjectTagger) -> None:
    assert "war" not in tags(item("Russian troops crossed the river."), tagger)
    assert "war" in tags(item("Russian troops fired a missile."), tagger)


def test_entities_count_for_tags(tagger: SubjectTagger) -> None:
    found = tags(item("NATO met on Tuesday."), tagger)
    assert found["diplomacy"].relevance == 40


def test_a_headline_hit_raises_relevance(tagger: SubjectTagger) -> None:
    body_only = tags(item("A ceasefire was agreed.", "Markets closed"), tagger)
    in_headline = tags(item("A ceasefire was agreed.", "Ceasefire agreed"), tagger)
    assert body_only["peace talks"].relevance == 40
    assert in_headline["peace talks"].relevance == 85


def test_the_source_gets_its_default_tags(tagger: SubjectTagger) -> None:
    found = tags(item("Nothing to tag.", source="kyiv-independent"), tagger)
    assert found["Ukraine"].creator == "source-default"
    assert found["Ukraine"].relevance == 50
    assert "Ukraine" not in tags(item("Nothing to tag.", source="api"), tagger)


def test_subjects_from_upstream_are_kept_and_ours_replaced_on_re_enrichment(
    tagger: SubjectTagger,
) -> None:
    given = Entity(name="Politics", uri="http://cv.iptc.org/newscodes/mediatopic/11000000")
    news = item("A ceasefire was agreed.", subjects=(given,))
    once = news.model_copy(update=tagger.enrich(news))
    twice = once.model_copy(update=tagger.enrich(once))
    assert [s.name for s in once.subjects] == ["Politics", "peace talks"]
    assert twice.subjects == once.subjects


def test_too_short_a_wildcard_is_refused() -> None:
    with pytest.raises(ValueError, match="too short"):
        parse({"tags": [{"name": "x", "keywords": ["wa*"]}]})


# -- quotes ------------------------------------------------------------------------


def test_the_seed_articles_quotes_have_their_speakers() -> None:
    news = item(SEED.read_text(encoding="utf-8"))
    found = QUOTES.enrich(news)["quotes"]
    assert Quote(text="comprehensive, just and durable peace", speaker="Mikhail Galuzin") in found
    terms = [q for q in found if q.text.startswith("Restoration of territorial integrity")]
    assert terms == [
        Quote(
            text=terms[0].text,
            speaker="Volodymyr Zelensky",  # "he said", after "Zelensky outlined his terms"
        )
    ]
    # "new territorial realities" is a scare quote, not a statement
    assert not any(q.text.startswith("new territorial") for q in found)


@pytest.mark.parametrize(
    ("body", "speaker"),
    [
        ("“We will rebuild the school,” said Mayor Ihor Terekhov.", "Ihor Terekhov"),
        ('"We will rebuild the school," Terekhov said.', "Ihor Terekhov"),
        ("Zelensky said: “We are open to diplomacy, but not to surrender.”", "Volodymyr Zelensky"),
        (
            "Міський голова Ігор Терехов оглянув школу.\n\n"
            "«Ми відновимо школу до вересня», — заявив Терехов.",
            "Ihor Terekhov",
        ),
        (
            "Зеленський звернувся до партнерів.\n\n«Нам потрібна протиповітряна оборона зараз», "
            "— сказав він.",
            "Volodymyr Zelensky",
        ),
        (
            "Analyst Ivan Fechko spoke to reporters. “Moscow has lost an ally in the region,” "
            "he said.",
            "Ivan Fechko",
        ),
        ("“Nobody here is giving up at all,” a resident said.", None),
    ],
)
def test_speakers_are_named_where_the_text_says_who_spoke(body: str, speaker: str | None) -> None:
    (quote,) = QUOTES.enrich(item(body))["quotes"]
    assert quote.speaker == speaker


def test_an_item_without_quotation_marks_has_no_quotes() -> None:
    assert QUOTES.enrich(item("Zelensky met Putin.")) == {"quotes": ()}


# -- kind --------------------------------------------------------------------------


def test_a_video_rendition_or_player_makes_an_item_a_video() -> None:
    plain = builders.item(uri="urn:x")
    assert KIND.enrich(plain) == {}
    mp4 = plain.model_copy(
        update={
            "renditions": {
                "main": Rendition(href="https://cdn.example.org/a.mp4", contenttype="video/mp4")
            }
        }
    )
    assert KIND.enrich(mp4) == {"type": ItemType.video}
    page = plain.model_copy(
        update={"renditions": {"main": Rendition(href="https://vimeo.com/76979871")}}
    )
    assert KIND.enrich(page) == {"type": ItemType.video}
    embed = plain.model_copy(
        update={"body_html": '<iframe src="https://player.vimeo.com/video/1"></iframe>'}
    )
    assert KIND.enrich(embed) == {"type": ItemType.video}


def test_a_typed_item_keeps_its_type() -> None:
    picture = builders.item(
        uri="urn:x",
        type=ItemType.picture,
        renditions={
            "clip": Rendition(href="https://cdn.example.org/a.mp4", contenttype="video/mp4")
        },
    )
    assert KIND.enrich(picture) == {}
