"""Wiring: settings in, a running enrichment service out. The only place that reads env."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Sequence

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from redis.asyncio import Redis
from shared.delivery import Handler, Result, StreamWorker
from shared.delivery.worker import consumer_name
from shared.events import Event
from shared.redis_client import connect
from shared.service import Lifecycle, configure_logging, serve, worker_app
from shared.settings import DeliverySettings, ServiceSettings
from shared.streams import ENRICHED, ENRICHMENT_IN, ENTITY_MODEL_IN, ROUTES
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from enrichment import second_pass
from enrichment.config import EnrichmentConfig
from enrichment.handler import make_handler
from enrichment.pipeline import (
    FAILURES,
    STAGES,
    Stage,
    build_second_pass,
    enrich_with,
    first_pass,
    run_pipeline,
)
from enrichment.stages.related import ClusterSettings
from enrichment.typical import typical_item

log = logging.getLogger("newsfeed.enrichment")


class Settings(ServiceSettings, DeliverySettings):
    # A nested model's fields are NEWSFEED_<FIELD>_<ITS FIELD>: NEWSFEED_ENRICH_LANGUAGES
    # is enrich.languages (split once: the rest is the field's name, underscores and all).
    model_config = SettingsConfigDict(env_nested_delimiter="_", env_nested_max_split=1)

    port: int = Field(default=8002, ge=1, le=65535)
    second_pass: bool = Field(
        default=False,
        description="this process is enrichment's second pass (the entity model's names for "
        "items already enriched; NEWSFEED_ENRICH_ENTITY_MODEL=second_pass), not the first",
    )
    second_pass_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="how much the second pass lowers its CPU priority (os.nice): on a shared "
        "machine the work readers wait for gets the CPU first",
    )
    second_pass_max_lag_s: float = Field(
        default=60.0,
        gt=0,
        le=86_400,
        description="the second pass passes by, unrefined, items enriched longer ago than this, "
        "so that after a burst it catches up instead of holding news.enriched above its cap",
    )
    # The enrichers, and the switches of enrichers and stages.
    enrich: EnrichmentConfig = EnrichmentConfig()
    # One field per stage, named after it (build_stages).
    related: ClusterSettings = ClusterSettings()


def freeze_after_first_batch(handler: Handler) -> Handler:
    """After the first batch the gazetteers and the detector are loaded and stay
    for the life of the process: move them out of the garbage collector's
    way (gc.freeze), so collections stop walking some 100,000 objects."""
    frozen = False

    async def handle(events: Sequence[Event]) -> Sequence[Result]:
        nonlocal frozen
        results = await handler(events)
        if not frozen:
            gc.freeze()
            frozen = True
        return results

    return handle


def build_stages(redis: Redis, settings: Settings) -> tuple[Stage, ...]:
    """The stages of STAGES not switched off, each built with its own
    settings: the field named after it (`related`: NEWSFEED_RELATED_*)."""
    return tuple(
        stage.build(redis, getattr(settings, stage.NAME))
        for stage in STAGES
        if stage.NAME not in settings.enrich.disabled
    )


def make_worker(redis: Redis, settings: Settings, handler: Handler, consumer: str) -> StreamWorker:
    """Enrichment's consumer group and what it writes (also what tools/asyncapi.py documents)."""
    return StreamWorker(
        redis,
        ENRICHMENT_IN,
        handler,
        settings,
        consumer=consumer,
        output_stream=ENRICHED,
        routes_to_ensure=ROUTES,
    )


def make_second_pass_worker(
    redis: Redis, settings: Settings, handler: Handler, consumer: str
) -> StreamWorker:
    """The second pass's consumer group and what it writes (enrichment.second_pass)."""
    return StreamWorker(
        redis,
        ENTITY_MODEL_IN,
        handler,
        settings,
        consumer=consumer,
        output_stream=ENRICHED,
        routes_to_ensure=(*ROUTES, ENTITY_MODEL_IN),
    )


def build_worker(redis: Redis, settings: Settings) -> StreamWorker:
    """The first pass, or the second (NEWSFEED_SECOND_PASS). Either loads its
    data (gazetteers, the English model, the language detector: about a
    second) with one item before the service can report ready, instead of the
    first items waiting for it."""
    if settings.second_pass:
        pipeline = build_second_pass(settings.enrich)
        run_pipeline(typical_item(), pipeline)
        os.nice(settings.second_pass_nice)
        handler = second_pass.make_handler(pipeline, max_lag=settings.second_pass_max_lag_s)
        return make_second_pass_worker(
            redis, settings, freeze_after_first_batch(handler), consumer_name("entity-model")
        )
    enrich = enrich_with(first_pass(settings.enrich))
    enrich(typical_item())
    handler = freeze_after_first_batch(make_handler(enrich, stages=build_stages(redis, settings)))
    return make_worker(redis, settings, handler, consumer_name("enrichment"))


def build(settings: Settings, lifecycle: Lifecycle) -> Starlette:
    redis = connect(settings.redis_url, client_name="enrichment")
    if settings.enrich.disabled:
        log.warning("enrichers switched off: %s", ", ".join(settings.enrich.disabled))
    worker = build_worker(redis, settings)
    app = worker_app(worker, lifecycle, "enrichment")

    async def stats(_: Request) -> JSONResponse:
        return JSONResponse(
            {
                "processed": worker.stats.processed,
                "failed": worker.stats.failed,
                "dead_lettered": worker.stats.dead_lettered,
                "enricher_failures": dict(sorted(FAILURES.items())),
                "disabled": settings.enrich.disabled,
                "entity_model": settings.enrich.entity_model,
                "second_pass": settings.second_pass,
                "second_pass_late": dict(second_pass.PASSED_BY),
            }
        )

    app.router.routes.append(Route("/stats", stats))
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
