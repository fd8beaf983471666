"""Dead letters over HTTP on a real Redis: paging by `after`, and ids Redis could not
take (halves beyond 64 bits, non-ASCII digits) refused with 400 instead of failing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis
from ingest.app import Settings
from shared.delivery.deadletter import dead_letter_fields
from shared.streams import DEAD_LETTER

from tests.support.ingest_app import ingest_client
from tests.support.streams import stream
from tools.devstack import RedisServer

TOKEN = "deadletters-api-token-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TOO_BIG = str(2**64)  # one more than a stream id's half can hold
LAST = f"{2**64 - 1}-{2**64 - 1}"


@pytest.fixture
async def api(redis: aioredis.Redis, redis_server: RedisServer) -> AsyncIterator[httpx.AsyncClient]:
    configured = Settings.model_validate(
        {"redis_url": redis_server.url, "ingest_token": TOKEN, "scheduler_enabled": False}
    )
    async with ingest_client(configured) as made:
        yield made


async def dead_letters(redis: aioredis.Redis, count: int) -> list[str]:
    ids = []
    for n in range(count):
        fields = dead_letter_fields(
            stream=stream("news.ingested"),
            group="enrichment",
            entry_id=f"1-{n}",
            error="boom",
            deliveries=3,
            original={"subject": f"urn:dead:{n}"},
        )
        ids.append(str(await redis.xadd(stream(DEAD_LETTER), fields)))
    return ids


async def test_the_list_pages_by_after(api: httpx.AsyncClient, redis: aioredis.Redis) -> None:
    ids = await dead_letters(redis, 3)
    first = (await api.get("/v1/deadletters?limit=2", headers=AUTH)).json()
    assert [letter["id"] for letter in first["deadletters"]] == ids[:2]
    after = first["next_after"]
    rest = (await api.get(f"/v1/deadletters?limit=2&after={after}", headers=AUTH)).json()
    assert [letter["id"] for letter in rest["deadletters"]] == ids[2:]
    assert rest["next_after"] is None


async def test_nothing_follows_the_last_possible_id(
    api: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await dead_letters(redis, 1)
    answer = await api.get(f"/v1/deadletters?after={LAST}", headers=AUTH)
    assert answer.status_code == 200
    assert answer.json() == {"deadletters": [], "next_after": None}


@pytest.mark.parametrize(
    "request_line",
    [
        ("GET", f"/v1/deadletters?after=45-{TOO_BIG}"),
        ("GET", f"/v1/deadletters?after={TOO_BIG}-0"),
        ("GET", f"/v1/deadletters/1-{TOO_BIG}"),
        ("POST", f"/v1/deadletters/{TOO_BIG}-1/replay"),
        ("DELETE", f"/v1/deadletters/1-{TOO_BIG}"),
        ("GET", "/v1/deadletters/\u0661-0"),  # an Arabic-Indic one: a digit, not ASCII
    ],
)
async def test_an_id_redis_could_not_take_is_400(
    api: httpx.AsyncClient, redis: aioredis.Redis, request_line: tuple[str, str]
) -> None:
    await dead_letters(redis, 1)
    method, path = request_line
    answer = await api.request(method, path, headers=AUTH)
    assert answer.status_code == 400, answer.text
    assert "error" in answer.json()
    assert await redis.xlen(stream(DEAD_LETTER)) == 1
