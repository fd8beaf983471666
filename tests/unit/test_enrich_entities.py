"""Enrichment: people, organisations and places, from gazetteers and heuristics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from enrichment.config import EnrichmentConfig
from enrichment.enrichers import entities, text
from enrichment.enrichers.entities import EntityEnricher, Found
from enrichment.gazetteer import Kind
from shared.items import Entity, NewsItem

from tests.support import builders

CONFIG = EnrichmentConfig()
ENTITIES, TEXT = entities.build(CONFIG), text.build(CONFIG)
SEED = Path(__file__).resolve().parents[1] / "fixtures" / "seed_article.txt"
SEED_HEADLINE = (
    "Russia wants Ukraine to give up occupied territories, NATO and EU membership "
    "to start peace talks"
)


def item(body: str, headline: str = "", **kw: Any) -> NewsItem:
    """An item of plain-text paragraphs, with the text enricher's fields (read by entities)."""
    news = builders.item(
        builders.paragraphs(body), headline, uri="urn:newsfeed:test:entities", **kw
    )
    return news.model_copy(update=TEXT.enrich(news))


def names(fields: dict[str, Any], field: str) -> list[str]:
    return [e.name for e in fields[field]]


def seed_item() -> NewsItem:
    return item(SEED.read_text(encoding="utf-8"), SEED_HEADLINE)


@pytest.fixture(scope="module")
def heuristics_only(tmp_path_factory: pytest.TempPathFactory) -> EntityEnricher:
    """No newsroom entries, no world gazetteer, no model: what the heuristics find alone."""
    empty = tmp_path_factory.mktemp("gazetteer") / "empty.yaml"
    empty.write_text("people: []\n", encoding="utf-8")
    return EntityEnricher(EnrichmentConfig(gazetteer_path=empty), world=False, statistical=False)


@pytest.fixture(scope="module")
def model_only(tmp_path_factory: pytest.TempPathFactory) -> EntityEnricher:
    """No gazetteer at all: the statistical model (and the heuristics)."""
    empty = tmp_path_factory.mktemp("gazetteer") / "empty.yaml"
    empty.write_text("people: []\n", encoding="utf-8")
    return EntityEnricher(EnrichmentConfig(gazetteer_path=empty), world=False)


# -- the seed article --------------------------------------------------------------


def test_the_seed_article_yields_its_people_organisations_and_places() -> None:
    fields = ENTITIES.enrich(seed_item())
    assert {"Mikhail Galuzin", "Volodymyr Zelensky", "Andriy Yermak", "Vladimir Putin"} <= set(
        names(fields, "people")
    )
    assert {"NATO", "EU", "TASS", "UN"} <= set(names(fields, "organisations"))
    assert {"Ukraine", "Russia"} <= set(names(fields, "places"))


def test_the_seed_article_has_no_false_people() -> None:
    people = names(ENTITIES.enrich(seed_item()), "people")
    assert sorted(people) == [
        "Andriy Yermak",
        "Mikhail Galuzin",
        "Vladimir Putin",
        "Volodymyr Zelensky",
    ]


def test_heuristics_alone_find_the_seed_articles_people(heuristics_only: EntityEnricher) -> None:
    fields = heuristics_only.enrich(seed_item())
    people = {e.name: e for e in fields["people"]}
    # Titles before ("President ..."), after ("..., Russian deputy foreign
    # minister,"), and before a comma ("Chief of Staff, ..."); surnames alone
    # ("Galuzin also said", "Following Galuzin’s claim") are coreferences.
    assert sorted(people) == [
        "Andriy Yermak",
        "Mikhail Galuzin",
        "Vladimir Putin",
        "Volodymyr Zelensky",
    ]
    assert all(e.creator == "heuristic" for e in people.values())
    assert people["Mikhail Galuzin"].relevance == 60  # three mentions
    assert all(e.literal and e.uri is None for e in people.values())


def test_without_any_gazetteer_the_model_finds_the_seed_articles_people_and_places(
    model_only: EntityEnricher,
) -> None:
    fields = model_only.enrich(seed_item())
    people = {e.name for e in fields["people"]}
    assert {"Andriy Yermak", "Mikhail Galuzin", "Vladimir Putin", "Volodymyr Zelensky"} <= people
    assert {"Russia", "Ukraine"} <= {e.name for e in fields["places"]}


@pytest.mark.parametrize(
    ("sentence", "kind", "name"),
    [
        # names without a title or a speech verb: objects, lists, appositions
        ("The striker George Weah scored twice on Sunday.", "people", "George Weah"),
        (
            "Senators welcomed the appointment of Madeleine Albright on Thursday.",
            "people",
            "Madeleine Albright",
        ),
        # a company that speaks is not a person
        ("Salomon Brothers said bond yields would fall.", "organisations", "Salomon Brothers"),
        ("Honda Motor Co Ltd said sales rose.", "organisations", "Honda Motor Co Ltd"),
    ],
)
def test_the_model_finds_names_the_rules_could_not(sentence: str, kind: str, name: str) -> None:
    fields = ENTITIES.enrich(item(sentence))
    assert name in names(fields, kind)
    assert not any(
        name == e.name
        for other in ("people", "organisations", "places")
        if other != kind
        for e in fields[other]
    )


def test_a_title_is_not_part_of_a_name_and_a_demonym_is_not_a_place() -> None:
    fields = ENTITIES.enrich(
        item("Prime Minister Benjamin Netanyahu met Iraqi officials in Amman.")
    )
    assert names(fields, "people") == ["Benjamin Netanyahu"]
    assert "Iraqi" not in names(fields, "places")


def test_teams_in_a_results_line_are_organisations() -> None:
    fields = ENTITIES.enrich(item("Results on Tuesday: Boston 5 Detroit 3, Chicago 4 Seattle 2."))
    assert {"Boston", "Detroit", "Chicago", "Seattle"} <= set(names(fields, "organisations"))
    assert not {"Boston", "Detroit", "Chicago", "Seattle"} & set(names(fields, "places"))


# -- ninjs shape -------------------------------------------------------------------


def test_entities_have_the_ninjs_shape() -> None:
    fields = ENTITIES.enrich(seed_item())
    ukraine = next(e for e in fields["places"] if e.name == "Ukraine")
    assert ukraine.uri == "https://sws.geonames.org/690791/"
    assert ukraine.literal is None
    assert ukraine.rel == "mentioned"
    assert ukraine.creator == "gazetteer"
    assert ukraine.confidence is not None
    assert 0 < ukraine.confidence <= 1
    assert ukraine.relevance == 100  # in the headline and mentioned often
    putin = next(e for e in fields["people"] if e.name == "Vladimir Putin")
    assert (putin.uri, putin.literal, putin.relevance) == (None, "vladimir-putin", 20)


def test_entities_come_in_order_of_first_mention() -> None:
    fields = ENTITIES.enrich(item("Putin met Lukashenko. Later Zelensky spoke to Putin."))
    assert names(fields, "people") == [
        "Vladimir Putin",
        "Alexander Lukashenko",
        "Volodymyr Zelensky",
    ]


# -- precision ---------------------------------------------------------------------


def test_an_opener_before_a_surname_is_not_part_of_the_name() -> None:
    people = ENTITIES.enrich(item("Following Galuzin’s claim, officials said nothing."))["people"]
    assert [e.name for e in people] == ["Mikhail Galuzin"]


@pytest.mark.parametrize(
    "sentence",
    [
        "Despite frequent calls for a ceasefire, the fighting went on.",
        "In November, the talks stalled.",
        "He wrote on Telegram that the talks were over.",
        "Read more about the Restoration of the old town.",
        "The Foreign Minister Said Nothing.",
    ],
)
def test_sentence_openers_and_platforms_are_not_people(sentence: str) -> None:
    assert ENTITIES.enrich(item(sentence))["people"] == ()


def test_a_place_glued_to_other_capitalized_words_is_not_a_place() -> None:
    fields = ENTITIES.enrich(
        item(
            "The Washington Post reported that Andrew Jackson Smith and Sofia Ivanova "
            "studied at Kyiv University."
        )
    )
    assert names(fields, "places") == []
    assert {"Washington Post", "Kyiv University"} <= set(names(fields, "organisations"))


def test_ambiguous_place_names_need_a_locative() -> None:
    assert names(ENTITIES.enrich(item("Reading the letter, he paused.")), "places") == []
    assert names(ENTITIES.enrich(item("The rally was held in Reading.")), "places") == ["Reading"]


def test_the_same_surname_is_not_the_same_person() -> None:
    fields = ENTITIES.enrich(
        item("Deputy Prime Minister Oleksii Kuleba said exports had recovered.")
    )
    assert names(fields, "people") == ["Oleksii Kuleba"]


def test_a_possessive_owner_is_a_place_too() -> None:
    fields = ENTITIES.enrich(item("Ukraine's General Staff said the attack was repelled."))
    assert names(fields, "places") == ["Ukraine"]
    assert names(fields, "organisations") == ["General Staff of the Armed Forces of Ukraine"]


# -- heuristics --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sentence", "person"),
    [
        ("Foreign policy analyst Ivan Fechko said the crisis was a setback.", "Ivan Fechko"),
        ("Olena Kovalchuk, a retired teacher, hands out candles.", "Olena Kovalchuk"),
        ('"We will rebuild," said Taras Boiko of the city council.', "Taras Boiko"),
        ("Mayor Oleksandr Lomako said several sites had been hit.", "Oleksandr Lomako"),
        (
            "Очільник обласної військової адміністрації Олег Кіпер повідомив про атаку.",
            "Олег Кіпер",
        ),
    ],
)
def test_titled_and_speaking_people_are_found(sentence: str, person: str) -> None:
    fields = ENTITIES.enrich(item(sentence))
    assert names(fields, "people") == [person]
    # a title is the rules' evidence; a speech verb alone is left to the model
    assert fields["people"][0].creator in ("heuristic", "model")


@pytest.mark.parametrize(
    ("sentence", "organisation"),
    [
        (
            "The Central Electoral Commission said turnout was high.",
            "Central Electoral Commission",
        ),
        (
            "The Coordination Headquarters for the Treatment of Prisoners of War confirmed it.",
            "Coordination Headquarters for the Treatment of Prisoners of War",
        ),
        (
            "The National Union of Journalists of Ukraine counted the dead.",
            "National Union of Journalists of Ukraine",
        ),
    ],
)
def test_organisation_names_are_found_whole(sentence: str, organisation: str) -> None:
    fields = ENTITIES.enrich(item(sentence))
    assert names(fields, "organisations") == [organisation]
    assert names(fields, "places") == []  # "of Ukraine" is part of the name


def test_the_headline_gets_gazetteer_names_only() -> None:
    fields = ENTITIES.enrich(item("Nothing here.", "Zelensky Meets Cypriot Leader In Nicosia"))
    assert names(fields, "people") == ["Volodymyr Zelensky"]
    assert names(fields, "places") == ["Nicosia"]


# -- Ukrainian and Russian ---------------------------------------------------------


def test_case_forms_meet_their_names() -> None:
    fields = ENTITIES.enrich(
        item(
            "Зеленського підтримали в Україні, а переговори з Росією відклали. "
            "У Києві та Харкові оголосили тривогу."
        )
    )
    assert names(fields, "people") == ["Volodymyr Zelensky"]
    assert names(fields, "places") == ["Ukraine", "Russia", "Kyiv", "Kharkiv"]


def test_a_genitive_place_before_a_name_is_kept() -> None:
    fields = ENTITIES.enrich(item("Заступник міністра закордонних справ Росії Михайло Галузін."))
    assert names(fields, "places") == ["Russia"]
    assert names(fields, "people") == ["Mikhail Galuzin"]


# -- the gazetteer file ------------------------------------------------------------


def test_a_newsroom_gazetteer_adds_people_with_aliases(tmp_path: Path) -> None:
    path = tmp_path / "newsroom.yaml"
    path.write_text(
        "people:\n"
        "  - name: Olha Stefanishyna\n"
        "    uri: https://www.wikidata.org/wiki/Q0\n"
        "    aliases: [Stefanishyna, Ольга Стефанішина]\n",
        encoding="utf-8",
    )
    enricher = EntityEnricher(EnrichmentConfig(gazetteer_path=path), world=False)
    fields = enricher.enrich(item("Ольгу Стефанішину призначили послом. Stefanishyna said yes."))
    (person,) = fields["people"]
    assert (person.name, person.uri, person.creator) == (
        "Olha Stefanishyna",
        "https://www.wikidata.org/wiki/Q0",
        "gazetteer",
    )
    assert person.relevance == 40  # two mentions


def test_the_version_names_the_gazetteer(tmp_path: Path) -> None:
    path = tmp_path / "newsroom.yaml"
    path.write_text("people: []\n", encoding="utf-8")
    default = EntityEnricher(EnrichmentConfig())
    custom = EntityEnricher(EnrichmentConfig(gazetteer_path=path))
    assert default.VERSION.startswith(f"{entities.VERSION}+")
    assert default.VERSION != custom.VERSION
    path.write_text("people: [{name: Somebody Else}]\n", encoding="utf-8")
    assert EntityEnricher(EnrichmentConfig(gazetteer_path=path)).VERSION != custom.VERSION


def test_a_bad_gazetteer_entry_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newsroom.yaml"
    path.write_text("people:\n  - aliases: [Nameless]\n", encoding="utf-8")
    config = EnrichmentConfig().model_copy(update={"gazetteer_path": path})
    enricher = EntityEnricher(config, world=False)
    with pytest.raises(ValueError, match="name"):
        enricher.enrich(item("Nameless said so."))


# -- upstream entities, determinism ------------------------------------------------


def test_entities_from_the_source_are_kept_first() -> None:
    given = Entity(name="Volodymyr Zelensky", uri="https://example.org/z", creator="source")
    news = item("Zelensky met Putin.", people=(given,))
    people = ENTITIES.enrich(news)["people"]
    assert people[0] == given
    assert [e.name for e in people] == ["Volodymyr Zelensky", "Vladimir Putin"]


def test_re_enriching_replaces_our_own_entities() -> None:
    news = seed_item()
    once = news.model_copy(update=ENTITIES.enrich(news))
    twice = once.model_copy(update=ENTITIES.enrich(once))
    assert twice.people == once.people
    assert twice.places == once.places
    assert ENTITIES.enrich(news) == ENTITIES.enrich(news)


# -- sports, initials, abbreviations -------------------------------------------------


def test_in_a_sports_item_cities_and_counties_are_the_teams_named_after_them() -> None:
    fields = ENTITIES.enrich(
        item(
            "LONDON 1996-08-30\n\n"
            "Leeds beat Sheffield by two wickets at Headingley in Leeds. "
            "England discard Andy Caddick took three for 83.",
            "CRICKET - LEEDS TAKE OVER AT TOP",
        )
    )
    assert {"Leeds", "Sheffield"} <= set(names(fields, "organisations"))
    # the dateline, a place after a locative and a country stay places
    assert {"London", "Leeds", "England"} <= set(names(fields, "places"))
    assert "Sheffield" not in names(fields, "places")


def test_results_and_standings_lines_name_teams_no_one_listed() -> None:
    fields = ENTITIES.enrich(
        item(
            "English league results on Saturday:\n\n"
            "Barnsley 1 Bournemouth 0\n\n"
            "Crystal Palace 10 6 3 1 20 11 21\n\n"
            "Scorers: Zidane 23, Gomez 45",
            "SOCCER - ENGLISH LEAGUE RESULTS",
        )
    )
    assert {"Barnsley", "Bournemouth", "Crystal Palace"} <= set(names(fields, "organisations"))
    # a list of scorers is not a result
    assert not {"Zidane", "Gomez"} & set(names(fields, "organisations"))


def test_outside_sports_a_city_stays_a_place() -> None:
    fields = ENTITIES.enrich(item("Boston beat the deadline for its budget on Friday."))
    assert names(fields, "places") == ["Boston"]
    assert names(fields, "organisations") == []


def test_initials_and_a_surname_are_a_person_but_not_a_place_abbreviation() -> None:
    fields = ENTITIES.enrich(item("A. Dale and T.O'Gorman watched the U.S. Open from Leeds."))
    assert {"A. Dale", "T.O'Gorman"} <= set(names(fields, "people"))
    assert not any("Open" in n for n in names(fields, "people"))


def test_a_name_ending_in_an_abbreviation_keeps_its_dot() -> None:
    fields = ENTITIES.enrich(item("Shares of Banc One Corp. rose 2 percent on Monday."))
    assert names(fields, "organisations") == ["Banc One Corp."]


def test_a_name_the_model_tagged_two_ways_is_one_kind_in_an_item() -> None:
    def mention(kind: Kind, name: str, start: int, creator: str = "model") -> Found:
        return Found(kind, name, None, name.lower(), start, 0.7, creator)

    found = [
        mention("organisation", "Essex", 0),
        mention("person", "ESSEX", 40),
        mention("organisation", "Essex", 80),
        # the gazetteer's or the rules' kind wins over the model's
        mention("person", "Hyundai", 120),
        mention("organisation", "Hyundai", 160, creator="heuristic"),
        # two kinds found by rules both stand: the dateline and the team
        mention("place", "New York", 200, creator="gazetteer"),
        mention("organisation", "New York", 240, creator="heuristic"),
    ]
    entities._one_kind(found)
    assert [m.kind for m in found] == [
        "organisation",
        "organisation",
        "organisation",
        "organisation",
        "organisation",
        "place",
        "organisation",
    ]


def test_in_a_sports_item_a_name_with_a_country_in_brackets_is_a_competitor() -> None:
    fields = ENTITIES.enrich(
        item(
            "Leading results on Friday:\n\n"
            "1. Michelle Freeman (Jamaica) 12.71 seconds\n\n"
            "Monica Seles (U.S.) beat Irina Spirlea (Romania) 6-2 6-3\n\n"
            "Red Star Belgrade (Yugoslavia) drew with Ajax.",
            "ATHLETICS - BERLIN GRAND PRIX RESULTS",
        )
    )
    people = set(names(fields, "people"))
    assert {"Michelle Freeman", "Monica Seles", "Irina Spirlea"} <= people
    assert "Red Star Belgrade" not in people
