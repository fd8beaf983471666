"""Plain text and counts from the (already sanitized) body, and an excerpt.

`text` gets the plain body, its word and character counts. When the item has
no `description_text`, it gets an excerpt: the first sentences of the body
that fit in `description_max_chars`, cut on a sentence boundary (or, if even
the first sentence is longer, on a word boundary with an ellipsis).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.items import NewsItem, TextStats
from shared.text import html_to_lines

from enrichment.config import EnrichmentConfig
from enrichment.nlp import sentence_spans, word_list

NAME = "text"
VERSION = "3"  # 3: the shared HTML-to-text (all block elements break lines)


def plain_text(body_html: str) -> str:
    """One line per block; table cells of a row separated by a space."""
    return html_to_lines(body_html)


def word_count(text: str) -> int:
    return len(word_list(text))


def excerpt(text: str, max_chars: int) -> str:
    """The first sentences of the lead paragraph of `text` that fit in `max_chars`."""
    lead = text.split("\n", 1)[0]
    if not lead or max_chars <= 0:
        return ""
    end = 0
    for _, stop in sentence_spans(lead):
        if stop > max_chars:
            break
        end = stop
    if end:
        return lead[:end].strip()
    cut = lead[: max_chars - 1]
    if " " in cut and lead[max_chars - 1 : max_chars] not in (" ", ""):
        cut = cut.rsplit(" ", 1)[0]  # do not cut a word in two
    return cut.rstrip(" ,;:—-") + "…"


@dataclass(frozen=True)
class TextEnricher:
    config: EnrichmentConfig
    NAME: str = NAME
    VERSION: str = VERSION

    def enrich(self, item: NewsItem) -> dict[str, Any]:
        body = plain_text(item.body_html)
        fields: dict[str, Any] = {
            "text": TextStats(body_text=body, word_count=word_count(body), char_count=len(body))
        }
        if not item.description_text and body:
            fields["description_text"] = excerpt(body, self.config.description_max_chars)
        return fields


def build(config: EnrichmentConfig) -> TextEnricher:
    return TextEnricher(config)
