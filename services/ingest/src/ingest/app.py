"""Wiring: settings in, a running ingest service out. The only place that reads env."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from pydantic import Field, SecretStr
from shared.delivery import ensure_groups
from shared.delivery.trimming import Trimmer
from shared.redis_client import connect
from shared.service import Lifecycle, configure_logging, health_routes, redis_ready, serve
from shared.settings import RedisSettings, StreamSettings
from shared.streams import ROUTES

from ingest.accept import Acceptor
from ingest.api import install_error_handlers, submission_router


class Settings(RedisSettings, StreamSettings):
    host: str = "127.0.0.1"
    port: int = Field(default=8001, ge=1, le=65535)
    log_level: str = "INFO"
    ingest_token: SecretStr = Field(
        min_length=16, description="bearer token clients must send (required)"
    )
    max_body_bytes: int = Field(default=1_000_000, ge=1024, le=50_000_000)


def build(settings: Settings) -> FastAPI:
    redis = connect(settings.redis_url, client_name="ingest")

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Groups exist before the first append, so nothing written is skipped.
        await ensure_groups(redis, ROUTES)
        yield
        await redis.aclose()

    app = FastAPI(title="newsfeed ingest", version="1", lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(
        submission_router(
            Acceptor(redis, Trimmer(redis, settings.stream_max_len)),
            settings.ingest_token.get_secret_value(),
            settings.max_body_bytes,
        )
    )
    app.router.routes.extend(health_routes(redis_ready(redis)))
    return app


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    lifecycle = Lifecycle()
    serve(build(settings), lifecycle, settings.host, settings.port)
