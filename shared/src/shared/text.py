"""HTML to plain text, one way for the whole system.

Used wherever a plain-text field is derived from HTML: ingest (a feed's
summary becomes `description_text`, an HTML title a headline), enrichment
(`text.body_text`) and the gateway. Block boundaries and line breaks are
word boundaries: `<p>First.</p><p>Second.</p>` is "First. Second.",
`x<br>y` is "x y" — never "First.Second." or "xy".

Written with regular expressions, not `html.parser`: it never raises on
hostile markup (Python 3.11's parser raises AssertionError on `<![>`), runs
in C-speed passes, and what it is given is either sanitized HTML or a
fragment whose tags are dropped anyway. A `<` that cannot start a tag
(`a < b`) is text, as in HTML.
"""

from __future__ import annotations

import html
import re

# Elements whose start or end is a break between words (a new line in `html_to_lines`).
_BLOCKS = (
    "address|article|aside|blockquote|br|dd|details|div|dl|dt|figcaption|figure|footer|"
    "h[1-6]|header|hr|li|main|nav|ol|p|pre|section|summary|table|tbody|thead|tfoot|tr|ul"
)
_BREAK = re.compile(rf"</?(?:{_BLOCKS})(?=[\s/>])[^>]*>", re.IGNORECASE)
_CELL_END = re.compile(r"</t[dh]\s*>", re.IGNORECASE)
# Elements whose content is never text shown to a reader.
_INVISIBLE = re.compile(
    r"<(script|style|template|noscript)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL
)
_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
_TAG = re.compile(r"</?[A-Za-z!?/][^>]*(?:>|$)")


def html_to_lines(value: str) -> str:
    """The visible text of HTML, one line per block, whitespace in a line collapsed,
    empty lines dropped; cells of a table row separated by a space."""
    if "<" not in value and "&" not in value:
        return "\n".join(line for line in (" ".join(x.split()) for x in value.split("\n")) if line)
    text = value
    if "<!--" in text:
        text = _COMMENT.sub("", text)
    if "</" in text:
        text = _INVISIBLE.sub("", text)
    text = _BREAK.sub("\n", text)
    if "</t" in text:
        text = _CELL_END.sub(" ", text)
    text = html.unescape(_TAG.sub("", text))
    # str.split() collapses every kind of whitespace, in C.
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def html_to_text(value: str) -> str:
    """The visible text of HTML on one line: blocks and line breaks become spaces."""
    return " ".join(html_to_lines(value).split())
