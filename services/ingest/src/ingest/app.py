"""Wiring: settings in, a running ingest service out. The only place that reads env."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import Field, SecretStr
from shared.delivery import ensure_groups
from shared.delivery.groups import until_redis
from shared.delivery.trimming import Trimmer
from shared.items import utcnow
from shared.observability.metrics import HttpMetrics, metrics_route
from shared.partitions import Partitions
from shared.redis_client import connect
from shared.replicated import refuse_unreachable
from shared.service import (
    REDIS_UNAVAILABLE,
    Lifecycle,
    configure_logging,
    health_routes,
    redis_ready,
    redis_unavailable,
    serve,
)
from shared.settings import ServiceSettings, StreamSettings
from shared.streams import ROUTES
from starlette.requests import Request
from starlette.responses import JSONResponse

from ingest.accept import Acceptor, move_legacy_states
from ingest.api import BatchLimits, BatchRequest, install_error_handlers, submission_router
from ingest.deadletters_api import deadletters_router
from ingest.fetch import Fetcher, FetchPolicy
from ingest.netguard import AddressPolicy, Resolver, system_resolver
from ingest.openapi import install_openapi
from ingest.poller import Poller, PollPolicy
from ingest.scheduler import Scheduler
from ingest.source_state import SourceStore
from ingest.sources import SourceConfig, SourcePatch, load_sources_file
from ingest.sources_api import sources_router
from ingest.submission import Submission

log = logging.getLogger("newsfeed.ingest")


class Settings(ServiceSettings, StreamSettings):
    port: int = Field(default=8001, ge=1, le=65535)
    ingest_token: SecretStr = Field(
        min_length=16, description="bearer token clients must send (required)"
    )
    max_body_bytes: int = Field(default=1_000_000, ge=1024, le=50_000_000)
    max_batch_items: int = Field(
        default=500, ge=1, le=5_000, description="items in one POST /v1/items:batch"
    )
    max_batch_bytes: int = Field(
        default=16_000_000, ge=1024, le=200_000_000, description="body of one batch"
    )

    # Sources and the scheduler
    sources_file: Path | None = Field(
        default=None, description="YAML or TOML file of sources, synced to Redis at start-up"
    )
    max_sources: int = Field(default=1000, ge=1, le=100_000)
    scheduler_enabled: bool = Field(default=True, description="poll due sources in this replica")
    scheduler_tick_seconds: float = Field(default=1.0, gt=0, le=60)
    fetch_concurrency: int = Field(
        default=8, ge=1, le=256, description="polls in flight at once, per replica"
    )
    min_poll_interval_seconds: int = Field(
        default=60, ge=0, le=86_400, description="no source is polled more often than this"
    )
    max_poll_interval_seconds: int = Field(
        default=86_400, ge=1, description="ceiling on caching hints, ttl and Retry-After"
    )
    backoff_ceiling_seconds: int = Field(
        default=3_600, ge=1, description="a failing source is retried at least this often"
    )
    max_entries_per_fetch: int = Field(default=500, ge=1, le=10_000)
    future_date_tolerance_seconds: int = Field(
        default=600, ge=0, description="entries dated later than now + this are clamped"
    )

    # Fetching
    fetch_max_bytes: int = Field(
        default=5_000_000, ge=1024, description="response size cap, after decompression"
    )
    fetch_timeout_seconds: float = Field(default=20.0, gt=0, le=600, description="whole fetch")
    fetch_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    fetch_max_redirects: int = Field(default=5, ge=0, le=20)
    fetch_per_host_concurrency: int = Field(default=2, ge=1, le=64)
    fetch_contact: str | None = Field(
        default=None,
        max_length=200,
        description="contact in the User-Agent (mailto: or URL), so feed owners can reach you",
    )
    fetch_allowed_private_hosts: str = Field(
        default="",
        description="comma-separated host names that may resolve to private addresses",
    )

    def fetch_policy(self) -> FetchPolicy:
        return FetchPolicy(
            max_bytes=self.fetch_max_bytes,
            timeout_s=self.fetch_timeout_seconds,
            connect_timeout_s=self.fetch_connect_timeout_seconds,
            max_redirects=self.fetch_max_redirects,
            per_host=self.fetch_per_host_concurrency,
            contact=self.fetch_contact,
        )

    def poll_policy(self) -> PollPolicy:
        return PollPolicy(
            min_interval_s=self.min_poll_interval_seconds,
            max_interval_s=self.max_poll_interval_seconds,
            backoff_ceiling_s=self.backoff_ceiling_seconds,
            future_tolerance_s=self.future_date_tolerance_seconds,
            max_entries=self.max_entries_per_fetch,
        )

    @property
    def lease_seconds(self) -> float:
        # Longer than any poll: the fetch deadline plus time to accept its entries.
        return self.fetch_timeout_seconds + 60.0


def build(
    settings: Settings,
    lifecycle: Lifecycle | None = None,
    resolver: Resolver = system_resolver,
) -> FastAPI:
    redis = connect(settings.redis_url, client_name="ingest")
    lifecycle = lifecycle or Lifecycle()
    token = settings.ingest_token.get_secret_value()
    partitions = Partitions(settings.partitions)
    acceptor = Acceptor(
        redis,
        partitions,
        Trimmer(redis, settings.stream_max_len),
        prepared=False,
        ack_replicas=settings.ack_replicas,
        ack_timeout_ms=settings.ack_timeout_ms,
    )
    store = SourceStore(redis, settings.max_sources)
    # Read the file now, so a broken one stops the service before it serves.
    file_sources = (
        load_sources_file(settings.sources_file, settings.max_sources)
        if settings.sources_file
        else None
    )

    async def prepare() -> None:
        # Groups exist on every partition before the scheduler appends (and
        # readiness waits for them), so nothing written is skipped; a partition
        # count other than the data's stops the service here.
        await ensure_groups(redis, ROUTES, partitions)
        await refuse_unreachable(redis, settings.ack_replicas)
        if moved := await move_legacy_states(redis, partitions):
            log.info("moved %d item states to their partitions' keys", moved)
        if file_sources is not None:
            removed = await store.sync_file(file_sources, utcnow())
            log.info("sources file: %d sources, %d removed", len(file_sources), len(removed))
        acceptor.prepared = True

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stopping = asyncio.Event()
        fetcher = Fetcher(
            settings.fetch_policy(),
            AddressPolicy.from_setting(settings.fetch_allowed_private_hosts),
            resolver,
        )
        scheduler = Scheduler(
            store,
            Poller(store, fetcher, acceptor, settings.poll_policy()),
            tick_s=settings.scheduler_tick_seconds,
            concurrency=settings.fetch_concurrency,
            lease_s=settings.lease_seconds,
        )
        if settings.scheduler_enabled and not settings.fetch_contact:
            log.warning("NEWSFEED_FETCH_CONTACT is not set: feed owners cannot reach you")

        async def start() -> None:
            # Until Redis answers the service stays up and unready (not exit 3).
            if not await until_redis(prepare, stopping):
                return
            if settings.scheduler_enabled:
                await scheduler.run()

        task = asyncio.create_task(start(), name="ingest-start")
        lifecycle.watch(task, "ingest start-up and feed scheduler")
        try:
            yield
        finally:
            stopping.set()
            await scheduler.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(task), timeout=30)
            await fetcher.aclose()
            await redis.aclose()

    app = FastAPI(title="newsfeed ingest", version="1", lifespan=lifespan)
    install_error_handlers(app)
    batch = BatchLimits(settings.max_batch_items, settings.max_batch_bytes)
    app.include_router(submission_router(acceptor, token, settings.max_body_bytes, batch))
    app.include_router(sources_router(store, token))
    app.include_router(deadletters_router(redis, partitions, token))
    redis_checks = redis_ready(redis, ROUTES, partitions)

    async def ready() -> dict[str, bool]:
        # Groups may exist before this process moved old states and read its
        # sources file: ready only once its own start-up is done.
        return {**await redis_checks(), "started": acceptor.prepared}

    app.router.routes.extend([*health_routes(ready), metrics_route(redis)])
    app.add_middleware(HttpMetrics)

    def batch_bounds(doc: dict[str, Any]) -> None:
        items = doc["components"]["schemas"]["BatchRequest"]["properties"]["items"]
        items["maxItems"] = settings.max_batch_items

    install_openapi(app, [Submission, BatchRequest, SourceConfig, SourcePatch], batch_bounds)

    async def unavailable(_: Request, error: Exception) -> JSONResponse:
        return redis_unavailable(error)

    for error_type in REDIS_UNAVAILABLE:
        app.add_exception_handler(error_type, unavailable)
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
