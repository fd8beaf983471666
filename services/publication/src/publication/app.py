"""Wiring: settings in, a running publication service out. The only place that reads env."""

from __future__ import annotations

from pydantic import Field
from shared.delivery import StreamWorker
from shared.delivery.worker import consumer_name
from shared.readmodel import ReadModelWriter
from shared.redis_client import connect
from shared.service import Lifecycle, configure_logging, serve, worker_app
from shared.settings import DeliverySettings, RedisSettings
from shared.streams import PUBLICATION_IN, PUBLISHED, ROUTES
from starlette.applications import Starlette

from publication.handler import make_handler


class Settings(RedisSettings, DeliverySettings):
    host: str = "127.0.0.1"
    port: int = Field(default=8003, ge=1, le=65535)
    log_level: str = "INFO"


def build(settings: Settings, lifecycle: Lifecycle) -> Starlette:
    redis = connect(settings.redis_url, client_name="publication")
    worker = StreamWorker(
        redis,
        PUBLICATION_IN,
        make_handler(ReadModelWriter(redis)),
        settings,
        consumer=consumer_name("publication"),
        routes_to_ensure=ROUTES,
        writes_to=(PUBLISHED,),
    )
    return worker_app(worker, lifecycle, "publication")


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    lifecycle = Lifecycle()
    serve(build(settings, lifecycle), lifecycle, settings.host, settings.port)
