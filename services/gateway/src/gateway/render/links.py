"""Absolute and relative URLs of the gateway's outputs, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from gateway.query import FeedQuery

# Characters of a uri left as they are in a path (RFC 3986 pchar and "/"); the
# rest ("?", "#", "%", spaces in odd uris...) are percent-encoded.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def item_path(uri: str) -> str:
    """The HTML page of one item."""
    return "/items/" + quote(uri, safe=_PATH_SAFE)


def fragment_item_path(uri: str) -> str:
    return "/fragments/items/" + quote(uri, safe=_PATH_SAFE)


def with_query(path: str, params: dict[str, str]) -> str:
    return f"{path}?{urlencode(params)}" if params else path


@dataclass(frozen=True, slots=True)
class FeedLinks:
    """URLs around one feed request: itself, its next page, its HTML page, items."""

    base: str  # scheme://host[:port][/prefix], no trailing slash
    query: FeedQuery
    default_limit: int

    def url(self, path: str, params: dict[str, str] | None = None) -> str:
        return self.base + with_query(path, params or {})

    def feed(self, path: str, cursor: str | None = None) -> str:
        return self.url(path, self.query.params(default_limit=self.default_limit, cursor=cursor))

    def first_page(self, path: str) -> str:
        return self.url(path, self.query.params(default_limit=self.default_limit))

    def home(self) -> str:
        return self.url("/", self.query.filter_params())

    def item(self, uri: str) -> str:
        return self.base + item_path(uri)
