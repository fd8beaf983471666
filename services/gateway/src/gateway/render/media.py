"""An item's renditions on the page: a player for a video or audio item, a
picture above a story.

Showing the page never makes the reader's browser contact a third party by
itself:

- A picture (a video's poster, an episode's cover, a story's picture) is an
  `<img>` only from an https host the operator allows (`image_hosts`, which
  is then in the page's img-src). From any other host the page says that
  there is a picture and where it is, as a link.
- A video or audio file plays in the browser's own player with
  `preload="none"`: nothing is fetched until the reader presses play, and
  the page names the host it plays from and links to the file (which also
  works without JavaScript). A video whose poster cannot be shown gets the
  page's own poster, so it is never an empty black box.
- A video that is a player page (`text/html`, such as a YouTube channel
  feed's privacy-enhanced embed) on an allowed frame host is the
  click-to-load placeholder that embeds in bodies use (see embeds.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import urlsplit

from markupsafe import Markup
from shared.items import ItemType, NewsItem, Rendition

from gateway.render.embeds import frame_src, placeholder

_SUFFIXES = {
    "video": (".mp4", ".m4v", ".webm", ".ogv", ".mov", ".m3u8"),
    "audio": (".mp3", ".m4a", ".aac", ".oga", ".ogg", ".opus", ".wav", ".flac"),
    "picture": (".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif", ".svg"),
}


@dataclass(frozen=True)
class PictureView:
    href: str
    host: str
    src: str | None  # set only when the page may load it
    width: int | None
    height: int | None


@dataclass(frozen=True)
class SourceView:
    src: str
    type: str | None


@dataclass(frozen=True)
class PlayerView:
    kind: str  # video | audio
    sources: list[SourceView]
    host: str
    poster: PictureView | None
    duration: str | None
    poster_src: str | None  # the poster if it may load, else the page's own (video)


@dataclass(frozen=True)
class EmbedView:
    html: Markup  # the click-to-load placeholder


@dataclass(frozen=True)
class MediaView:
    player: PlayerView | None = None
    embed: EmbedView | None = None
    picture: PictureView | None = None  # above a story (not shown with a player)


def kind_of(name: str, rendition: Rendition) -> str:
    """video | audio | picture | page | file, by content type, else name or file suffix."""
    media_type = (rendition.contenttype or "").split(";")[0].strip().lower()
    for kind in ("video", "audio"):
        if media_type.startswith(kind + "/"):
            return kind
    if media_type.startswith("image/"):
        return "picture"
    if media_type in ("text/html", "application/xhtml+xml"):
        return "page"
    path = urlsplit(str(rendition.href)).path.lower()
    for kind, suffixes in _SUFFIXES.items():
        if path.endswith(suffixes):
            return kind
    return "picture" if name.startswith(("thumbnail", "picture", "poster")) else "file"


def _https(rendition: Rendition) -> str | None:
    href = str(rendition.href)
    return href if urlsplit(href).scheme == "https" else None


def picture_view(rendition: Rendition, image_hosts: frozenset[str]) -> PictureView:
    href = str(rendition.href)
    host = urlsplit(href).hostname or ""
    allowed = urlsplit(href).scheme == "https" and host in image_hosts
    return PictureView(href, host, href if allowed else None, rendition.width, rendition.height)


def duration_text(seconds: float | None) -> str | None:
    if not seconds:
        return None
    whole = math.ceil(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def media_view(
    item: NewsItem,
    image_hosts: frozenset[str],
    frame_hosts: frozenset[str],
    own_poster: str | None = None,
) -> MediaView:
    """`own_poster`: the page's own poster image, for a video whose poster cannot load."""
    by_kind: dict[str, list[Rendition]] = {}
    for name, rendition in item.renditions.items():
        by_kind.setdefault(kind_of(name, rendition), []).append(rendition)
    pictures = by_kind.get("picture", [])
    picture = picture_view(pictures[0], image_hosts) if pictures else None
    if item.type in (ItemType.video, ItemType.audio):
        kind = item.type.value
        files = [r for r in by_kind.get(kind, []) if _https(r)]
        if files:
            sources = [SourceView(str(r.href), r.contenttype) for r in files]
            host = urlsplit(sources[0].src).hostname or ""
            duration = duration_text(next((r.duration for r in files if r.duration), None))
            poster_src = picture.src if picture is not None and picture.src else own_poster
            player = PlayerView(kind, sources, host, picture, duration, poster_src)
            return MediaView(player=player)
        for page in by_kind.get("page", []):
            src = frame_src(str(page.href), frame_hosts)
            if src is not None and kind == "video":
                html = Markup(placeholder(src, item.headline or None))  # noqa: S704 - escaped
                return MediaView(embed=EmbedView(html))
    return MediaView(picture=picture)
