"""Enrichment: the item's language, from a small lazily built detector."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from enrichment.config import EnrichmentConfig
from enrichment.enrichers import language
from shared.items import NewsItem

from tests.support import builders

# One short paragraph each, about the same story.
PARAGRAPHS = {
    "en": "Ukraine will not hold peace talks with Russia while Russian troops remain on its "
    "territory, the head of the presidential office wrote on Wednesday.",
    "uk": "Україна не вестиме мирних переговорів з Росією, доки російські війська "
    "перебувають на її території, написав у середу керівник Офісу президента.",
    "ru": "Украина не будет вести мирные переговоры с Россией, пока российские войска "
    "находятся на ее территории, написал в среду глава офиса президента.",
}


LANGUAGE = language.build(EnrichmentConfig())


def item(body: str, headline: str = "", **kw: Any) -> NewsItem:
    """An item whose body is `body`, one paragraph."""
    return builders.item(f"<p>{body}</p>", headline, uri="urn:newsfeed:test:language", **kw)


@pytest.mark.parametrize("code", ["en", "uk", "ru"])
def test_english_ukrainian_and_russian_are_told_apart_on_one_short_paragraph(code: str) -> None:
    fields = LANGUAGE.enrich(item(PARAGRAPHS[code]))
    assert fields["language"] == code
    assert fields["language_confidence"] >= 0.9


def test_names_do_not_sway_a_short_english_sample() -> None:
    headline = "Ukrainian journalist killed in drone strike in Donetsk Oblast"
    body = "A Ukrainian photojournalist, Andrii Kovalenko, was killed near Kramatorsk."
    assert LANGUAGE.enrich(item(body, headline))["language"] == "en"


@pytest.mark.parametrize(
    ("sentence", "code"),
    [
        # a letter only one of the two alphabets has
        ("Єдність!", "uk"),
        ("Съезд закрыт.", "ru"),
        # no such letter: a frequent word only one of the two languages has
        ("Який степ!", "uk"),
        ("Вон люди — далеко и мимо.", "ru"),
        # short English: frequent English words
        ("Which do you prefer?", "en"),
        ("Thanks, see you there.", "en"),
    ],
)
def test_short_sentences_get_their_language(sentence: str, code: str) -> None:
    assert LANGUAGE.enrich(item(sentence))["language"] == code


def test_a_short_cyrillic_sentence_without_clues_gets_no_guess() -> None:
    assert LANGUAGE.enrich(item("Не уходи!")) == {}


def test_an_item_that_states_its_language_keeps_it() -> None:
    assert LANGUAGE.enrich(item(PARAGRAPHS["uk"], language="en")) == {}


def test_too_little_text_gets_no_language() -> None:
    assert LANGUAGE.enrich(item("Kyiv.")) == {}
    assert LANGUAGE.enrich(item("")) == {}


def test_the_sample_is_lowercase_words_of_the_headline_and_body() -> None:
    sample = language.sample(item("Mikhail Galuzin told TASS that talks were possible."), 20)
    assert sample == "told that talks were"


def test_the_configured_languages_are_the_only_answers() -> None:
    two = language.build(EnrichmentConfig(languages=("uk", "ru")))
    assert two.enrich(item(PARAGRAPHS["ru"]))["language"] == "ru"
    assert two.enrich(item(PARAGRAPHS["en"])) == {}  # none of them: no guess


def test_unknown_language_codes_fail_at_build_time() -> None:
    with pytest.raises(ValueError, match="xx"):
        language.build(EnrichmentConfig(languages=("en", "xx")))


def test_the_detector_is_built_lazily_once_and_stays_small() -> None:
    """Importing the enricher loads nothing; the first item builds the detector
    for the configured languages only (low-accuracy mode). Measured in a fresh
    process: resident memory added by the detector and its first detections."""
    script = """
import json, time
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
from datetime import UTC, datetime
from shared.items import NewsItem
from enrichment.config import EnrichmentConfig
from enrichment.enrichers import language
before = rss()
loaded = language.detector.cache_info().currsize
start = time.perf_counter()
detector = language.build(EnrichmentConfig())
text = "Ukraine will not hold peace talks with Russia while troops remain on its land."
uk = "Україна не вестиме мирних переговорів з Росією."
for body in (text, uk, "Украина не будет вести переговоры."):
    at = datetime(2026, 1, 7, tzinfo=UTC)
    item = NewsItem(uri="urn:x", version=1, firstcreated=at, versioncreated=at, body_html=body)
    detector.enrich(item)
print(json.dumps({"loaded_at_import": loaded, "seconds": time.perf_counter() - start,
                  "mb": (rss() - before) / 1e6}))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    measured = json.loads(out.stdout)
    print(f"\nlanguage detector: +{measured['mb']:.1f} MB RSS, {measured['seconds']:.2f} s to load")
    assert measured["loaded_at_import"] == 0
    assert measured["mb"] < 60  # all languages preloaded: over 1 GB
    assert measured["seconds"] < 5
