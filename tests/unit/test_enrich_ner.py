"""The statistical name finder (enrichment.ner): its decoder gives the names
CRFsuite gives with the same weights, its tokens are the corpora's, and the
shipped model loads and finds names.

The decoder check trains a small CRFsuite model here, on sentences this test
generates from a fixed seed (no corpus is needed), exports it as the service
reads it (tools/ner/train.export) and compares both taggers on other
generated sentences.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pycrfsuite
import pytest
from enrichment import ner
from hypothesis import given, settings
from hypothesis import strategies as st

from tools.ner.train import export

FIRST = [
    "Anna",
    "Boris",
    "Carla",
    "Dmytro",
    "Elena",
    "Farid",
    "Greta",
    "Hiro",
    "Ivan",
    "Julia",
    "Kofi",
    "Lena",
]
LAST = [
    "Adams",
    "Brandt",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Horvat",
    "Ivanova",
    "Jansen",
    "Kowalski",
]
CITIES = [
    "Lyon",
    "Porto",
    "Gdansk",
    "Tampere",
    "Bergen",
    "Malmo",
    "Graz",
    "Brno",
    "Split",
    "Varna",
    "Cork",
    "Kaunas",
]
FIRMS = ["Vantor", "Quellix", "Brisa", "Norvik", "Talbet", "Orsano"]
SUFFIXES = ["Inc", "Corp", "Group", "Bank"]
TEMPLATES = [
    "{P} said on Monday that {F} would open an office in {C} .",
    "The mayor of {C} , {P} , met {P2} of {F} .",
    "{F} shares rose after {P} left for {C} and {C2} .",
    "In {C} , police questioned {P} about {F} accounts .",
    "{P} and {P2} of {F} flew from {C} to {C2} on Tuesday .",
]


def sentence(chooser: random.Random) -> list[tuple[str, str]]:
    def person() -> list[tuple[str, str]]:
        return [(chooser.choice(FIRST), "B-PER"), (chooser.choice(LAST), "I-PER")]

    def firm() -> list[tuple[str, str]]:
        return [(chooser.choice(FIRMS), "B-ORG"), (chooser.choice(SUFFIXES), "I-ORG")]

    def city() -> list[tuple[str, str]]:
        return [(chooser.choice(CITIES), "B-LOC")]

    slots = {"{P}": person, "{P2}": person, "{F}": firm, "{C}": city, "{C2}": city}
    out: list[tuple[str, str]] = []
    for word in chooser.choice(TEMPLATES).split():
        out += slots[word]() if word in slots else [(word, "O")]
    return out


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ner.Model]:
    folder = tmp_path_factory.mktemp("ner")
    chooser = random.Random(7)
    trainer = pycrfsuite.Trainer(verbose=False)
    for _ in range(300):
        tagged = sentence(chooser)
        trainer.append(ner.features([w for w, _ in tagged]), [t for _, t in tagged])
    trainer.set_params({"c1": 0.05, "c2": 0.01, "max_iterations": 60})
    crfsuite = folder / "small.crfsuite"
    trainer.train(str(crfsuite))
    exported = export(crfsuite, {}, folder / "small.json.gz")
    return crfsuite, ner.Model.load(exported)


def test_the_decoder_finds_the_names_crfsuite_finds(small_model: tuple[Path, ner.Model]) -> None:
    crfsuite, model = small_model
    tagger = pycrfsuite.Tagger()
    tagger.open(str(crfsuite))
    chooser = random.Random(8)
    checked = 0
    for _ in range(200):
        words = [w for w, _ in sentence(chooser)]
        expected = ner.decode(tagger.tag(ner.features(words)))
        assert ner.decode(model.tag(words)) == expected, words
        checked += len(expected)
    assert checked > 500  # the sentences had names in them


def test_names_stay_right_when_the_word_cache_fills_up(
    small_model: tuple[Path, ner.Model], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long-running service sees more distinct words than the cache keeps:
    emptying it must not change the names found (a cache emptied in the
    middle of a text had its rows written over while they were read)."""
    _, model = small_model
    chooser = random.Random(9)
    sentences = [[w for w, _ in sentence(chooser)] for _ in range(200)]
    expected = [model.names([words]) for words in sentences]
    monkeypatch.setattr(ner, "_CACHE_MAX", 30)
    small = ner.Model(model.labels, model.weights, model.transitions, model.bias)
    assert [small.names([words]) for words in sentences] == expected


def test_the_small_model_learned_the_generated_names(small_model: tuple[Path, ner.Model]) -> None:
    _, model = small_model
    text = "Hiro Jansen said on Monday that Norvik Bank would open an office in Graz ."
    assert [(kind, text[a:b]) for kind, a, b in model.spans(text)] == [
        ("PER", "Hiro Jansen"),
        ("ORG", "Norvik Bank"),
        ("LOC", "Graz"),
    ]


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("U.S. Treasury's yields", ["U.S.", "Treasury", "'s", "yields"]),
        ("J. Edgar Hoover", ["J.", "Edgar", "Hoover"]),
        ("O'Brien of AT&T, (Reuters).", ["O'Brien", "of", "AT&T", ",", "(", "Reuters", ")", "."]),
        ("state-owned Gazprom", ["state-owned", "Gazprom"]),
    ],
)
def test_text_is_cut_into_tokens_as_the_corpora_cut_it(text: str, tokens: list[str]) -> None:
    assert [t for t, _, _ in ner.tokenize(text)] == tokens


# The tokens as the training corpora cut them, written plainly: `ner._TOKEN`
# is the same pattern written for speed.
CORPUS_TOKEN = re.compile(
    r"(?:[A-Za-z]\.){2,}|[A-Z]\.(?=\s+[A-Z])"
    r"|\w+(?:(?:[-&]|['’](?![sS]\b))\w+)*"
    r"|['’][sS]\b|\S"
)


# Pieces whose joins make the hard cases: initials ("J. Edgar", "U.S."),
# possessives, inner hyphens and apostrophes, digits, underscores, accents.
PIECES = [
    *("a", "ab", "Z", "s", "S", "é", "Ж", "_", "1", "A.", "'s"),
    *(".", "-", "&", "'", "’", "(", " ", "\t", "\xa0"),
]


@settings(max_examples=3000)
@given(st.lists(st.sampled_from(PIECES), max_size=12).map("".join))
def test_the_faster_token_pattern_cuts_text_as_the_corpora_do(text: str) -> None:
    assert ner._TOKEN.findall(text) == CORPUS_TOKEN.findall(text)


def test_the_shipped_model_loads_and_finds_names() -> None:
    text = "The striker George Weah met Boris Yeltsin in Moscow on Monday."
    found = {(kind, text[a:b]) for kind, a, b in ner.model().spans(text)}
    assert {("PER", "George Weah"), ("PER", "Boris Yeltsin"), ("LOC", "Moscow")} <= found
    assert len(ner.fingerprint()) == 8


def test_lines_in_cyrillic_are_left_to_the_rules() -> None:
    assert ner.model().spans("Президент Володимир Зеленський заявив у Києві.") == []
