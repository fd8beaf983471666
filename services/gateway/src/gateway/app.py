"""Wiring: settings in, a running gateway out. The only place that reads env."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from pydantic import Field
from shared.readmodel import ReadModelReader
from shared.redis_client import connect
from shared.service import Lifecycle, configure_logging, health_routes, redis_ready, serve
from shared.settings import RedisSettings

from gateway.api import feed_router, install_error_handlers


class Settings(RedisSettings):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "INFO"


def build(settings: Settings) -> FastAPI:
    redis = connect(settings.redis_url, client_name="gateway")

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await redis.aclose()

    app = FastAPI(title="newsfeed gateway", version="1", lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(feed_router(ReadModelReader(redis)))
    app.router.routes.extend(health_routes(redis_ready(redis)))
    return app


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    lifecycle = Lifecycle()
    serve(build(settings), lifecycle, settings.host, settings.port)
