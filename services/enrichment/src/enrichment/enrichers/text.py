"""Plain text and counts from the (already sanitized) body."""

from __future__ import annotations

import html
import re
from typing import Any

from shared.items import NewsItem, TextStats

NAME = "text"
VERSION = "1"

_BLOCK_END = re.compile(r"</(p|li|h[2-4]|blockquote|figcaption|tr|pre)>|<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"[ \t\r\f\v]+")
_WORD = re.compile(r"\w+(?:[-'’]\w+)*")


def plain_text(body_html: str) -> str:
    text = _BLOCK_END.sub("\n", body_html)
    text = html.unescape(_TAG.sub("", text))
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def enrich(item: NewsItem) -> dict[str, Any]:
    body = plain_text(item.body_html)
    return {
        "text": TextStats(body_text=body, word_count=len(_WORD.findall(body)), char_count=len(body))
    }
