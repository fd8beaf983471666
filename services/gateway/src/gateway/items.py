"""One item: as JSON (/v1/items/{uri}, its versions) and as HTML (its page, its
fragment, and several items as one fragment for the live page)."""

from __future__ import annotations

import asyncio
import re

import orjson
from shared.items import URI_MAX
from shared.readmodel import ItemLookup, ReadModelReader
from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import Errors
from gateway.query import BadRequest, FeedQuery, parse_item, parse_none
from gateway.render import api as bodies
from gateway.render.html import HtmlRenderer
from gateway.render.ninjs import to_ninjs
from gateway.responses import GONE, HTML, ITEM, JSON, REVALIDATE, render, respond

_BAD_URI = re.compile(r"[\s\x00-\x1f]")
FRAGMENT_ITEMS = 50  # items one /fragments/items request may ask for
NOT_IN_FEED = "There is no such item in the feed."


def valid_uri(uri: str) -> bool:
    return 0 < len(uri) <= URI_MAX and _BAD_URI.search(uri) is None


class Items:
    def __init__(
        self,
        reader: ReadModelReader,
        html: HtmlRenderer,
        errors: Errors,
        page_headers: tuple[tuple[str, str], ...],
    ) -> None:
        self._reader = reader
        self._html = html
        self._errors = errors
        self._page_headers = page_headers

    async def _lookup(self, uri: str) -> ItemLookup:
        return await self._reader.item(uri) if valid_uri(uri) else ItemLookup(None)

    # --- JSON ---------------------------------------------------------------------

    async def item(self, request: Request) -> Response:
        uri = request.path_params["uri"]
        try:
            params = parse_item(request.query_params.multi_items())
        except BadRequest as error:
            return self._errors.bad_request(request, error)
        found = await self._lookup(uri)
        if found.item is None:
            return self._errors.answer(request, 404, f"no item {uri!r}")
        if found.killed:
            return self._gone(request, found.item.uri, found.item.ednote)
        if params.format == "ninjs":
            body = orjson.dumps(to_ninjs(found.item))
        else:
            body = bodies.item_body(found.item)
        return respond(request, render(body, JSON, ITEM))

    async def versions(self, request: Request) -> Response:
        uri = request.path_params["uri"]
        try:
            parse_none(request.query_params.multi_items())
        except BadRequest as error:
            return self._errors.bad_request(request, error)
        found = await self._reader.versions(uri) if valid_uri(uri) else None
        if found is None or found.current is None:
            return self._errors.answer(request, 404, f"no item {uri!r}")
        if found.killed:
            return self._gone(request, found.current.uri, found.current.ednote)
        body = bodies.versions_body(found.current, found.previous)
        return respond(request, render(body, JSON, ITEM))

    def _gone(self, request: Request, uri: str, ednote: str | None) -> Response:
        message = f"item {uri!r} was withdrawn"
        return self._errors.answer(request, 410, message, {"ednote": ednote}, cache_control=GONE)

    # --- HTML ---------------------------------------------------------------------

    def _html_answer(self, request: Request, body: bytes) -> Response:
        return respond(request, render(body, HTML, REVALIDATE, self._page_headers))

    async def page(self, request: Request) -> Response:
        uri = request.path_params["uri"]
        if request.scope["query_string"]:
            try:
                parse_none(request.query_params.multi_items())
            except BadRequest as error:
                return self._errors.bad_request(request, error, html=True)
        found = await self._lookup(uri)
        if found.item is None:
            return self._errors.answer(request, 404, NOT_IN_FEED, html=True)
        if found.killed:
            note = f" Note: {found.item.ednote}" if found.item.ednote else ""
            message = f"This item was withdrawn.{note}"
            return self._errors.answer(request, 410, message, html=True, cache_control=GONE)
        return self._html_answer(request, self._html.item_page(found.item))

    async def fragments(self, request: Request) -> Response:
        """Several items as one fragment (`?uri=a&uri=b`, at most FRAGMENT_ITEMS): what
        the live page fetches for the events that arrived since its last fetch. Items
        not visible (unknown, withheld, killed) are left out."""
        params = request.query_params.multi_items()
        unknown = sorted({key for key, _ in params if key != "uri"})
        uris = list(dict.fromkeys(value for _, value in params))
        if unknown:
            message = f"unknown parameter {unknown[0]!r}; this endpoint takes: uri"
            return self._errors.bad_request(request, BadRequest(message), html=True)
        if not 1 <= len(uris) <= FRAGMENT_ITEMS or not all(map(valid_uri, uris)):
            message = f"give 1 to {FRAGMENT_ITEMS} item uris, as uri=…"
            return self._errors.bad_request(request, BadRequest(message), html=True)
        found = await asyncio.gather(*(self._lookup(uri) for uri in uris))
        items = [f.item for f in found if f.item is not None and not f.killed]
        return self._html_answer(
            request, self._html.fragment_feed(items, None, FeedQuery(len(uris)))
        )

    async def fragment(self, request: Request) -> Response:
        found = await self._lookup(request.path_params["uri"])
        if found.item is None or found.killed:
            return self._errors.answer(request, 404, NOT_IN_FEED, html=True)
        return self._html_answer(request, self._html.fragment_item(found.item))
