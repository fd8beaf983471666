"""STAND-IN for enrichment with its enrichers switched off (a no-op), run as a process.

    python -m bench.noop_enrichment      (NEWSFEED_* settings as for enrichment)

Enrichment's Settings have no switch that turns the enrichers off (issue 8
asks for the transport's own cost), so the harness runs this instead: the
same wiring as `enrichment.app.build` — shared.service's worker app under
uvicorn, a StreamWorker on news.ingested (group `enrichment`) writing
news.enriched — with a handler that passes every item through unchanged
(`follow(event, enriched, ...)`), and no related-stories stage. Everything
it costs is the delivery layer's and the runtime's: decode, the handler
call, encode, the MULTI, the trimmer.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field
from shared.delivery import Done, Result, StreamWorker
from shared.delivery.worker import consumer_name
from shared.events import Event, EventType, follow
from shared.redis_client import connect
from shared.service import Lifecycle, configure_logging, serve, worker_app
from shared.settings import DeliverySettings, RedisSettings
from shared.streams import ENRICHED, ENRICHMENT_IN, ROUTES

SOURCE = "/newsfeed/enrichment"


class Settings(RedisSettings, DeliverySettings):
    host: str = "127.0.0.1"
    port: int = Field(default=8002, ge=1, le=65535)
    log_level: str = "INFO"


async def identity(events: Sequence[Event]) -> list[Result]:
    return [Done((follow(event, EventType.enriched, SOURCE, event.data),)) for event in events]


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    lifecycle = Lifecycle()
    redis = connect(settings.redis_url, client_name="enrichment-noop")
    worker = StreamWorker(
        redis,
        ENRICHMENT_IN,
        identity,
        settings,
        consumer=consumer_name("enrichment-noop"),
        output_stream=ENRICHED,
        routes_to_ensure=ROUTES,
    )
    serve(worker_app(worker, lifecycle, "enrichment"), lifecycle, settings.host, settings.port)


if __name__ == "__main__":
    main()
