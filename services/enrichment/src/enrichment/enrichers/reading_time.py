"""Reading time in whole minutes, rounded up; at least 1 for any non-empty body."""

from __future__ import annotations

import math
from typing import Any

from shared.items import NewsItem

NAME = "reading_time"
VERSION = "1"

WORDS_PER_MINUTE = 230


def minutes(word_count: int, words_per_minute: int = WORDS_PER_MINUTE) -> int:
    if word_count <= 0:
        return 0
    return max(1, math.ceil(word_count / words_per_minute))


def enrich(item: NewsItem) -> dict[str, Any]:
    words = item.text.word_count if item.text else 0
    return {"reading_time_minutes": minutes(words)}
