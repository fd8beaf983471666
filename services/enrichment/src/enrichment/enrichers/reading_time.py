"""Reading time in whole minutes, rounded up; at least 1 for any non-empty body.

Words per minute depend on the item's language (setting); Chinese, Japanese
and Korean characters are counted one by one at a characters-per-minute rate,
and any other words of the same text at the language's words-per-minute.
It reads what `text` computed: an item without text stats gets 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from shared.items import NewsItem

from enrichment.config import EnrichmentConfig
from enrichment.enrichers.text import word_count
from enrichment.nlp import cjk_count, has_cjk, without_cjk

NAME = "reading_time"
VERSION = "2"

WORDS_PER_MINUTE = 230


def minutes(word_count: int, words_per_minute: int = WORDS_PER_MINUTE) -> int:
    if word_count <= 0:
        return 0
    return max(1, math.ceil(word_count / words_per_minute))


def primary_subtag(language: str | None) -> str:
    return (language or "").split("-", 1)[0].lower()


@dataclass(frozen=True)
class ReadingTime:
    # language (primary subtag) -> reading speed
    words_per_minute: dict[str, int]
    default_words_per_minute: int
    chars_per_minute: dict[str, int]
    default_chars_per_minute: int
    NAME: str = NAME
    VERSION: str = VERSION

    def estimate(self, body_text: str, words: int, language: str | None) -> int:
        lang = primary_subtag(language)
        wpm = self.words_per_minute.get(lang, self.default_words_per_minute)
        if not has_cjk(body_text):
            return minutes(words, wpm)
        characters = cjk_count(body_text)
        other_words = word_count(without_cjk(body_text))
        cpm = self.chars_per_minute.get(lang, self.default_chars_per_minute)
        if characters + other_words == 0:
            return 0
        return max(1, math.ceil(characters / cpm + other_words / wpm))

    def enrich(self, item: NewsItem) -> dict[str, Any]:
        if item.text is None:
            return {"reading_time_minutes": 0}
        return {
            "reading_time_minutes": self.estimate(
                item.text.body_text, item.text.word_count, item.language
            )
        }


def build(config: EnrichmentConfig) -> ReadingTime:
    return ReadingTime(
        dict(config.words_per_minute),
        config.default_words_per_minute,
        dict(config.chars_per_minute),
        config.default_chars_per_minute,
    )
