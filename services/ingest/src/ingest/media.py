"""The media files a feed entry carries, as the item's renditions.

Read from what feedparser gives for an entry — RSS `<enclosure>` and Atom
`rel="enclosure"` links (`enclosures`), Media RSS `media:content` and
`media:thumbnail`, also inside `media:group` (feedparser flattens the group),
the episode's `itunes:image`, `itunes:duration` — and from JSON Feed's
`attachments` and `image`. A YouTube channel feed's entry (`yt:videoId`
with a Flash `media:content`) becomes the privacy-enhanced embed player's
address, which the gateway shows as a click-to-load player.

Each file becomes one rendition named after what it is (`video`, `audio`,
`picture`, `file`, `thumbnail`; `-2`, `-3` … on repeats), with href,
contenttype, sizeinbytes, duration, width and height where the feed gives
them. Thumbnails and posters are pictures. The item is a video when it
carries a video file, else audio when it carries an audio file.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urljoin, urlsplit

MAX_MEDIA = 20
_HREF_MAX = 2000
_YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{6,20}$")
YOUTUBE_EMBED = "https://www.youtube-nocookie.com/embed/"


@dataclass(frozen=True)
class Media:
    """One media file of an entry, as the feed describes it."""

    href: str
    kind: str  # video | audio | picture | file
    contenttype: str | None = None
    sizeinbytes: int | None = None
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    thumbnail: bool = False  # a still standing for the entry (poster, cover, preview)

    @property
    def name(self) -> str:
        return "thumbnail" if self.thumbnail else self.kind


def _number(value: Any) -> float | None:
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 0 <= number < 1e15 else None


def _whole(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number >= 1 else None


def duration_seconds(value: Any) -> float | None:
    """`itunes:duration` and Media RSS durations: seconds, or [[h:]m:]s."""
    text = str(value or "").strip()
    if not text:
        return None
    if ":" not in text:
        return _number(text)
    total = 0.0
    for part in text.split(":"):
        number = _number(part)
        if number is None:
            return None
        total = total * 60 + number
    return total


def kind_of(contenttype: str | None, medium: str | None, href: str) -> str:
    medium = (medium or "").strip().lower()
    if medium in ("video", "audio"):
        return medium
    if medium == "image":
        return "picture"
    media_type = (contenttype or mimetypes.guess_type(urlsplit(href).path)[0] or "").lower()
    for prefix, kind in (("video/", "video"), ("audio/", "audio"), ("image/", "picture")):
        if media_type.startswith(prefix):
            return kind
    return "file"


def _media(
    href: Any,
    base_url: str,
    *,
    contenttype: Any = None,
    medium: Any = None,
    size: Any = None,
    duration: Any = None,
    width: Any = None,
    height: Any = None,
    thumbnail: bool = False,
) -> Media | None:
    if not isinstance(href, str) or not href.strip():
        return None
    url = urljoin(base_url, href.strip())
    if urlsplit(url).scheme not in ("http", "https") or len(url) > _HREF_MAX:
        return None
    kind_type = contenttype.strip()[:100] if isinstance(contenttype, str) else None
    kind = "picture" if thumbnail else kind_of(kind_type, medium, url)
    if kind == "picture" and not kind_type:
        guessed = mimetypes.guess_type(urlsplit(url).path)[0] or ""
        kind_type = guessed if guessed.startswith("image/") else None  # say it is a picture
    return Media(
        href=url,
        kind=kind,
        contenttype=kind_type or None,
        sizeinbytes=_whole(size),
        duration=duration_seconds(duration),
        width=_whole(width),
        height=_whole(height),
        thumbnail=thumbnail,
    )


def _youtube(entry: Mapping[str, Any], found: Media) -> Media:
    """A YouTube feed's Flash player URL as the embeddable player's address."""
    video_id = str(entry.get("yt_videoid") or "").strip()
    host = urlsplit(found.href).hostname or ""
    if _YOUTUBE_ID.match(video_id) and host.endswith("youtube.com"):
        return replace(found, href=YOUTUBE_EMBED + video_id, contenttype="text/html", kind="video")
    return found


def xml_entry_media(entry: Mapping[str, Any], base_url: str) -> tuple[Media, ...]:
    """The media of a feedparser entry, in the feed's order, each file once."""
    found: list[Media | None] = []
    for content in _dicts(entry.get("media_content")):
        media = _media(
            content.get("url"),
            base_url,
            contenttype=content.get("type"),
            medium=content.get("medium"),
            size=content.get("filesize"),
            duration=content.get("duration"),
            width=content.get("width"),
            height=content.get("height"),
        )
        found.append(_youtube(entry, media) if media is not None else None)
    episode_duration = entry.get("itunes_duration")
    for enclosure in _dicts(entry.get("enclosures")):
        media = _media(
            enclosure.get("href") or enclosure.get("url"),
            base_url,
            contenttype=enclosure.get("type"),
            size=enclosure.get("length"),
        )
        if media is not None and media.kind in ("audio", "video") and episode_duration:
            media = replace(media, duration=duration_seconds(episode_duration))
        found.append(media)
    for thumbnail in _dicts(entry.get("media_thumbnail")):
        found.append(
            _media(
                thumbnail.get("url"),
                base_url,
                width=thumbnail.get("width"),
                height=thumbnail.get("height"),
                thumbnail=True,
            )
        )
    image = entry.get("image")
    if isinstance(image, Mapping):
        found.append(_media(image.get("href"), base_url, thumbnail=True))
    return _once(found)


def json_item_media(item: Mapping[str, Any], base_url: str) -> tuple[Media, ...]:
    """The media of a JSON Feed item: its attachments, then its image and banner image."""
    found: list[Media | None] = []
    for attachment in _dicts(item.get("attachments")):
        found.append(
            _media(
                attachment.get("url"),
                base_url,
                contenttype=attachment.get("mime_type"),
                size=attachment.get("size_in_bytes"),
                duration=attachment.get("duration_in_seconds"),
            )
        )
    for key in ("image", "banner_image"):
        found.append(_media(item.get(key), base_url, thumbnail=True))
    return _once(found)


def _dicts(values: Any) -> Iterable[Mapping[str, Any]]:
    if not isinstance(values, list):
        return ()
    return (value for value in values if isinstance(value, Mapping))


def _once(found: Iterable[Media | None]) -> tuple[Media, ...]:
    out: dict[str, Media] = {}
    for media in found:
        if media is not None and media.href not in out:
            out[media.href] = media
    return tuple(out.values())[:MAX_MEDIA]


def renditions(media: Iterable[Media]) -> dict[str, dict[str, Any]]:
    """The item's renditions (ninjs fields) by name: `video`, `video-2`, `thumbnail` …"""
    out: dict[str, dict[str, Any]] = {}
    for item in media:
        name, number = item.name, 1
        while name in out:
            number += 1
            name = f"{item.name}-{number}"
        fields = {
            "href": item.href,
            "contenttype": item.contenttype,
            "sizeinbytes": item.sizeinbytes,
            "duration": item.duration,
            "width": item.width,
            "height": item.height,
        }
        out[name] = {key: value for key, value in fields.items() if value is not None}
    return out


def item_type(media: Iterable[Media]) -> str:
    """`video` or `audio` when the entry is one (a file of that kind), else `text`."""
    kinds = {item.kind for item in media if not item.thumbnail}
    for kind in ("video", "audio"):
        if kind in kinds:
            return kind
    return "text"
