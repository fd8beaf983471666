"""Absolute and relative URLs of the gateway's outputs, from gateway.addresses."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from gateway.addresses import FRAGMENT_ITEM, ITEM_PAGE, PAGE
from gateway.query import FeedQuery


def item_path(uri: str) -> str:
    """The HTML page of one item."""
    return ITEM_PAGE.for_item(uri)


def fragment_item_path(uri: str) -> str:
    return FRAGMENT_ITEM.for_item(uri)


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
        return self.url(PAGE.path, self.query.filter_params())

    def item(self, uri: str) -> str:
        return self.base + item_path(uri)
