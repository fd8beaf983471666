"""Wiring: settings in, a running publication service out. The only place that reads env."""

from __future__ import annotations

import asyncio

from pydantic import Field
from redis.asyncio import Redis
from shared.delivery import Handler, StreamWorker
from shared.delivery.worker import consumer_name
from shared.partitions import Partitions
from shared.readmodel import ReadModelKeys, ReadModelWriter
from shared.redis_client import connect
from shared.service import Lifecycle, configure_logging, serve, worker_app
from shared.settings import DeliverySettings, PartitionSettings, ServiceSettings
from shared.streams import PUBLICATION_IN, PUBLISHED, ROUTES
from starlette.applications import Starlette

from publication.handler import make_handler
from publication.scheduler import run_periodically


class Settings(ServiceSettings, DeliverySettings, PartitionSettings):
    port: int = Field(default=8003, ge=1, le=65535)
    versions_kept: int = Field(default=20, ge=0, le=1000, description="earlier versions kept")
    updates_move_to_top: bool = Field(
        default=False, description="an updated item moves to the top of the feed"
    )
    retention_max_items: int = Field(
        default=100_000, ge=0, description="items the feed keeps (0: no limit)"
    )
    retention_max_age_days: int = Field(
        default=0, ge=0, description="days an item stays in the feed (0: no limit)"
    )
    kill_note_days: int = Field(
        default=30, ge=0, description="days a killed item's note answers 410 (0: forever)"
    )
    release_interval_ms: int = Field(
        default=250, ge=10, le=60_000, description="how often embargoes are checked"
    )
    retention_interval_s: float = Field(default=60.0, ge=1.0)


def make_worker(redis: Redis, settings: Settings, handler: Handler, consumer: str) -> StreamWorker:
    """Publication's consumer group and what it writes: news.published, from the
    read model's own script (also what tools/asyncapi.py documents)."""
    return StreamWorker(
        redis,
        PUBLICATION_IN,
        handler,
        settings,
        consumer=consumer,
        routes_to_ensure=ROUTES,
        writes_to=(PUBLISHED,),
    )


def build(settings: Settings, lifecycle: Lifecycle) -> Starlette:
    redis = connect(settings.redis_url, client_name="publication")
    writer = ReadModelWriter(
        redis,
        keys=ReadModelKeys(Partitions(settings.partitions)),
        history_cap=settings.versions_kept,
        kill_doc_ttl_ms=settings.kill_note_days * 86_400_000,
    )
    worker = make_worker(
        redis,
        settings,
        make_handler(writer, updates_move_to_top=settings.updates_move_to_top),
        consumer_name("publication"),
    )

    async def scheduler(stop: asyncio.Event) -> None:
        await run_periodically(
            writer,
            stop,
            release_interval_s=settings.release_interval_ms / 1000,
            retention_interval_s=settings.retention_interval_s,
            max_items=settings.retention_max_items,
            max_age_days=settings.retention_max_age_days,
        )

    return worker_app(worker, lifecycle, "publication", [("publication-scheduler", scheduler)])


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
