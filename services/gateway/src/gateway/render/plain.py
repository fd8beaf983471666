"""Plain-text fields (headline, description_text) written into formats whose
readers may treat them as HTML.

Where a format's field is HTML (RSS `<description>`), the text is HTML-escaped,
so `<img …>` reaches the reader as the characters, not an element. Where the
field is plain text by its spec but readers are known to render it as HTML
anyway (JSON Feed `summary`, which many feeds fill with HTML), escaping would show
`&lt;` to the readers that follow the spec; instead every `<` that would open a
tag, comment or declaration gets a space after it (the HTML tokenizer reads
`< img` as text), which both kinds of reader show as nearly the same text.
"""

from __future__ import annotations

import html
import re

# What may follow "<" to start markup in HTML's tokenizer: a tag name, an end
# tag, a comment or declaration, a processing instruction.
_MARKUP_OPENER = re.compile(r"<(?=[A-Za-z/!?])")


def as_html(text: str) -> str:
    """Plain text as HTML that shows exactly that text."""
    return html.escape(text, quote=False)


def inert(text: str) -> str:
    """Plain text that no HTML parser reads as markup."""
    return _MARKUP_OPENER.sub("< ", text)
