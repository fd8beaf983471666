"""The enrichment service as a process, with NEWSFEED_ENRICH_DISABLED."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from enrichment.pipeline import switchable
from shared.events import EventType, decode, encode, make_event
from shared.streams import ENRICHED, INGESTED

from tests.support import builders
from tests.support.streams import stream
from tests.support.waiting import until
from tools.devstack import RedisServer, ServiceProcess, free_port


def enrichment(server: RedisServer, log: Path, disabled: list[str]) -> ServiceProcess:
    return ServiceProcess(
        "enrichment",
        free_port(),
        {
            "NEWSFEED_REDIS_URL": server.url,
            "NEWSFEED_ENRICH_DISABLED": json.dumps(disabled),
            "NEWSFEED_LOG_LEVEL": "WARNING",
        },
        log,
    )


@pytest.fixture
def switched_off(
    redis_server: RedisServer, redis: aioredis.Redis, tmp_path: Path
) -> Iterator[ServiceProcess]:
    # After `redis`, which flushes the database: the service's groups stay.
    service = enrichment(redis_server, tmp_path / "enrichment.log", ["all"])
    service.start()
    try:
        service.wait_ready()
        yield service
    finally:
        service.stop()


async def test_all_switched_off_passes_items_on_sanitized_and_unclustered(
    switched_off: ServiceProcess, redis: aioredis.Redis
) -> None:
    item = builders.item(
        "<p>A Russian drone attack on Odesa injured five.</p><script>x()</script>",
        "Russian drone attack on Odesa injures five",
        uri="urn:newsfeed:test:switched-off",
    )
    await redis.xadd(
        stream(INGESTED), encode(make_event(EventType.ingested, "/tests", item, "a" * 32))
    )

    async def enriched() -> bool:
        return bool(await redis.xlen(stream(ENRICHED)))

    await until(enriched)
    ((_, fields),) = await redis.xrange(stream(ENRICHED))
    out = decode(fields).data
    assert out.enrichment == {"sanitize": out.enrichment["sanitize"]}
    assert "<script" not in out.body_html
    assert out.cluster is None
    assert out.text is None
    assert not await redis.keys("enrichment:*related*")  # the stage never ran
    stats = httpx.get(f"{switched_off.url}/stats", timeout=5).json()
    assert stats["disabled"] == list(switchable())


def test_an_unknown_name_stops_the_service_at_start(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    service = enrichment(redis_server, tmp_path / "enrichment.log", ["relatd"])
    service.start()
    try:
        assert service.process is not None
        assert service.process.wait(60) != 0
        assert "unknown enricher or stage relatd" in service.log_path.read_text()
    finally:
        service.stop()
