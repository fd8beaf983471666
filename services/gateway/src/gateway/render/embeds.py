"""Video embeds in a body become click-to-load placeholders.

Enrichment's sanitizer keeps an `<iframe>` only for an allow-listed video
player. Left as it is, the reader's browser would contact that player as soon
as the page shows it. Here each iframe is replaced by a link to the player
(carrying what the page script needs to build the frame when the reader
clicks it); an iframe from any other host is dropped. Without JavaScript the
link still works: it opens the player.

The body is scanned with an HTML tokenizer rather than a regular expression,
so text that merely looks like a tag (inside an attribute value, say) is
never taken for one.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser
from urllib.parse import urlsplit

DEFAULT_FRAME_HOSTS = frozenset(
    {"www.youtube-nocookie.com", "youtube-nocookie.com", "player.vimeo.com"}
)


def frame_src(url: str, hosts: frozenset[str]) -> str | None:
    """`url` when it is an https URL on an allowed host (no credentials, no port)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    host = parts.hostname or ""
    if parts.scheme != "https" or host not in hosts or parts.netloc != host:
        return None
    return parts.geturl()


class _IframeFinder(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self._text = text
        self._line_starts = [0]
        for index, char in enumerate(text):
            if char == "\n":
                self._line_starts.append(index + 1)
        self._open: tuple[int, dict[str, str | None]] | None = None
        self.found: list[tuple[int, int, dict[str, str | None]]] = []

    def _offset(self) -> int:
        line, column = self.getpos()
        return self._line_starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "iframe" and self._open is None:
            start = self._offset()
            raw = self.get_starttag_text() or ""
            self._open = (start, dict(attrs))
            if raw.endswith("/>"):
                self.found.append((start, start + len(raw), dict(attrs)))
                self._open = None

    def handle_endtag(self, tag: str) -> None:
        if tag == "iframe" and self._open is not None:
            start, attrs = self._open
            end = self._text.find(">", self._offset()) + 1
            self.found.append((start, end, attrs))
            self._open = None


def placeholder(src: str, title: str | None) -> str:
    host = urlsplit(src).hostname or ""
    label = title or "Embedded video"
    return (
        f'<figure class="embed" data-embed-src="{html.escape(src)}"'
        f' data-embed-title="{html.escape(label)}">'
        f'<a class="embed-load" href="{html.escape(src)}" rel="noopener noreferrer">'
        f"Play video: {html.escape(label)}"
        f" <small>(loads from {html.escape(host)})</small></a></figure>"
    )


def click_to_load(body: str, hosts: frozenset[str] = DEFAULT_FRAME_HOSTS) -> str:
    if "<iframe" not in body.lower():
        return body
    finder = _IframeFinder(body)
    finder.feed(body)
    finder.close()
    if finder._open is not None:  # an iframe never closed: drop it and what follows
        start, _ = finder._open
        finder.found.append((start, len(body), {}))
    out: list[str] = []
    position = 0
    for start, end, attrs in finder.found:
        out.append(body[position:start])
        src = frame_src(attrs.get("src") or "", hosts)
        if src is not None:
            out.append(placeholder(src, attrs.get("title")))
        position = end
    out.append(body[position:])
    return "".join(out)
