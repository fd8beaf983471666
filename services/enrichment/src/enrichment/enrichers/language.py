"""The item's language as a BCP 47 code, with a confidence, when it states none.

Detection uses lingua restricted to the languages the newsroom configures, in
its low-accuracy mode (trigram models only), built lazily the first time an
item needs it and then kept for the process: about 15 MB and 0.05 s for the
default seven languages, where lingua with every language preloaded is over
1 GB. The sample is about 64 characters of the lowercase words of the headline
and the start of the body (see `sample`), which is enough to tell English,
Ukrainian and Russian apart on one short paragraph, and keeps the cost per
item flat whatever the article's length (lingua costs about 0.6 µs a
character).

An item whose `language` is already set keeps it (and its confidence).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from shared.items import NewsItem

from enrichment.config import DEFAULT_CONFIG, EnrichmentConfig
from enrichment.enrichers.text import plain_text
from enrichment.nlp import word_list

if TYPE_CHECKING:
    from lingua import LanguageDetector

NAME = "language"
VERSION = "1"

# Fewer letters than this and no detector can be trusted.
MIN_LETTERS = 12


@lru_cache(maxsize=4)
def detector(languages: tuple[str, ...]) -> LanguageDetector:
    """One detector per configured language set, built on first use."""
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    chosen = [
        Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in languages
    ]
    if len(chosen) < 2:
        raise ValueError("language detection needs at least two languages to choose from")
    return LanguageDetectorBuilder.from_languages(*chosen).with_low_accuracy_mode().build()


def sample(item: NewsItem, max_chars: int) -> str:
    """About `max_chars` of the item's lowercase words, headline first.

    Names are left out: "Kovalenko", "Kramatorsk" or "Donetsk Oblast" say
    nothing about the language of the sentence around them, and a short
    sample full of them fooled the detector (an English headline taken for
    German). Lowercase words carry the language: from 50 to 100 characters
    of them told all 48 labelled items and 153 of 154 single sentences
    apart. A text with too few lowercase words (all capitals) is sampled as
    it is.
    """
    body = item.text.body_text if item.text is not None else plain_text(item.body_html)
    chosen: list[str] = []
    size = 0
    for text in (item.headline, body):
        for word in word_list(text):
            if word[0].islower():
                chosen.append(word)
                size += len(word) + 1
                if size >= max_chars:
                    return " ".join(chosen)
    if size >= MIN_LETTERS * 2:
        return " ".join(chosen)
    text = f"{item.headline}\n{body}" if item.headline else body
    return text[: max_chars * 2]


@dataclass(frozen=True)
class LanguageEnricher:
    config: EnrichmentConfig
    NAME: str = NAME
    VERSION: str = VERSION

    def detect(self, text: str) -> tuple[str, float] | None:
        if len(text) < 4 * MIN_LETTERS and sum(c.isalpha() for c in text) < MIN_LETTERS:
            return None
        values = detector(self.config.languages).compute_language_confidence_values(text)
        if not values:
            return None
        best = values[0]
        if best.value < self.config.language_min_confidence:
            return None
        return best.language.iso_code_639_1.name.lower(), round(best.value, 4)

    def enrich(self, item: NewsItem) -> dict[str, Any]:
        if item.language:
            return {}
        found = self.detect(sample(item, self.config.language_sample_chars))
        if found is None:
            return {}
        code, confidence = found
        return {"language": code, "language_confidence": confidence}


def build(config: EnrichmentConfig) -> LanguageEnricher:
    # Fail at start-up, not on the first item, if a configured code is unknown.
    from lingua import IsoCode639_1

    unknown = [code for code in config.languages if not hasattr(IsoCode639_1, code.upper())]
    if unknown:
        raise ValueError(f"unknown language codes for detection: {unknown}")
    return LanguageEnricher(config)


_DEFAULT = LanguageEnricher(DEFAULT_CONFIG)


def enrich(item: NewsItem) -> dict[str, Any]:
    return _DEFAULT.enrich(item)
