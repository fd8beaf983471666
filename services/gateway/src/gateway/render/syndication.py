"""A feed page -> RSS 2.0 and Atom 1.0, written by feedgen.

Atom feeds also list recent kills as RFC 6721 tombstones
(`<at:deleted-entry ref="…" when="…">`), so a reader that stored a killed
entry learns to drop it. Entry ids are the item's ninjs uri, which is what a
tombstone's `ref` names. Every date comes from the items (none from the clock),
so the same page renders to the same bytes and the same ETag.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from feedgen.ext.base import BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree
from shared.items import NewsItem

from gateway.addresses import ATOM, RSS, Address
from gateway.render.html import title
from gateway.render.links import FeedLinks
from gateway.render.ninjs import ninjs_uri, rfc3339
from gateway.render.plain import as_html

TOMBSTONES_NS = "http://purl.org/atompub/tombstones/1.0"
# When a feed has no item and no kill to date it by.
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
GENERATOR = "newsfeed gateway"

# Characters XML 1.0 cannot carry at all; a text with one would make the feed
# unparseable, so they are dropped from everything written into a feed.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class Tombstone(Protocol):
    """A recent kill, as an Atom feed lists it (gateway.tail keeps them)."""

    @property
    def uri(self) -> str: ...
    @property
    def when(self) -> datetime: ...
    @property
    def note(self) -> str | None: ...


def xml_text(value: str) -> str:
    return _NOT_XML.sub("", value)


class _Tombstones(BaseExtension):  # type: ignore[misc]
    """feedgen extension writing RFC 6721 deleted-entry elements into an Atom feed."""

    def __init__(self) -> None:
        self.entries: Sequence[Tombstone] = []

    def extend_ns(self) -> dict[str, str]:
        return {"at": TOMBSTONES_NS}

    def extend_atom(self, feed: Any) -> Any:
        for tombstone in self.entries:
            element = etree.SubElement(
                feed,
                f"{{{TOMBSTONES_NS}}}deleted-entry",
                ref=xml_text(ninjs_uri(tombstone.uri)),
                when=rfc3339(tombstone.when),
            )
            if tombstone.note:
                comment = etree.SubElement(element, f"{{{TOMBSTONES_NS}}}comment")
                comment.text = xml_text(tombstone.note)
        return feed


def _title(item: NewsItem) -> str:
    return xml_text(title(item)) or "(untitled)"  # a feed entry must have a title


def _enclosures(item: NewsItem) -> list[tuple[str, str, str]]:
    """(href, media type, length) of each media file, audio and video last: RSS keeps
    only the last. A player page (text/html, such as a video's embed) is no file."""
    out = []
    for rendition in item.renditions.values():
        href = str(rendition.href)
        kind = rendition.contenttype or mimetypes.guess_type(href)[0] or "application/octet-stream"
        if kind.split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml"):
            continue
        out.append((href, kind, str(rendition.sizeinbytes or 0)))
    return sorted(out, key=lambda found: found[1].startswith(("video/", "audio/")))


def _newest(items: list[NewsItem], tombstones: Sequence[Tombstone]) -> datetime:
    times = [item.updated or item.versioncreated for item in items]
    times += [tombstone.when for tombstone in tombstones]
    return max(times, default=EPOCH)


def _generator(
    items: list[NewsItem],
    next_cursor: str | None,
    links: FeedLinks,
    *,
    at: Address,
    title: str,
    description: str,
    tombstones: Sequence[Tombstone],
    html_summary: bool,
) -> Any:
    path, media_type = at.path, at.link_type()
    fg = FeedGenerator()
    fg.id(links.first_page(path))
    fg.title(xml_text(title))
    fg.subtitle(xml_text(description))
    fg.description(xml_text(description))
    fg.author(name=xml_text(title))
    fg.generator(GENERATOR)
    fg.updated(_newest(items, tombstones))
    fg.link(href=links.feed(path, links.query.cursor), rel="self", type=media_type)
    if next_cursor:
        fg.link(href=links.feed(path, next_cursor), rel="next", type=media_type)
    fg.link(href=links.home(), rel="alternate", type="text/html")  # last: RSS's <link>
    fg.load_extension("dc", atom=False, rss=True)
    for item in items:
        entry = fg.add_entry(order="append")
        entry.id(ninjs_uri(item.uri))
        entry.guid(xml_text(item.uri), permalink=False)
        entry.title(_title(item))
        entry.link(href=links.item(item.uri), rel="alternate", type="text/html")
        if item.link is not None:
            entry.link(href=str(item.link), rel="related", type="text/html")
        for href, kind, length in _enclosures(item):
            entry.link(href=href, rel="enclosure", type=kind, length=length)
        if item.body_html:
            entry.content(xml_text(item.body_html), type="html")
        if item.description_text:
            # RSS's <description> is HTML; Atom's <summary> here is type="text".
            summary = as_html(item.description_text) if html_summary else item.description_text
            entry.summary(xml_text(summary))
        entry.published(item.firstcreated)
        entry.updated(item.updated or item.versioncreated)
        for author in item.authors:
            entry.author(name=xml_text(author.name))
            entry.dc.dc_creator(xml_text(author.name))
        for subject in item.subjects:
            entry.category(term=xml_text(subject.name), label=xml_text(subject.name))
        if item.language and xml_text(item.language):
            entry.dc.dc_language(xml_text(item.language))
    return fg


def rss(
    items: list[NewsItem],
    next_cursor: str | None,
    links: FeedLinks,
    *,
    title: str,
    description: str,
) -> bytes:
    fg = _generator(
        items,
        next_cursor,
        links,
        at=RSS,
        title=title,
        description=description,
        tombstones=[],
        html_summary=True,
    )
    return bytes(fg.rss_str(pretty=False))


def atom(
    items: list[NewsItem],
    next_cursor: str | None,
    links: FeedLinks,
    *,
    title: str,
    description: str,
    tombstones: Sequence[Tombstone],
) -> bytes:
    fg = _generator(
        items,
        next_cursor,
        links,
        at=ATOM,
        title=title,
        description=description,
        tombstones=tombstones,
        html_summary=False,
    )
    fg.register_extension("tombstones", _Tombstones, None, atom=True, rss=False)
    fg.tombstones.entries = tombstones
    return bytes(fg.atom_str(pretty=False))
