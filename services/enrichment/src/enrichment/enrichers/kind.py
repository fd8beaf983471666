"""The item's kind: `type` video when it carries a video rendition or embed.

A video rendition is one whose content type is `video/...`, or whose link is
a video player page (YouTube, Vimeo); an embed is a player iframe, which is
all the sanitizer lets through as an iframe. An item a source already typed
as something other than text (picture, audio, video) keeps its type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.items import ItemType, NewsItem

from enrichment.config import EnrichmentConfig

NAME = "kind"
VERSION = "1"

VIDEO_HOSTS = frozenset(
    {
        "youtube.com",
        "www.youtube.com",
        "m.youtube.com",
        "youtu.be",
        "www.youtube-nocookie.com",
        "youtube-nocookie.com",
        "vimeo.com",
        "player.vimeo.com",
    }
)


def has_video(item: NewsItem) -> bool:
    for rendition in item.renditions.values():
        if (rendition.contenttype or "").lower().startswith("video/"):
            return True
        if (rendition.href.host or "").lower() in VIDEO_HOSTS:
            return True
    return "<iframe " in item.body_html


@dataclass(frozen=True)
class Kind:
    NAME: str = NAME
    VERSION: str = VERSION

    def enrich(self, item: NewsItem) -> dict[str, Any]:
        if item.type is ItemType.text and has_video(item):
            return {"type": ItemType.video}
        return {}


def build(config: EnrichmentConfig) -> Kind:
    return Kind()  # nothing to configure
