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

from enrichment.config import EnrichmentConfig
from enrichment.enrichers.text import plain_text
from enrichment.nlp import word_list, words

if TYPE_CHECKING:
    from lingua import LanguageDetector

NAME = "language"
VERSION = "1"

# Fewer letters than this and no detector can be trusted.
MIN_LETTERS = 12
# Cyrillic text is told apart by letters first: these are Ukrainian only, and
# those Russian only (both alphabets share the rest).
UKRAINIAN_LETTERS = frozenset("іїєґІЇЄҐ")
RUSSIAN_LETTERS = frozenset("ыэъёЫЭЪЁ")
# With one of those letters and none of the other's, fewer letters do.
MIN_CYRILLIC_LETTERS = 4
CONFIDENCE_BY_LETTERS = 0.95
# Short Cyrillic text without those letters is told apart by frequent words
# that only one of the two languages has ("и", "что", "мой" / "і", "що", "мій").
RUSSIAN_WORDS = words(
    """
    и что это как он она они его её ее был была было были который которая которые
    когда уже ещё еще или только может нет мой моя моё мое меня тебя него вот всё
    очень где сейчас сегодня теперь если чтобы тоже потому себя свой своей также
    """
)
UKRAINIAN_WORDS = words(
    """
    і й що це як він вона вони його її був була було були який яка які коли вже
    ще або тільки може немає мій моя моє мене тебе нього ось дуже де зараз
    сьогодні тепер якщо щоб теж тому себе свій своєї також
    """
)
# Short Latin text: frequent English words that are not words of the other
# configured Latin-script languages (pl, de, fr, es).
ENGLISH_WORDS = words(
    """
    the and you not that this with is are were what which how have does your
    they she it of for from thanks thank please sorry yes maybe yet just all
    would can could should there their our its
    """
)
MIN_WORD_RULE_LETTERS = 4
# Texts shorter than this (characters) are tried by words first.
SHORT = 60
CONFIDENCE_BY_WORDS = 0.7


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


def _mostly_cyrillic(text: str) -> bool:
    cyrillic = latin = 0
    for c in text:
        if "\u0400" <= c <= "\u04ff":
            cyrillic += 1
        elif "a" <= c <= "z" or "A" <= c <= "Z":
            latin += 1
    return cyrillic > latin


@dataclass(frozen=True)
class LanguageEnricher:
    config: EnrichmentConfig
    NAME: str = NAME
    VERSION: str = VERSION

    def detect(self, text: str) -> tuple[str, float] | None:
        letters = sum(c.isalpha() for c in text) if len(text) < 4 * MIN_LETTERS else MIN_LETTERS
        languages = self.config.languages
        cyrillic = "uk" in languages and "ru" in languages and _mostly_cyrillic(text)
        if cyrillic:
            # Only Ukrainian and Russian among the configured languages
            # write in Cyrillic: choose between them, by letters when one
            # alphabet's own letters are there (lingua's trigrams confused
            # short Russian sentences with Ukrainian, and gave no answer).
            chars = set(text)
            ukrainian, russian = bool(chars & UKRAINIAN_LETTERS), bool(chars & RUSSIAN_LETTERS)
            if ukrainian != russian and letters >= MIN_CYRILLIC_LETTERS:
                return ("uk" if ukrainian else "ru"), CONFIDENCE_BY_LETTERS
            languages = tuple(code for code in languages if code in ("uk", "ru"))
        if letters < MIN_LETTERS or len(text) < SHORT:
            # Trigrams of a few words mislead the detector ("Вон люди —
            # далеко и мимо." came out Ukrainian, "Which do you prefer Crab
            # or Shrimp?" Spanish): frequent words first.
            found = self._by_words(text, cyrillic) if letters >= MIN_WORD_RULE_LETTERS else None
            if found is not None or letters < MIN_LETTERS:
                return found
        values = detector(languages).compute_language_confidence_values(text)
        if not values:
            return None
        best = values[0]
        if best.value < self.config.language_min_confidence:
            return None
        return best.language.iso_code_639_1.name.lower(), round(best.value, 4)

    def _by_words(self, text: str, cyrillic: bool) -> tuple[str, float] | None:
        """Too short for the detector: a language whose own frequent words
        are there, when no other language's are."""
        present = {w.lower() for w in word_list(text)}
        if cyrillic:
            russian, ukrainian = bool(present & RUSSIAN_WORDS), bool(present & UKRAINIAN_WORDS)
            if russian != ukrainian:
                return ("ru" if russian else "uk"), CONFIDENCE_BY_WORDS
            return None
        if "en" in self.config.languages and present & ENGLISH_WORDS:
            return "en", CONFIDENCE_BY_WORDS
        return None

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
