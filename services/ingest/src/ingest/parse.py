"""Feed bytes to entries: RSS 2.0, RSS 1.0, Atom 1.0 (feedparser) and JSON Feed 1.x.

Safety first:

- feedparser gets a BytesIO, never a str nor bytes: given a str it fetches
  URLs and reads local paths, and given *bytes* it still tries `open()` on
  them first — a body that is exactly "/etc/passwd" would be read as that
  file. A file object is only ever read.
- Before any XML parser sees the document, its prolog is checked: a
  document type declaration may name an external DTD (it is never loaded)
  and declare a few harmless entities (`&nbsp;` as `&#160;`, or up to 8
  characters of text), and nothing else; those are applied here and the
  DOCTYPE dropped, so no parser ever expands a declared entity. External
  entities (XXE), parameter entities, entities made of other entities
  (billion laughs) or long ones (quadratic blow-up) are refused with a
  reason, before parsing.
- feedparser itself trips on some hostile bytes (bad encoding declarations,
  NULs): that is a parse failure with a reason, never a crash.
- JSON Feed is read with orjson (depth-limited) from bytes.
- The entry cap holds while parsing: a document with more entries than the
  cap is cut before the first entry over it (and its open elements closed)
  before feedparser sees it, so 100,000 tiny entries cost what 500 do.
- One entry that cannot be read is skipped and counted; the others go on.
"""

from __future__ import annotations

import html
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urljoin

import feedparser
import orjson
from shared.text import html_to_text

from ingest.media import Media, json_item_media, xml_entry_media

PROLOG_LIMIT = 64 * 1024
MAX_ENTITIES = 64

_SAFE_ENTITY_VALUE = re.compile(r"^(?:&#[0-9]{1,7};|&#x[0-9A-Fa-f]{1,6};|[^&%<>\"']{0,8})$")
_PREDEFINED = frozenset({"amp", "lt", "gt", "quot", "apos"})
_ENTITY_DECL = re.compile(r"<!ENTITY\s+([A-Za-z_][\w.-]*)\s+(\"[^\"]*\"|'[^']*')\s*>")
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_ROOT = re.compile(r"<[^\W\d]", re.U)


class FeedKind(StrEnum):
    rss2 = "rss2.0"
    rss1 = "rss1.0"
    atom1 = "atom1.0"
    jsonfeed11 = "jsonfeed1.1"
    jsonfeed10 = "jsonfeed1.0"
    rss09 = "rss0.9x"
    atom03 = "atom0.3"
    rss = "rss"  # <rss> without a version attribute
    atom = "atom"  # <feed> without the Atom namespace
    cdf = "cdf"  # Microsoft's Channel Definition Format


_FEEDPARSER_KINDS = {
    "rss20": FeedKind.rss2,
    "rss10": FeedKind.rss1,
    "atom10": FeedKind.atom1,
    "rss090": FeedKind.rss09,
    "rss091n": FeedKind.rss09,
    "rss091u": FeedKind.rss09,
    "rss092": FeedKind.rss09,
    "rss093": FeedKind.rss09,
    "rss094": FeedKind.rss09,
    "atom01": FeedKind.atom03,
    "atom02": FeedKind.atom03,
    "atom03": FeedKind.atom03,
    "rss": FeedKind.rss,
    "atom": FeedKind.atom,
    "cdf": FeedKind.cdf,
}


class ParseFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class HostileFeed(ParseFailed):
    """A document built to attack its parser: refused, never parsed."""


@dataclass(frozen=True)
class Entry:
    """One entry as the feed gave it; nothing decided yet."""

    guid: str | None
    link: str | None
    title: str
    content_html: str
    summary_html: str | None
    date_raw: str | None
    date_parsed: datetime | None  # the parser's own reading (UTC), a fallback
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    media: tuple[Media, ...] = ()


@dataclass(frozen=True)
class ParsedFeed:
    kind: FeedKind
    title: str | None
    language: str | None
    ttl_s: float | None
    entries: tuple[Entry, ...]
    total_entries: int
    warning: str | None = None
    skipped: int = 0  # entries that could not be read at all
    last_skip: str | None = None  # which one and why


# -- hostile XML ---------------------------------------------------------------


@dataclass(frozen=True)
class _View:
    """The start of a document as ASCII-compatible text, for the prolog scan."""

    text: str
    offset: int  # bytes of the original before `text` starts (a UTF-8 BOM)
    transcoded: bool  # UTF-16/32: offsets in `text` are not offsets in the bytes


def _view(data: bytes) -> _View:
    head = data[:PROLOG_LIMIT]
    for mark, codec in (
        (b"\x00\x00\xfe\xff", "utf-32-be"),
        (b"\xff\xfe\x00\x00", "utf-32-le"),
        (b"\xfe\xff", "utf-16-be"),
        (b"\xff\xfe", "utf-16-le"),
        (b"\x00\x00\x00<", "utf-32-be"),
        (b"<\x00\x00\x00", "utf-32-le"),
        (b"\x00<", "utf-16-be"),
        (b"<\x00", "utf-16-le"),
    ):
        if head.startswith(mark):
            cut = len(head) - len(head) % 4
            text = head[:cut].decode(codec, errors="replace").lstrip("\ufeff")
            return _View(text.encode("utf-8", "replace").decode("latin-1"), 0, True)
    offset = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    return _View(head[offset:].decode("latin-1"), offset, False)


@dataclass(frozen=True)
class Prolog:
    """What a clean prolog declares: harmless entities, and where its DOCTYPE is."""

    entities: dict[str, str]
    doctype: tuple[int, int] | None  # byte span of a DOCTYPE with an internal subset


def check_xml(data: bytes) -> Prolog:
    """Refuse (HostileFeed) a document whose prolog declares anything but harmless entities."""
    view = _view(data)
    text = view.text
    position = 0
    entities: dict[str, str] = {}
    doctype: tuple[int, int] | None = None
    while True:
        while position < len(text) and text[position] in " \t\r\n":
            position += 1
        rest = text[position:]
        if rest.startswith("<?"):
            end = _after(rest, "?>")
        elif rest.startswith("<!--"):
            end = _after(rest, "-->")
        elif rest[:9].upper() == "<!DOCTYPE":
            if doctype is not None or entities:
                raise HostileFeed("refused: more than one document type declaration")
            end, entities = _doctype(rest)
            if entities:
                if view.transcoded:
                    raise HostileFeed("refused: entity declarations in a UTF-16/32 document")
                doctype = (view.offset + position, view.offset + position + end)
        elif rest.startswith("<!"):
            raise HostileFeed("refused: a markup declaration outside the document type")
        elif not rest and len(data) > PROLOG_LIMIT:
            raise HostileFeed(f"refused: XML prolog longer than {PROLOG_LIMIT} bytes")
        elif rest and not _ROOT.match(rest):
            raise ParseFailed("not XML (or in an encoding this service does not read)")
        else:
            return Prolog(entities, doctype)  # the root element: the prolog is clean
        position += end


def defuse(data: bytes) -> bytes:
    """The document to parse: checked, and with its harmless entity declarations
    (`<!ENTITY nbsp "&#160;">`) applied by hand and its DOCTYPE dropped, so no
    parser ever handles a declared entity."""
    prolog = check_xml(data)
    if prolog.doctype is None:
        return data
    start, end = prolog.doctype
    body = data[end:]
    for name, value in prolog.entities.items():
        body = body.replace(f"&{name};".encode("latin-1"), value.encode("latin-1"))
    return data[:start] + body


def _after(rest: str, terminator: str) -> int:
    found = rest.find(terminator)
    if found < 0:
        raise HostileFeed("refused: unterminated XML prolog")
    return found + len(terminator)


def _doctype(rest: str) -> tuple[int, dict[str, str]]:
    """Check the DOCTYPE at the start of `rest`: (offset just after it, its entities)."""
    quote = ""
    for index, char in enumerate(rest):
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "[":
            end = re.compile(r"\]\s*>").search(rest, index)
            if end is None:
                raise HostileFeed("refused: unterminated document type declaration")
            return end.end(), _check_subset(rest[index + 1 : end.start()])
        elif char == ">":
            return index + 1, {}
    raise HostileFeed("refused: unterminated document type declaration")


def _check_subset(subset: str) -> dict[str, str]:
    subset = _COMMENT.sub("", subset)
    if "%" in subset:
        raise HostileFeed("refused: the document type declares parameter entities")
    declarations = _ENTITY_DECL.findall(subset)
    leftover = _ENTITY_DECL.sub("", subset).strip()
    if "SYSTEM" in leftover.upper() or "PUBLIC" in leftover.upper():
        raise HostileFeed("refused: the document type declares an external entity (XXE)")
    if leftover:
        what = leftover[:40].split(">")[0]
        raise HostileFeed(f"refused: the document type declares {what!r}")
    if len(declarations) > MAX_ENTITIES:
        raise HostileFeed(f"refused: more than {MAX_ENTITIES} entity declarations")
    entities: dict[str, str] = {}
    for name, quoted in declarations:
        value = quoted[1:-1]
        if not _SAFE_ENTITY_VALUE.match(value):
            raise HostileFeed(
                f"refused: entity {name!r} is not a single character or short text "
                "(entity expansion)"
            )
        if name in _PREDEFINED:
            continue  # XML's own five stay XML's
        entities.setdefault(name, value if value.startswith("&#") else html.escape(value))
    return entities


# -- text helpers ----------------------------------------------------------------


def text_to_html(value: str) -> str:
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", value) if p.strip()]
    return "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)


_EMAIL_NAME = re.compile(r"^\s*\S+@\S+\s*\((.+)\)\s*$")


def author_name(raw: str | None) -> str | None:
    """A byline from an RSS author ("mail@example.org (Name)"); a bare address is no name."""
    if not raw or not raw.strip():
        return None
    match = _EMAIL_NAME.match(raw)
    if match:
        return match.group(1).strip() or None
    if re.fullmatch(r"\S+@\S+", raw.strip()):
        return None
    return " ".join(raw.split())[:200]


# -- XML feeds via feedparser ------------------------------------------------------


def _struct_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        year, month, day, hour, minute, second = value[:6]
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def _content(entry: Any) -> tuple[str, str | None]:
    """(body html, summary html): full content when given, else the summary."""
    summary = entry.get("summary") or None
    summary_html = summary if summary and _is_html(entry.get("summary_detail")) else None
    if summary and summary_html is None:
        summary_html = text_to_html(summary)
    for part in entry.get("content") or ():
        value = part.get("value") or ""
        if value.strip():
            body = value if _is_html(part) else text_to_html(value)
            return body, summary_html
    return summary_html or "", None


def _is_html(detail: Any) -> bool:
    kind = (detail or {}).get("type") or "text/html"
    return "html" in kind or "xml" in kind


def _first(entry: Any, *keys: str) -> Any:
    for key in keys:
        value = dict.get(entry, key)
        if value:
            return value
    return None


def _xml_entry(entry: Any, base_url: str) -> Entry:
    names = [author_name(a.get("name")) for a in entry.get("authors") or () if a]
    if not names:
        names = [author_name(entry.get("author"))]
    body, summary = _content(entry)
    title = entry.get("title") or ""
    if _is_html(entry.get("title_detail")):
        title = html_to_text(title)
    # dict.get: feedparser's own get() maps some missing date keys onto others, with a warning.
    raw_date = _first(entry, "published", "updated", "created")
    parsed = _struct_time(_first(entry, "published_parsed", "updated_parsed", "created_parsed"))
    return Entry(
        guid=(entry.get("id") or "").strip() or None,
        link=(entry.get("link") or "").strip() or None,
        title=" ".join(title.split()),
        content_html=body,
        summary_html=summary,
        date_raw=raw_date,
        date_parsed=parsed,
        authors=tuple(dict.fromkeys(n for n in names if n)),
        categories=tuple(
            dict.fromkeys(
                " ".join(str(t.get("label") or t.get("term") or "").split())
                for t in entry.get("tags") or ()
                if t and (t.get("label") or t.get("term"))
            )
        ),
        media=xml_entry_media(entry, base_url),
    )


def _ttl_seconds(value: Any) -> float | None:
    text = str(value or "").strip()
    return float(text) * 60 if text.isdigit() else None


# Where an entry starts: RSS <item>, Atom <entry> (unprefixed or atom:-prefixed).
_ENTRY_START = re.compile(rb"<(?:atom:)?(?:item|entry)[\s/>]")
# Where markup is text: an entry's start inside one is not an entry.
_TEXT_SECTIONS = re.compile(rb"<!\[CDATA\[.*?(?:\]\]>|$)|<!--.*?(?:-->|$)", re.S)
# Markup up to a cut, to know which elements are still open there.
_MARKUP = re.compile(
    rb"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<[?!][^>]*>|<(/?)([^\s/>!?]+)(?:[^>\"']|\"[^\"]*\"|'[^']*')*?(/?)>",
    re.S,
)


def cut_at_cap(data: bytes, max_entries: int) -> tuple[bytes, int]:
    """(the document with at most `max_entries` entries, how many it had).

    A document over the cap is cut just before its first entry over it and
    the elements open there are closed, so the parser reads only what is
    kept. Counted on the bytes, so a UTF-16/32 document (rare, and within the
    fetch size cap) is parsed whole and cut after."""
    starts = [match.start() for match in _ENTRY_START.finditer(data)]
    if len(starts) <= max_entries:
        return data, len(starts)
    starts = _outside(starts, [m.span() for m in _TEXT_SECTIONS.finditer(data)])
    if len(starts) <= max_entries:
        return data, len(starts)
    for cut in starts[max_entries:]:
        opened = _open_elements(data[:cut])
        if opened is not None:
            closing = b"".join(b"</" + name + b">" for name in reversed(opened))
            return data[:cut] + closing, len(starts)
    return data, len(starts)


def _outside(positions: list[int], spans: list[tuple[int, int]]) -> list[int]:
    """The positions (ascending) that fall in none of the spans (ascending, disjoint)."""
    kept: list[int] = []
    index = 0
    for position in positions:
        while index < len(spans) and spans[index][1] <= position:
            index += 1
        if index == len(spans) or position < spans[index][0]:
            kept.append(position)
    return kept


def _open_elements(head: bytes) -> list[bytes] | None:
    """The elements open at the end of `head`; None if it ends inside markup or CDATA."""
    opened: list[bytes] = []
    position = 0
    for match in _MARKUP.finditer(head):
        position = match.end()
        closing, name, empty = match.group(1), match.group(2), match.group(3)
        if name is None or empty:
            continue
        if not closing:
            opened.append(name)
        elif name in opened:
            del opened[len(opened) - 1 - opened[::-1].index(name) :]
    if b"<" in head[position:]:
        return None  # the cut would fall inside a comment, CDATA section or tag
    return opened


def parse_xml(data: bytes, content_type: str | None, base_url: str, max_entries: int) -> ParsedFeed:
    data = defuse(data)
    data, counted = cut_at_cap(data, max_entries)
    headers = {"content-location": base_url}
    if content_type:
        headers["content-type"] = content_type
    try:
        result = feedparser.parse(
            io.BytesIO(data),
            response_headers=headers,
            sanitize_html=True,
            resolve_relative_uris=True,
        )
    except Exception as crash:  # feedparser trips on some hostile bytes: a bad feed, no crash
        raise ParseFailed(f"unreadable feed: {type(crash).__name__}: {crash}"[:300]) from crash
    version = result.get("version") or ""
    error = result.get("bozo_exception")
    if version not in _FEEDPARSER_KINDS:
        problem = f": {error}" if error else ""
        seen = f" ({version})" if version else ""
        raise ParseFailed(f"not a feed this service reads{seen}{problem}"[:300])
    raw_entries = result.get("entries") or []
    feed = result.get("feed") or {}
    read = _each(raw_entries[:max_entries], lambda e: _xml_entry(e, base_url), _xml_name)
    return ParsedFeed(
        kind=_FEEDPARSER_KINDS[version],
        title=feed.get("title"),
        language=feed.get("language"),
        ttl_s=_ttl_seconds(feed.get("ttl")),
        entries=read.entries,
        total_entries=max(counted, len(raw_entries)),
        warning=f"malformed feed, read leniently: {error}"[:300] if result.get("bozo") else None,
        skipped=read.skipped,
        last_skip=read.last_skip,
    )


@dataclass(frozen=True)
class _Read:
    entries: tuple[Entry, ...]
    skipped: int
    last_skip: str | None


def _each(raw: list[Any], read: Any, name: Any) -> _Read:
    """Each raw entry read on its own: one that cannot be read is skipped and counted."""
    entries: list[Entry] = []
    skipped = 0
    last_skip = None
    for index, entry in enumerate(raw, 1):
        try:
            entries.append(read(entry))
        except Exception as error:  # any defect of one entry: that entry only
            skipped += 1
            last_skip = f"entry {index} ({name(entry)}): {type(error).__name__}: {error}"[:500]
    return _Read(tuple(entries), skipped, last_skip)


def _xml_name(entry: Any) -> str:
    try:
        return str(entry.get("id") or entry.get("link") or entry.get("title") or "")[:200]
    except Exception:
        return ""


# -- JSON Feed -----------------------------------------------------------------------


def _string(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int | float):
        text = str(value).strip()
        return text or None
    return None


def _json_entry(item: dict[str, Any], base_url: str) -> Entry:
    link = _string(item.get("url")) or _string(item.get("external_url"))
    authors = item.get("authors")
    if not isinstance(authors, list):
        authors = [item.get("author")] if isinstance(item.get("author"), dict) else []
    names = [author_name(_string(a.get("name"))) for a in authors if isinstance(a, dict)]
    content_html = _string(item.get("content_html"))
    content_text = _string(item.get("content_text"))
    summary = _string(item.get("summary"))
    body = content_html or (text_to_html(content_text) if content_text else "")
    if not body and summary:
        body, summary = text_to_html(summary), None
    raw_date = _string(item.get("date_published")) or _string(item.get("date_modified"))
    tags = item.get("tags")
    if not isinstance(tags, list):
        tags = []
    return Entry(
        guid=_string(item.get("id")),
        link=urljoin(base_url, link) if link else None,
        title=" ".join((_string(item.get("title")) or "").split()),
        content_html=body,
        summary_html=text_to_html(summary) if summary else None,
        date_raw=raw_date,
        date_parsed=None,
        authors=tuple(dict.fromkeys(n for n in names if n)),
        categories=tuple(dict.fromkeys(t for t in (_string(x) for x in tags) if t)),
        media=json_item_media(item, base_url),
    )


_JSONFEED_VERSION = re.compile(r"^https?://jsonfeed\.org/version/(1(?:\.\d+)?)/?$")


def parse_json_feed(data: bytes, base_url: str, max_entries: int) -> ParsedFeed:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise ParseFailed(f"malformed JSON Feed: {error}"[:300]) from error
    version = document.get("version") if isinstance(document, dict) else None
    # http:// is what version 1 was published with, and what readers accept.
    match = _JSONFEED_VERSION.match(version.strip()) if isinstance(version, str) else None
    if match is None:
        raise ParseFailed("not a JSON Feed (no jsonfeed.org version)")
    items = document.get("items")
    if not isinstance(items, list):
        raise ParseFailed("malformed JSON Feed: items is not a list")
    usable = [item for item in items if isinstance(item, dict)]
    skipped = len(items) - len(usable)
    read = _each(
        usable[:max_entries],
        lambda item: _json_entry(item, base_url),
        lambda item: str(item.get("id") or item.get("url") or "")[:200],
    )
    return ParsedFeed(
        kind=FeedKind.jsonfeed10 if match.group(1) == "1" else FeedKind.jsonfeed11,
        title=_string(document.get("title")),
        language=_string(document.get("language")),
        ttl_s=None,
        entries=read.entries,
        total_entries=len(usable),
        warning=f"{skipped} items that are not objects were skipped" if skipped else None,
        skipped=read.skipped,
        last_skip=read.last_skip,
    )


def parse_feed(
    data: bytes, content_type: str | None, base_url: str, max_entries: int
) -> ParsedFeed:
    """Entries of a feed document, or ParseFailed (HostileFeed) with the reason."""
    start = data.lstrip(b" \t\r\n\xef\xbb\xbf")[:1]
    media = (content_type or "").split(";")[0].strip().lower()
    if start in (b"{", b"[") or (media.endswith("json") and start != b"<"):
        return parse_json_feed(data, base_url, max_entries)
    if not data.strip():
        raise ParseFailed("empty response")
    return parse_xml(data, content_type, base_url, max_entries)
