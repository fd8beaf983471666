"""HTTP routes: handlers translate requests into read-model calls and renderings.

The routes are plain Starlette endpoints (request in, response out): the hot
first pages skip FastAPI's per-request validation and dependency machinery.
What they accept is parsed by gateway.query, whose models openapi.py also
documents. Pages of every output come from a PageCache when they can: first
pages from one, older pages (with a cursor) from another.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.resources
import logging
import re
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import orjson
from shared.readmodel import BadCursor, DocumentPage, FeedPage, ItemLookup, ReadModelReader
from shared.readmodel.feeds import feed_name
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway import addresses
from gateway import api as api_routes
from gateway.api import lookup, valid_uri
from gateway.cache import PageCache
from gateway.query import (
    DEFAULT_LIMIT,
    BadRequest,
    FeedQuery,
    parse_feed,
    parse_none,
    parse_stream,
)
from gateway.render import jsonfeed, syndication
from gateway.render.api import stored_feed_body
from gateway.render.html import HtmlRenderer
from gateway.render.links import FeedLinks
from gateway.responses import (
    API_HEADERS,
    GONE,
    HTML,
    IMMUTABLE,
    JSON,
    LIVE_FEED,
    NO_STORE,
    OLDER_PAGE,
    REVALIDATE,
    Rendered,
    json_error,
    page_headers,
    render,
    respond,
)
from gateway.sse import StreamHub
from gateway.tail import Tail

log = logging.getLogger("newsfeed.gateway")

_HOST = re.compile(r"[A-Za-z0-9.\-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")
FRAGMENT_ITEMS = 50  # items one /fragments/items request may ask for
STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class WebConfig:
    site_title: str
    description: str
    page_size: int
    public_url: str | None
    csp: str
    retry_after_s: int


P = TypeVar("P")


@dataclass(frozen=True)
class Output(Generic[P]):
    """One way to show a feed page, at `address`: how it is read, rendered and cached."""

    address: addresses.Address
    default_limit: int
    load: Callable[[FeedQuery], Awaitable[P]]
    render: Callable[[P, FeedQuery, str, str | None], bytes]
    html: bool = False
    needs_base: bool = False
    first_cache: str = LIVE_FEED
    older_cache: str = OLDER_PAGE


def feed_of(query: FeedQuery) -> str:
    """The feed set a query reads, by name (shared.readmodel.feeds)."""
    return feed_name(*query.facet) if query.facet else feed_name(None)


def surrogate_key(feed: str) -> str:
    """The Surrogate-Key of a feed's pages: `feed:` and the feed's name, percent-encoded
    (a header value is ASCII without spaces); a CDN purge names the same key."""
    return "feed:" + quote(feed, safe=":")


def base_url(request: Request, public_url: str | None) -> str:
    """Where absolute links point: the configured public URL, else this request's host."""
    if public_url:
        return public_url.rstrip("/")
    host = request.headers.get("host", "")
    if not _HOST.fullmatch(host):
        server = request.scope.get("server") or ("localhost", None)
        host = server[0] if server[1] in (None, 80, 443) else f"{server[0]}:{server[1]}"
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return f"{request.url.scheme}://{host}{root}"


def load_static() -> dict[str, tuple[str, bytes]]:
    """name -> (version, bytes) of the files under gateway/static."""
    files: dict[str, tuple[str, bytes]] = {}
    for entry in importlib.resources.files("gateway").joinpath("static").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in STATIC_TYPES:
            data = entry.read_bytes()
            files[entry.name] = (hashlib.blake2b(data, digest_size=5).hexdigest(), data)
    return files


def static_urls(static: dict[str, tuple[str, bytes]]) -> dict[str, str]:
    path = addresses.STATIC.path
    return {name: f"{path.format(name=name)}?v={version}" for name, (version, _) in static.items()}


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
        self.html = html
        self.config = config
        self.page_headers = page_headers(config.csp)
        self._openapi = openapi
        self._openapi_rendered: Rendered | None = None
        self._static: dict[tuple[str, bool], Rendered] = {}
        for name, (_, data) in static.items():
            media_type = STATIC_TYPES["." + name.rsplit(".", 1)[-1]]
            self._static[(name, True)] = render(data, media_type, IMMUTABLE, self.page_headers)
            self._static[(name, False)] = render(data, media_type, REVALIDATE, self.page_headers)
        self._versions = {name: version for name, (version, _) in static.items()}

    # --- errors -------------------------------------------------------------

    def error(
        self,
        request: Request,
        status: int,
        message: str,
        detail: Any = None,
        *,
        html: bool = False,
        cache_control: str = NO_STORE,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> Response:
        if not html:
            return json_error(
                request, status, message, detail, cache_control=cache_control, headers=headers
            )
        titles = {400: "Bad request", 404: "Not found", 410: "Withdrawn", 503: "Busy"}
        body = self.html.error_page(status, titles.get(status, "Error"), message)
        rendered = render(body, HTML, cache_control, (*self.page_headers, *headers))
        return respond(request, rendered, status)

    def bad_request(self, request: Request, error: BadRequest, *, html: bool = False) -> Response:
        return self.error(request, 400, error.message, error.detail, html=html)

    # --- feeds --------------------------------------------------------------

    def outputs(self) -> list[Output[Any]]:
        config, html = self.config, self.html
        title, description = config.site_title, config.description
        size = config.page_size
        reader = self.reader

        def links(query: FeedQuery, base: str) -> FeedLinks:
            return FeedLinks(base, query, size)

        async def items(query: FeedQuery) -> FeedPage:
            return await reader.page(query.limit, query.cursor, query.facet)

        async def documents(query: FeedQuery) -> DocumentPage:
            return await reader.documents(query.limit, query.cursor, query.facet)

        def api_page(page: DocumentPage, _: FeedQuery, __: str, ___: str | None) -> bytes:
            return stored_feed_body(page.docs, page.next_cursor)

        def json_feed(page: FeedPage, query: FeedQuery, base: str, _: str | None) -> bytes:
            doc = jsonfeed.json_feed(
                page.items,
                page.next_cursor,
                links(query, base),
                title=title,
                description=description,
            )
            return orjson.dumps(doc)

        def rss(page: FeedPage, query: FeedQuery, base: str, _: str | None) -> bytes:
            return syndication.rss(
                page.items,
                page.next_cursor,
                links(query, base),
                title=title,
                description=description,
            )

        def atom(page: FeedPage, query: FeedQuery, base: str, _: str | None) -> bytes:
            return syndication.atom(
                page.items,
                page.next_cursor,
                links(query, base),
                title=title,
                description=description,
                tombstones=self.tail.tombstones.recent(feed_of(query)),
            )

        def page_html(page: FeedPage, query: FeedQuery, _: str, since: str | None) -> bytes:
            return html.page(page.items, page.next_cursor, query, stream_since=since)

        def fragment(page: FeedPage, query: FeedQuery, _: str, __: str | None) -> bytes:
            return html.fragment_feed(page.items, page.next_cursor, query)

        return [
            Output(addresses.FEED, DEFAULT_LIMIT, documents, api_page),
            Output(addresses.JSON_FEED, size, items, json_feed, needs_base=True),
            Output(addresses.RSS, size, items, rss, needs_base=True),
            Output(addresses.ATOM, size, items, atom, needs_base=True),
            Output(addresses.PAGE, size, items, page_html, html=True, first_cache=REVALIDATE),
            Output(
                addresses.FRAGMENT_FEED, size, items, fragment, html=True, first_cache=REVALIDATE
            ),
        ]

    def feed_endpoint(self, output: Output[Any]) -> Callable[[Request], Awaitable[Response]]:
        first, older, tail = self.cache, self.older, self.tail
        default = FeedQuery(output.default_limit)
        headers = self.page_headers if output.html else API_HEADERS
        public_url = self.config.public_url
        name = output.address.name
        media_type = output.address.media_type
        if media_type is None:
            raise ValueError(f"{name}: a feed output answers in one media type")

        async def endpoint(request: Request) -> Response:
            raw: bytes = request.scope["query_string"]
            base = base_url(request, public_url) if output.needs_base else ""
            # The query string decides the page (parsing it is deterministic), so a
            # cached page is found before it is parsed. Pages with a cursor live in
            # the older-page cache (so may a filter value containing "cursor=": harmless).
            cache = older if b"cursor=" in raw else first
            key: Hashable = (name, raw, base)
            hit = cache.get(key)
            if hit is not None:
                return respond(request, hit)
            if raw:
                try:
                    query = parse_feed(
                        request.query_params.multi_items(), default_limit=output.default_limit
                    )
                except BadRequest as error:
                    return self.bad_request(request, error, html=output.html)
            else:
                query = default
            generation = cache.generation
            since = tail.last_id
            try:
                page = await output.load(query)
            except BadCursor as error:
                return self.bad_request(request, BadRequest(str(error)), html=output.html)
            body = output.render(page, query, base, since)
            feed = feed_of(query)
            tagged = (*headers, ("surrogate-key", surrogate_key(feed)))
            if query.cursor is None:
                rendered = render(body, media_type, output.first_cache, tagged)
            else:  # an older page: asked for less often, compressed cheaply
                rendered = render(body, media_type, output.older_cache, tagged, gzip_level=1)
            cache.put(key, rendered, generation, feed)
            return respond(request, rendered)

        return endpoint

    # --- items --------------------------------------------------------------

    async def _lookup(self, uri: str) -> ItemLookup:
        return await lookup(self.reader, uri)

    async def item(self, request: Request) -> Response:
        return await api_routes.item(request, self.reader)

    async def versions(self, request: Request) -> Response:
        return await api_routes.versions(request, self.reader)

    async def item_page(self, request: Request) -> Response:
        uri = request.path_params["uri"]
        if request.scope["query_string"]:
            try:
                parse_none(request.query_params.multi_items())
            except BadRequest as error:
                return self.bad_request(request, error, html=True)
        found = await self._lookup(uri)
        if found.item is None:
            return self.error(request, 404, "There is no such item in the feed.", html=True)
        if found.killed:
            note = f" Note: {found.item.ednote}" if found.item.ednote else ""
            return self.error(
                request, 410, f"This item was withdrawn.{note}", html=True, cache_control=GONE
            )
        body = self.html.item_page(found.item)
        return respond(request, render(body, HTML, REVALIDATE, self.page_headers))

    async def fragment_items(self, request: Request) -> Response:
        """Several items as one fragment (`?uri=a&uri=b`, at most FRAGMENT_ITEMS): what
        the live page fetches for the events that arrived since its last fetch. Items
        not visible (unknown, withheld, killed) are left out."""
        params = request.query_params.multi_items()
        unknown = sorted({key for key, _ in params if key != "uri"})
        uris = list(dict.fromkeys(value for _, value in params))
        if unknown:
            message = f"unknown parameter {unknown[0]!r}; this endpoint takes: uri"
            return self.bad_request(request, BadRequest(message), html=True)
        if not 1 <= len(uris) <= FRAGMENT_ITEMS or not all(map(valid_uri, uris)):
            message = f"give 1 to {FRAGMENT_ITEMS} item uris, as uri=…"
            return self.bad_request(request, BadRequest(message), html=True)
        found = await asyncio.gather(*(self._lookup(uri) for uri in uris))
        items = [f.item for f in found if f.item is not None and not f.killed]
        body = self.html.fragment_feed(items, None, FeedQuery(len(uris)))
        return respond(request, render(body, HTML, REVALIDATE, self.page_headers))

    async def fragment_item(self, request: Request) -> Response:
        uri = request.path_params["uri"]
        found = await self._lookup(uri)
        if found.item is None or found.killed:
            return self.error(request, 404, "There is no such item in the feed.", html=True)
        body = self.html.fragment_item(found.item)
        return respond(request, render(body, HTML, REVALIDATE, self.page_headers))

    # --- live updates ---------------------------------------------------------

    async def stream(self, request: Request) -> Response:
        try:
            facet, last = parse_stream(
                request.query_params.multi_items(), request.headers.get("last-event-id")
            )
        except BadRequest as error:
            return self.bad_request(request, error)
        if not self.tail.ready or self.tail.closing:
            return self.hub.come_back_later()
        retry = (("retry-after", str(self.config.retry_after_s)),)
        if self.hub.full:
            return self.error(
                request, 503, "too many live-update clients here; try again shortly", headers=retry
            )
        return self.hub.open(facet, last)

    # --- documents --------------------------------------------------------------

    async def openapi(self, request: Request) -> Response:
        if self._openapi_rendered is None:
            body = orjson.dumps(self._openapi())
            self._openapi_rendered = render(body, JSON, "public, max-age=300")
        return respond(request, self._openapi_rendered)

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        version = self._versions.get(name)
        if version is None:
            raise HTTPException(404)
        fresh = request.query_params.get("v") == version
        return respond(request, self._static[(name, fresh)])

    # --- wiring -----------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """A route for each address gateway.addresses says this serves."""
        endpoints: dict[addresses.Address, Callable[[Request], Awaitable[Response]]] = {
            output.address: self.feed_endpoint(output) for output in self.outputs()
        }
        endpoints.update(
            {
                addresses.FRAGMENT_ITEMS: self.fragment_items,
                addresses.FRAGMENT_ITEM: self.fragment_item,
                addresses.ITEM_PAGE: self.item_page,
                addresses.VERSIONS: self.versions,
                addresses.ITEM: self.item,
                addresses.STREAM: self.stream,
                addresses.OPENAPI: self.openapi,
                addresses.STATIC: self.static,
            }
        )
        return [Route(a.path, endpoints[a], name=a.name) for a in addresses.SERVED]

    def wants_html(self, request: Request) -> bool:
        path = request.url.path
        return not (path.startswith(("/v1/", "/feed.", "/openapi", "/healthz", "/readyz")))

    async def http_error(self, request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        messages = {404: "nothing here", 405: "method not allowed"}
        message = messages.get(error.status_code, str(error.detail))
        if self.wants_html(request):
            message = {404: "There is nothing at this address."}.get(error.status_code, message)
        headers = tuple((error.headers or {}).items())  # e.g. Allow on a 405
        return self.error(
            request, error.status_code, message, html=self.wants_html(request), headers=headers
        )

    async def server_error(self, request: Request, error: Exception) -> Response:
        log.exception("error answering %s %s", request.method, request.url.path, exc_info=error)
        return self.error(
            request, 500, "something went wrong on our side", html=self.wants_html(request)
        )
