"""Prometheus metrics, named once here. Every service serves them on /metrics.

Counters and histograms are updated where things happen (the delivery layer,
HTTP middleware); stream and group gauges are refreshed from Redis when
/metrics is scraped, so every replica reports the same shared truth.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis.asyncio as aioredis
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.observability.status import stream_status
from shared.streams import DEAD_LETTER

log = logging.getLogger("newsfeed.metrics")

ITEMS = Counter(
    "newsfeed_items_total",
    "Stream entries handled, by stage and outcome (in, out, failed, dead_lettered)",
    ["stage", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "newsfeed_handler_seconds",
    "Time a stage's handler took per batch",
    ["stage"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
STREAM_LENGTH = Gauge("newsfeed_stream_length", "Entries in a stream", ["stream"])
GROUP_LAG = Gauge("newsfeed_group_lag", "Entries not yet delivered to a group", ["stream", "group"])
GROUP_PENDING = Gauge(
    "newsfeed_group_pending", "Entries delivered but not acknowledged", ["stream", "group"]
)
GROUP_OLDEST_PENDING = Gauge(
    "newsfeed_group_oldest_pending_seconds", "Age of the oldest pending entry", ["stream", "group"]
)
GROUP_OLDEST_WAITING = Gauge(
    "newsfeed_group_oldest_waiting_seconds",
    "Age of the oldest entry not yet delivered to a group (a group nobody reads grows it)",
    ["stream", "group"],
)
DEAD_LETTERS = Gauge("newsfeed_dead_letters", "Entries in the dead-letter stream")
HTTP_REQUESTS = Counter(
    "newsfeed_http_requests_total", "HTTP requests by route and status", ["route", "status"]
)
HTTP_SECONDS = Histogram(
    "newsfeed_http_request_seconds",
    "HTTP request time by route",
    ["route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
)
SOURCE_FETCHES = Counter(
    "newsfeed_source_fetches_total", "Feed fetches by source and outcome", ["source", "outcome"]
)
SOURCE_FETCH_SECONDS = Histogram(
    "newsfeed_source_fetch_seconds", "Feed fetch time by source", ["source"]
)
SSE_CLIENTS = Gauge("newsfeed_sse_clients", "Server-sent-event clients connected")
SSE_TURNED_AWAY = Counter(
    "newsfeed_sse_turned_away_total",
    "Live-update streams told to come back later: the per-process cap was reached",
)


async def refresh_stream_gauges(redis: aioredis.Redis) -> None:
    for stream in await stream_status(redis):
        STREAM_LENGTH.labels(stream.name).set(stream.length)
        if stream.name == DEAD_LETTER:
            DEAD_LETTERS.set(stream.length)
        for group in stream.groups:
            if group.lag is not None:
                GROUP_LAG.labels(stream.name, group.name).set(group.lag)
            GROUP_PENDING.labels(stream.name, group.name).set(group.pending)
            GROUP_OLDEST_PENDING.labels(stream.name, group.name).set(
                group.oldest_pending_age_s or 0.0
            )
            GROUP_OLDEST_WAITING.labels(stream.name, group.name).set(
                group.oldest_waiting_age_s or 0.0
            )


def metrics_route(redis: aioredis.Redis) -> Route:
    async def metrics(_: Request) -> Response:
        try:
            await refresh_stream_gauges(redis)
        except Exception as error:  # Redis down: still serve what this process knows
            log.warning("metrics: stream gauges not refreshed: %s", error)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return Route("/metrics", metrics, include_in_schema=False)


RouteName = Callable[[Scope], str]


def route_template(scope: Scope) -> str:
    """The matched route's path template, so metrics do not explode per uri."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


class HttpMetrics:
    """ASGI middleware counting requests by route template and status."""

    def __init__(self, app: ASGIApp, name_of: RouteName = route_template) -> None:
        self.app = app
        self.name_of = name_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            route = self.name_of(scope)
            HTTP_REQUESTS.labels(route, str(status)).inc()
            HTTP_SECONDS.labels(route).observe(time.perf_counter() - started)
