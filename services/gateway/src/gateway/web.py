"""HTTP routes: each address of gateway.addresses with the handler that answers it.

The handlers, by concern: feed pages in every output (feeds.py), single items
as JSON and HTML (items.py), live updates (live.py), the OpenAPI document and
static files (documents.py), errors (errors.py). They are plain Starlette
endpoints (request in, response out): the hot first pages skip FastAPI's
per-request validation and dependency machinery. What they accept is parsed by
gateway.query, whose models openapi.py also documents.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from shared.readmodel import ReadModelReader
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway import addresses, feeds
from gateway.addresses import Address
from gateway.cache import PageCache
from gateway.documents import Documents
from gateway.errors import Errors
from gateway.items import Items
from gateway.live import LiveUpdates
from gateway.render.html import HtmlRenderer
from gateway.responses import page_headers
from gateway.sse import StreamHub
from gateway.tail import Tail

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class WebConfig:
    site_title: str
    description: str
    page_size: int
    public_url: str | None
    csp: str
    retry_after_s: int


class Gateway:
    def __init__(
        self,
        *,
        reader: ReadModelReader,
        cache: PageCache,
        older: PageCache,
        tail: Tail,
        hub: StreamHub,
        html: HtmlRenderer,
        config: WebConfig,
        openapi: Callable[[], dict[str, Any]],
        static: dict[str, tuple[str, bytes]],
    ) -> None:
        self.reader = reader  # best over a client answering in bytes (JSON API pages)
        self.cache = cache
        self.older = older
        self.tail = tail
        self.hub = hub
        self.config = config
        headers = page_headers(config.csp)
        self.errors = Errors(html, headers)
        self.items = Items(reader, html, self.errors, headers)
        self.live = LiveUpdates(tail, hub, self.errors, config.retry_after_s)
        self.documents = Documents(openapi, static, headers)
        site = feeds.Site(
            config.site_title, config.description, config.page_size, config.public_url
        )
        self._feeds = {
            output.address: feeds.endpoint(
                output,
                first=cache,
                older=older,
                tail=tail,
                errors=self.errors,
                page_headers=headers,
                public_url=config.public_url,
            )
            for output in feeds.outputs(reader, html, site, tail.tombstones.recent)
        }

    def routes(self) -> list[BaseRoute]:
        """A route for each address gateway.addresses says this serves."""
        endpoints: dict[Address, Endpoint] = {
            **self._feeds,
            addresses.FRAGMENT_ITEMS: self.items.fragments,
            addresses.FRAGMENT_ITEM: self.items.fragment,
            addresses.ITEM_PAGE: self.items.page,
            addresses.VERSIONS: self.items.versions,
            addresses.ITEM: self.items.item,
            addresses.STREAM: self.live.stream,
            addresses.OPENAPI: self.documents.openapi,
            addresses.STATIC: self.documents.static,
        }
        return [Route(a.path, endpoints[a], name=a.name) for a in addresses.SERVED]
