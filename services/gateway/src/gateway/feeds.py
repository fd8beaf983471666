"""Feed pages in every output: the JSON API's, JSON Feed, RSS, Atom, the HTML page
and its fragment. An output is an address (gateway.addresses) with how its page is
read and rendered; pages come from a PageCache when they can: first pages from
one, older pages (with a cursor) from another."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import orjson
from shared.readmodel import BadCursor, DocumentPage, FeedPage, ReadModelReader
from shared.readmodel.feeds import feed_name
from starlette.requests import Request
from starlette.responses import Response

from gateway import addresses
from gateway.addresses import Address
from gateway.cache import PageCache
from gateway.errors import Errors
from gateway.query import DEFAULT_LIMIT, BadRequest, FeedQuery, parse_feed
from gateway.render import jsonfeed, syndication
from gateway.render.api import stored_feed_body
from gateway.render.html import HtmlRenderer
from gateway.render.links import FeedLinks
from gateway.render.syndication import Tombstone
from gateway.responses import API_HEADERS, LIVE_FEED, OLDER_PAGE, REVALIDATE, render, respond
from gateway.tail import Tail

_HOST = re.compile(r"[A-Za-z0-9.\-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")

P = TypeVar("P")


@dataclass(frozen=True)
class Site:
    title: str
    description: str
    page_size: int
    public_url: str | None  # where absolute links point; None: each request's host


@dataclass(frozen=True, slots=True)
class Rendering:
    """What a page is rendered for, besides its items."""

    query: FeedQuery
    base: str  # scheme://host[:port][/prefix] for absolute links; "" if the output has none
    since: str | None  # the tail's position when the page was read (the live page resumes there)


@dataclass(frozen=True)
class Output(Generic[P]):
    """One way to show a feed page, at `address`: how it is read, rendered and cached."""

    address: Address
    default_limit: int
    load: Callable[[FeedQuery], Awaitable[P]]
    render: Callable[[P, Rendering], bytes]
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


def outputs(
    reader: ReadModelReader,
    html: HtmlRenderer,
    site: Site,
    tombstones: Callable[[str], Sequence[Tombstone]],
) -> list[Output[Any]]:
    """Every feed output; `tombstones(feed)`: the recent kills an Atom page lists."""
    title, description, size = site.title, site.description, site.page_size

    def links(at: Rendering) -> FeedLinks:
        return FeedLinks(at.base, at.query, size)

    async def items(query: FeedQuery) -> FeedPage:
        return await reader.page(query.limit, query.cursor, query.facet)

    async def documents(query: FeedQuery) -> DocumentPage:
        return await reader.documents(query.limit, query.cursor, query.facet)

    def api_page(page: DocumentPage, _: Rendering) -> bytes:
        return stored_feed_body(page.docs, page.next_cursor)

    def json_feed(page: FeedPage, at: Rendering) -> bytes:
        doc = jsonfeed.json_feed(
            page.items, page.next_cursor, links(at), title=title, description=description
        )
        return orjson.dumps(doc)

    def rss(page: FeedPage, at: Rendering) -> bytes:
        return syndication.rss(
            page.items, page.next_cursor, links(at), title=title, description=description
        )

    def atom(page: FeedPage, at: Rendering) -> bytes:
        return syndication.atom(
            page.items,
            page.next_cursor,
            links(at),
            title=title,
            description=description,
            tombstones=tombstones(feed_of(at.query)),
        )

    def page_html(page: FeedPage, at: Rendering) -> bytes:
        return html.page(page.items, page.next_cursor, at.query, stream_since=at.since)

    def fragment(page: FeedPage, at: Rendering) -> bytes:
        return html.fragment_feed(page.items, page.next_cursor, at.query)

    return [
        Output(addresses.FEED, DEFAULT_LIMIT, documents, api_page),
        Output(addresses.JSON_FEED, size, items, json_feed, needs_base=True),
        Output(addresses.RSS, size, items, rss, needs_base=True),
        Output(addresses.ATOM, size, items, atom, needs_base=True),
        Output(addresses.PAGE, size, items, page_html, html=True, first_cache=REVALIDATE),
        Output(addresses.FRAGMENT_FEED, size, items, fragment, html=True, first_cache=REVALIDATE),
    ]


def endpoint(
    output: Output[Any],
    *,
    first: PageCache,
    older: PageCache,
    tail: Tail,
    errors: Errors,
    page_headers: tuple[tuple[str, str], ...],
    public_url: str | None,
) -> Callable[[Request], Awaitable[Response]]:
    """The route of one output."""
    default = FeedQuery(output.default_limit)
    headers = page_headers if output.html else API_HEADERS
    name = output.address.name
    media_type = output.address.media_type
    if media_type is None:
        raise ValueError(f"{name}: a feed output answers in one media type")

    async def answer(request: Request) -> Response:
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
                return errors.bad_request(request, error, html=output.html)
        else:
            query = default
        generation = cache.generation
        since = tail.last_id
        try:
            page = await output.load(query)
        except BadCursor as error:
            return errors.bad_request(request, BadRequest(str(error)), html=output.html)
        body = output.render(page, Rendering(query, base, since))
        feed = feed_of(query)
        tagged = (*headers, ("surrogate-key", surrogate_key(feed)))
        if query.cursor is None:
            rendered = render(body, media_type, output.first_cache, tagged)
        else:  # an older page: asked for less often, compressed cheaply
            rendered = render(body, media_type, output.older_cache, tagged, gzip_level=1)
        cache.put(key, rendered, generation, feed)
        return respond(request, rendered)

    return answer
