"""Wiring: settings in, a running gateway out. The only place that reads env."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

from pydantic import Field
from shared.observability.metrics import HttpMetrics, metrics_route
from shared.partitions import Partitions
from shared.readmodel import PAGE_MAX, ReadModelKeys, ReadModelReader
from shared.redis_client import connect, with_bytes_replies
from shared.service import (
    REDIS_UNAVAILABLE,
    Lifecycle,
    configure_logging,
    health_routes,
    redis_unavailable,
    serve,
)
from shared.settings import PartitionSettings, ServiceSettings
from shared.streams import PUBLISHED
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway.addresses import openapi_document
from gateway.cache import PageCache
from gateway.documents import load_static, static_urls
from gateway.render.embeds import DEFAULT_FRAME_HOSTS
from gateway.render.html import HtmlRenderer, PageConfig
from gateway.sse import StreamHub, StreamLimits, with_direct
from gateway.tail import Tail
from gateway.web import Gateway, WebConfig


class Settings(ServiceSettings, PartitionSettings):
    port: int = Field(default=8000, ge=1, le=65535)
    read_from_replicas: bool = Field(
        default=False,
        description="on a Redis Cluster, spread reads over each shard's primary and replicas; "
        "pages may then lag a write by the replication delay",
    )
    public_url: str | None = Field(
        default=None,
        description="scheme://host[:port] readers reach the gateway at, for absolute links "
        "in feeds; unset: taken from each request's Host header",
    )
    site_title: str = Field(default="News Feed", max_length=200)
    site_description: str = Field(
        default="The latest news, newest first, as it happens.", max_length=1000
    )
    page_size: int = Field(default=20, ge=1, le=PAGE_MAX, description="items per page")
    excerpt_words: int = Field(
        default=120, ge=10, description="longer bodies show an excerpt and 'Read more'"
    )
    avatar_hosts: list[str] = Field(
        default_factory=list,
        description="hosts whose https avatars the page may show (others: initials); "
        "each is allowed in the page's img-src",
    )
    image_hosts: list[str] = Field(
        default_factory=list,
        description="hosts whose https pictures (video posters, episode covers, story "
        "pictures) the page may show (others: a link); each is allowed in the page's img-src",
    )
    frame_hosts: list[str] = Field(
        default_factory=lambda: sorted(DEFAULT_FRAME_HOSTS),
        description="video players whose embeds load on click; the page's frame-src",
    )
    cache_entries: int = Field(default=512, ge=0, description="first pages kept")
    cache_ttl_s: float = Field(
        default=30.0, gt=0, description="longest a page is kept without an event"
    )
    older_cache_entries: int = Field(
        default=4096, ge=0, description="older pages (with a cursor) kept"
    )
    older_cache_mb: int = Field(default=64, ge=0, description="bytes of older pages kept, in MiB")
    tail_block_ms: int = Field(default=1000, ge=10, le=60_000)
    tail_count: int = Field(default=200, ge=1, le=10_000)
    tombstones_kept: int = Field(default=100, ge=0, description="kills Atom feeds list")
    tombstone_scan: int = Field(
        default=5000, ge=0, description="news.published entries read at start for recent kills"
    )
    sse_max_clients: int = Field(default=1000, ge=0, description="live-update streams per process")
    sse_buffer_kb: int = Field(
        default=256,
        ge=1,
        description="bytes (KiB) a live-update client may leave untaken; beyond, it is closed "
        "and resumes from the last event it got",
    )
    # 250 ms: at 10 events/s to 10,000 clients, 50 ms gave every event its own write
    # (5.8 us of CPU per client-event, p99 75 ms), 250 ms two or three per write
    # (3.0 us, p99 290 ms); a lone event is written at once either way (docs/gateway.md).
    sse_tick_ms: int = Field(
        default=250,
        ge=1,
        le=1000,
        description="live events that come within a tick of the last write are written "
        "together, a tick after it (one that comes alone is written at once)",
    )
    sse_heartbeat_s: float = Field(default=15.0, gt=0)
    sse_retry_ms: int = Field(default=3000, ge=0, description="reconnect delay told to clients")
    sse_resume_max: int = Field(
        default=1000, ge=0, description="missed events replayed on reconnect; more: reset"
    )
    sse_send_timeout_s: float = Field(
        default=10.0, gt=0, description="a client that takes longer to accept a write is closed"
    )
    sse_retry_after_s: int = Field(
        default=5, ge=1, description="reconnect delay told to clients beyond the cap"
    )


def published_streams() -> tuple[str, ...]:
    """The streams the tail follows: every partition of news.published
    (shared.partitions, NEWSFEED_PARTITIONS)."""
    return Partitions(PartitionSettings().partitions).keys(PUBLISHED)


def content_security_policy(
    frame_hosts: list[str], avatar_hosts: list[str], image_hosts: Sequence[str] = ()
) -> str:
    allowed = sorted({*avatar_hosts, *image_hosts})
    images = " ".join(["'self'", "data:", *(f"https://{host}" for host in allowed)])
    frames = " ".join(f"https://{host}" for host in sorted(frame_hosts)) or "'none'"
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {images}",
            "media-src 'self' https:",
            f"frame-src {frames}",
            "connect-src 'self'",
            "font-src 'self'",
            "manifest-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class GatewayApp(Starlette):
    """Starlette, handing the live-update route the server's own response cycle
    (gateway.sse: direct writes), which middleware would otherwise hide."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(with_direct(scope, send), receive, send)


def build(
    settings: Settings,
    lifecycle: Lifecycle | None = None,
    streams: Sequence[str] | None = None,
    reader: ReadModelReader | None = None,
) -> GatewayApp:
    """The gateway; `streams`: the partition streams to follow (default: published_streams);
    `reader`: where pages and items come from (default: the read model on settings' Redis)."""
    redis = connect(
        settings.redis_url, client_name="gateway", read_from_replicas=settings.read_from_replicas
    )
    pages = with_bytes_replies(redis)
    cache = PageCache(settings.cache_entries, settings.cache_ttl_s)
    older = PageCache(
        settings.older_cache_entries,
        settings.cache_ttl_s,
        max_bytes=settings.older_cache_mb * 1024 * 1024,
    )

    def invalidate(feeds: frozenset[str] | None) -> None:
        cache.invalidate(feeds)
        older.invalidate(feeds)

    def stopping() -> bool:
        return bool(lifecycle and lifecycle.server and lifecycle.server.should_exit)

    tail = Tail(
        redis,
        streams=streams or published_streams(),
        invalidate=invalidate,
        count=settings.tail_count,
        block_ms=settings.tail_block_ms,
        history=settings.sse_resume_max,
        tombstones_kept=settings.tombstones_kept,
        tombstone_scan=settings.tombstone_scan,
        should_stop=stopping,
    )
    hub = StreamHub(
        tail,
        StreamLimits(
            max_clients=settings.sse_max_clients,
            heartbeat_s=settings.sse_heartbeat_s,
            retry_ms=settings.sse_retry_ms,
            resume_max=settings.sse_resume_max,
            send_timeout_s=settings.sse_send_timeout_s,
            buffer_bytes=settings.sse_buffer_kb * 1024,
            tick_s=settings.sse_tick_ms / 1000,
        ),
    )
    static = load_static()
    html = HtmlRenderer(
        PageConfig(
            site_title=settings.site_title,
            description=settings.site_description,
            frame_hosts=frozenset(settings.frame_hosts),
            avatar_hosts=frozenset(settings.avatar_hosts),
            image_hosts=frozenset(settings.image_hosts),
            excerpt_words=settings.excerpt_words,
            default_limit=settings.page_size,
            static=static_urls(static),
        )
    )
    gateway = Gateway(
        # Answering in bytes: the JSON API splices the stored documents as they are.
        reader=reader or ReadModelReader(pages, ReadModelKeys(Partitions(settings.partitions))),
        cache=cache,
        older=older,
        tail=tail,
        hub=hub,
        html=html,
        config=WebConfig(
            site_title=settings.site_title,
            description=settings.site_description,
            page_size=settings.page_size,
            public_url=settings.public_url,
            csp=content_security_policy(
                settings.frame_hosts, settings.avatar_hosts, settings.image_hosts
            ),
            retry_after_s=settings.sse_retry_after_s,
        ),
        openapi=openapi_document,
        static=static,
    )

    async def ready() -> dict[str, bool]:
        try:
            reachable = bool(await redis.ping())
        except Exception:  # any failure to reach Redis means unready
            reachable = False
        return {"redis": reachable, "tail": tail.ready}

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(tail.run(), name="gateway-tail")
        if lifecycle is not None:
            lifecycle.watch(task, "gateway tail")
        try:
            yield
        finally:
            tail.stop()
            try:
                await asyncio.wait_for(asyncio.shield(task), settings.tail_block_ms / 1000 + 5)
            except TimeoutError:
                task.cancel()
            except Exception:  # noqa: S110 - a crash was already reported through the lifecycle
                pass
            await redis.aclose()
            await pages.aclose()

    async def unavailable(_: Request, error: Exception) -> Response:
        return redis_unavailable(error)

    app = GatewayApp(
        routes=[*gateway.routes(), *health_routes(ready), metrics_route(redis)],
        exception_handlers={
            HTTPException: gateway.errors.http_error,
            **dict.fromkeys(REDIS_UNAVAILABLE, unavailable),
            Exception: gateway.errors.server_error,
        },
        middleware=[Middleware(HttpMetrics)],
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    return app


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    lifecycle = Lifecycle()
    serve(
        build(settings, lifecycle),
        lifecycle,
        settings.host,
        settings.port,
        settings.head_limits(),
        settings.metrics_address(),
    )
