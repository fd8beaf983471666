"""Wiring: settings in, a running enrichment service out. The only place that reads env."""

from __future__ import annotations

import gc
import logging
from collections.abc import Sequence
from pathlib import Path

from pydantic import Field, field_validator
from redis.asyncio import Redis
from shared.delivery import Handler, Result, StreamWorker
from shared.delivery.worker import consumer_name
from shared.events import Event
from shared.redis_client import connect
from shared.service import Lifecycle, configure_logging, serve, worker_app
from shared.settings import DeliverySettings, ServiceSettings
from shared.streams import ENRICHED, ENRICHMENT_IN, ROUTES
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from enrichment import config as defaults
from enrichment.bench import typical_item
from enrichment.config import EnrichmentConfig
from enrichment.handler import make_handler
from enrichment.pipeline import (
    ALL,
    FAILURES,
    STAGES,
    Stage,
    enrich_with,
    resolve_disabled,
    switchable,
)
from enrichment.stages.related import ClusterSettings

log = logging.getLogger("newsfeed.enrichment")


class Settings(ServiceSettings, DeliverySettings):
    port: int = Field(default=8002, ge=1, le=65535)

    # Enrichers (env NEWSFEED_ENRICH_...; lists and maps as JSON).
    enrich_languages: list[str] = Field(
        default=list(defaults.DEFAULT_LANGUAGES),
        min_length=2,
        description="ISO 639-1 codes the language detector chooses among (loaded lazily)",
    )
    enrich_language_sample_chars: int = Field(
        default=64, ge=30, le=5000, description="characters of lowercase words the detector reads"
    )
    enrich_language_min_confidence: float = Field(
        default=0.5, ge=0, le=1, description="below it, no language is set"
    )
    enrich_words_per_minute: dict[str, int] = Field(
        default=dict(defaults.DEFAULT_WORDS_PER_MINUTE),
        description="reading speed per language (primary subtag)",
    )
    enrich_default_words_per_minute: int = Field(
        default=230, ge=50, le=1000, description="reading speed of other languages"
    )
    enrich_chars_per_minute: dict[str, int] = Field(
        default=dict(defaults.DEFAULT_CHARS_PER_MINUTE),
        description="reading speed in characters for Chinese, Japanese and Korean",
    )
    enrich_description_max_chars: int = Field(
        default=240, ge=40, le=2000, description="length of the excerpt made when there is none"
    )
    enrich_gazetteer_path: Path | None = Field(
        default=None, description="newsroom gazetteer YAML (default: the shipped one)"
    )
    enrich_tag_rules_path: Path | None = Field(
        default=None, description="tag rules YAML (default: the shipped one)"
    )
    enrich_min_city_population: int = Field(
        default=200_000, ge=1000, description="world-gazetteer cities are listed from this size"
    )
    enrich_min_city_population_by_country: dict[str, int] = Field(
        default=dict(defaults.DEFAULT_MIN_POPULATION_BY_COUNTRY),
        description="the same, per country (ISO 3166 alpha-2)",
    )
    enrich_quote_min_words: int = Field(
        default=4, ge=1, description="shorter quotations are not statements"
    )

    enrich_disabled: list[str] = Field(
        default=[],
        description="enrichers and stages switched off, to shed load: any of "
        f"{', '.join(switchable())}, or {ALL}; the sanitizer always runs (it keeps unsafe "
        "HTML from readers) and cannot be named",
    )

    @field_validator("enrich_disabled")
    @classmethod
    def _known_and_not_required(cls, names: list[str]) -> list[str]:
        return list(resolve_disabled(names))  # a clear error at start, not later

    # Related stories.
    related_window_size: int = Field(
        default=5000, ge=10, le=1_000_000, description="recent items a new one is compared with"
    )
    related_window_seconds: int = Field(
        default=48 * 3600, ge=60, description="how recent they must be"
    )
    related_max_distance: int = Field(
        default=28,
        ge=0,
        le=64,
        description="SimHash bits (of 128) two reports of a story differ in",
    )
    related_assignment_ttl_seconds: int = Field(
        default=30 * 86400, ge=3600, description="how long a uri keeps its cluster id"
    )

    def enrichment_config(self) -> EnrichmentConfig:
        base = EnrichmentConfig()
        return EnrichmentConfig(
            languages=tuple(self.enrich_languages),
            language_sample_chars=self.enrich_language_sample_chars,
            language_min_confidence=self.enrich_language_min_confidence,
            words_per_minute=tuple(sorted(self.enrich_words_per_minute.items())),
            default_words_per_minute=self.enrich_default_words_per_minute,
            chars_per_minute=tuple(sorted(self.enrich_chars_per_minute.items())),
            description_max_chars=self.enrich_description_max_chars,
            gazetteer_path=self.enrich_gazetteer_path or base.gazetteer_path,
            tag_rules_path=self.enrich_tag_rules_path or base.tag_rules_path,
            min_city_population=self.enrich_min_city_population,
            min_city_population_by_country=tuple(
                sorted(self.enrich_min_city_population_by_country.items())
            ),
            quote_min_words=self.enrich_quote_min_words,
            disabled=tuple(self.enrich_disabled),
        )

    @property
    def related(self) -> ClusterSettings:
        return ClusterSettings(
            window_size=self.related_window_size,
            window_seconds=self.related_window_seconds,
            max_distance=self.related_max_distance,
            assignment_ttl_seconds=self.related_assignment_ttl_seconds,
        )


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
        if stage.NAME not in settings.enrich_disabled
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


def build(settings: Settings, lifecycle: Lifecycle) -> Starlette:
    redis = connect(settings.redis_url, client_name="enrichment")
    if settings.enrich_disabled:
        log.warning("enrichers switched off: %s", ", ".join(settings.enrich_disabled))
    enrich = enrich_with(settings.enrichment_config())
    # The gazetteers, the English model and the language detector load on first
    # use (about a second): one item now loads them before the service can
    # report ready, instead of the first items waiting for them.
    enrich(typical_item())
    handler = freeze_after_first_batch(make_handler(enrich, stages=build_stages(redis, settings)))
    worker = make_worker(redis, settings, handler, consumer_name("enrichment"))
    app = worker_app(worker, lifecycle, "enrichment")

    async def stats(_: Request) -> JSONResponse:
        return JSONResponse(
            {
                "processed": worker.stats.processed,
                "failed": worker.stats.failed,
                "dead_lettered": worker.stats.dead_lettered,
                "enricher_failures": dict(sorted(FAILURES.items())),
                "disabled": settings.enrich_disabled,
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
