"""Allow-list HTML: what comes out is safe to put in a page as is.

Only the tags and attributes listed here survive (nh3, i.e. ammonia); links
get `rel="noopener noreferrer nofollow"`; only http, https and mailto URLs
stay (so no `javascript:` or `data:`). Iframes survive only when they embed a
video from an allow-listed player (YouTube's privacy-enhanced nocookie
domain, Vimeo); they are rebuilt from their validated `src` with a sandbox,
and everything else about them (content, other attributes) is dropped.

The sanitizer is REQUIRED: if it fails, the item cannot be published safely,
so the pipeline fails the whole item instead of letting it go on unsanitized.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import nh3
from shared.items import STORED_BODY_MAX, NewsItem

from enrichment.config import EnrichmentConfig

NAME = "sanitize"
VERSION = "3"
REQUIRED = True

TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "cite",
    "code",
    "em",
    "figcaption",
    "figure",
    "h2",
    "h3",
    "h4",
    "hr",
    "i",
    "iframe",
    "li",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "small",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
}
ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "td": {"colspan"},
    "th": {"colspan"},
    "iframe": {"src", "width", "height", "title", "allowfullscreen"},
}
URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "noopener noreferrer nofollow"

# host -> the path a video player URL must have there.
VIDEO_PLAYERS: dict[str, re.Pattern[str]] = {
    "www.youtube-nocookie.com": re.compile(r"/embed/[\w-]{6,32}"),
    "youtube-nocookie.com": re.compile(r"/embed/[\w-]{6,32}"),
    "player.vimeo.com": re.compile(r"/video/\d{1,15}"),
}
_QUERY = re.compile(r"[\w=&.%-]{0,200}")
# What a video frame may do: run the player, go full screen; not navigate the
# page, open pop-ups or submit forms.
IFRAME_SANDBOX = "allow-scripts allow-same-origin allow-presentation"

_CLEANER = nh3.Cleaner(
    tags=TAGS,
    attributes=ATTRIBUTES,
    url_schemes=URL_SCHEMES,
    link_rel=LINK_REL,
    strip_comments=True,
)
# nh3 writes every attribute as name="value" with the value escaped, and an
# iframe's content as raw text that cannot contain "</iframe".
_IFRAME = re.compile(r"<iframe\b([^>]*)>.*?</iframe>", re.DOTALL | re.IGNORECASE)
_ATTRIBUTE = re.compile(r'([\w-]+)="([^"]*)"')
_DIMENSION = re.compile(r"\d{1,4}%?")


def video_src(url: str) -> str | None:
    """The player URL if `url` embeds a video from an allow-listed host, else None."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    host = parts.hostname or ""
    pattern = VIDEO_PLAYERS.get(host)
    if (
        parts.scheme != "https"
        or pattern is None
        or parts.netloc != host  # no user info, no port
        or not pattern.fullmatch(parts.path)
        or not _QUERY.fullmatch(parts.query)
    ):
        return None
    return f"https://{host}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def _rebuild_iframe(match: re.Match[str]) -> str:
    attributes = dict(_ATTRIBUTE.findall(match.group(1)))
    src = video_src(html.unescape(attributes.get("src", "")))
    if src is None:
        return ""
    parts = [f'src="{html.escape(src)}"']
    for name in ("width", "height"):
        value = attributes.get(name, "")
        if _DIMENSION.fullmatch(value):
            parts.append(f'{name}="{value}"')
    if "title" in attributes:
        parts.append(f'title="{attributes["title"]}"')  # escaped by nh3 already
    if "allowfullscreen" in attributes:
        parts.append('allowfullscreen=""')
    parts += [
        f'sandbox="{IFRAME_SANDBOX}"',
        'referrerpolicy="strict-origin-when-cross-origin"',
        'loading="lazy"',
    ]
    return f"<iframe {' '.join(parts)}></iframe>"


# nh3 gives every <a> the rel, with or without an href: "<a>" (3 characters)
# became 42, so a body within the submission limit could sanitize to more than
# the stored limit and be refused by enrichment for good. An anchor without an
# href links nowhere and needs no rel.
_BARE_ANCHOR = f'<a rel="{LINK_REL}">'


def clean(body_html: str) -> str:
    cleaned: str = _CLEANER.clean(body_html)
    if _BARE_ANCHOR in cleaned:
        cleaned = cleaned.replace(_BARE_ANCHOR, "<a>")
    if "<iframe" in cleaned:
        cleaned = _IFRAME.sub(_rebuild_iframe, cleaned)
    return cleaned


@dataclass(frozen=True)
class Sanitizer:
    NAME: str = NAME
    VERSION: str = VERSION
    REQUIRED: bool = REQUIRED

    def enrich(self, item: NewsItem) -> dict[str, Any]:
        cleaned = clean(item.body_html)
        if len(cleaned) > STORED_BODY_MAX:
            # Escaping lengthens a body ("&" -> "&amp;"); one over the stored limit
            # would be undecodable downstream, so it fails here, visibly.
            raise ValueError(f"sanitized body is {len(cleaned)} characters, over {STORED_BODY_MAX}")
        return {"body_html": cleaned}


def build(config: EnrichmentConfig) -> Sanitizer:
    return Sanitizer()  # nothing to configure: the allow-lists are the policy
