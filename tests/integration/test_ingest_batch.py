"""POST /v1/items:batch on a real Redis: many items in one request, each accepted exactly
as POST /v1/items would accept it, in order; a bad item is rejected on its own and
leaves no trace; a malformed batch is rejected whole."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from ingest.app import Settings
from shared.events import decode
from shared.streams import INGESTED

from tests.support.ingest_app import ingest_client
from tests.support.streams import stream
from tools.devstack import RedisServer

TOKEN = "batch-api-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MAX_ITEMS = 5


def batch_settings(redis_server: RedisServer) -> Settings:
    return Settings.model_validate(
        {
            "redis_url": redis_server.url,
            "ingest_token": TOKEN,
            "scheduler_enabled": False,
            "max_batch_items": MAX_ITEMS,
            "max_batch_bytes": 20_000,
        }
    )


@pytest.fixture
async def api(redis: aioredis.Redis, redis_server: RedisServer) -> AsyncIterator[httpx.AsyncClient]:
    async with ingest_client(batch_settings(redis_server)) as made:
        yield made


def item(uri: str, headline: str = "Galuzin: Russia ready to talk with Kyiv") -> dict[str, Any]:
    return {"uri": uri, "headline": headline, "body_html": f"<p>{headline}.</p>"}


async def ingested(redis: aioredis.Redis) -> list[tuple[str, int, str]]:
    entries = await redis.xrange(stream(INGESTED))
    events = [decode(fields) for _, fields in entries]
    return [(event.subject, event.data.version, event.data.headline) for event in events]


async def test_a_batch_is_accepted_in_order_as_single_posts_would_be(
    api: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    batch = {"items": [item("urn:a"), item("urn:b"), item("urn:c")]}
    answer = await api.post("/v1/items:batch", json=batch, headers=AUTH)
    assert answer.status_code == 202, answer.text
    results = answer.json()["results"]
    assert [(r["status"], r["uri"], r["version"], r["changed"]) for r in results] == [
        (202, "urn:a", 1, True),
        (202, "urn:b", 1, True),
        (202, "urn:c", 1, True),
    ]
    assert len({r["traceid"] for r in results}) == 3
    assert [uri for uri, _, _ in await ingested(redis)] == ["urn:a", "urn:b", "urn:c"]


async def test_the_same_item_twice_in_a_batch_ends_at_the_later_version(
    api: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    first, later = item("urn:talks", "Talks in Istanbul"), item("urn:talks", "Talks postponed")
    answer = await api.post("/v1/items:batch", json={"items": [first, later, later]}, headers=AUTH)
    assert answer.status_code == 202, answer.text
    results = answer.json()["results"]
    assert [(r["version"], r["changed"]) for r in results] == [(1, True), (2, True), (2, False)]
    assert await ingested(redis) == [
        ("urn:talks", 1, "Talks in Istanbul"),
        ("urn:talks", 2, "Talks postponed"),
    ]


async def test_an_unchanged_resubmission_in_a_batch_appends_nothing(
    api: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    single = await api.post("/v1/items", json=item("urn:same"), headers=AUTH)
    assert single.status_code == 202
    answer = await api.post("/v1/items:batch", json={"items": [item("urn:same")]}, headers=AUTH)
    assert answer.json()["results"][0] | {"traceid": None} == {
        "status": 202,
        "uri": "urn:same",
        "version": 1,
        "changed": False,
        "traceid": None,
    }
    assert len(await ingested(redis)) == 1


async def test_a_bad_item_is_rejected_alone_with_its_reason_and_the_others_land(
    api: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    bad = {"uri": "urn:bad", "headline": "", "body_html": ""}
    unknown_field = item("urn:odd") | {"colour": "red"}
    batch = {"items": [item("urn:good"), bad, unknown_field, "not an object", item("urn:fine")]}
    answer = await api.post("/v1/items:batch", json=batch, headers=AUTH)
    assert answer.status_code == 207, answer.text
    results = answer.json()["results"]
    assert [r["status"] for r in results] == [202, 422, 422, 422, 202]
    assert "headline or a body_html" in str(results[1]["detail"])
    assert any(problem["field"] == "colour" for problem in results[2]["detail"])
    assert [uri for uri, _, _ in await ingested(redis)] == ["urn:good", "urn:fine"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"items": []}, "at least one item"),
        ({"items": [item(f"urn:{n}") for n in range(MAX_ITEMS + 1)]}, "at most 5 items"),
        ([item("urn:a")], '"items"'),
        ({"items": [item("urn:a")], "extra": 1}, '"items"'),
        ({"items": "urn:a"}, '"items"'),
    ],
)
async def test_a_malformed_batch_is_422_and_nothing_is_written(
    api: httpx.AsyncClient, redis: aioredis.Redis, body: Any, message: str
) -> None:
    answer = await api.post("/v1/items:batch", json=body, headers=AUTH)
    assert answer.status_code == 422
    assert message in answer.json()["error"]
    assert await ingested(redis) == []


async def test_a_batch_over_its_byte_cap_is_413(
    api: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    huge = {"items": [item("urn:big", "x" * 400) | {"body_html": "<p>" + "y" * 30_000 + "</p>"}]}
    answer = await api.post("/v1/items:batch", json=huge, headers=AUTH)
    assert answer.status_code == 413
    assert await ingested(redis) == []


async def test_a_batch_without_the_token_is_401_and_leaves_no_trace(
    api: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    answer = await api.post("/v1/items:batch", json={"items": [item("urn:a")]})
    assert answer.status_code == 401
    assert await ingested(redis) == []


async def test_item_states_of_the_single_slot_layout_move_to_their_partitions(
    redis: aioredis.Redis, redis_server: RedisServer
) -> None:
    """After the upgrade an item submitted again continues from its version
    (publication would ignore a version 1 it already has as stale)."""
    legacy = "ingest:{news.ingested}:item:urn:old"
    await redis.hset(legacy, mapping={"version": 3, "hash": "x", "status": "usable"})
    async with ingest_client(batch_settings(redis_server)) as api:
        answer = await api.post("/v1/items", json=item("urn:old", "Edited"), headers=AUTH)
        assert answer.status_code == 202, answer.text
        assert answer.json()["version"] == 4
    assert not await redis.exists(legacy)
