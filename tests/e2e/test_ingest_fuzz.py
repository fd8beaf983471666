"""The ingest API fuzzed from its own OpenAPI document (schemathesis): no 5xx,
every answer documented, every rejection a 4xx with a JSON error, and nothing
written to news.ingested by a request that was not accepted."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as sync_redis
import schemathesis
from hypothesis import HealthCheck, settings
from ingest.app import Settings, build
from shared.streams import INGESTED

from tests.support.services import TOKEN, Pipeline
from tests.support.streams import stream
from tools.devstack import RedisServer


async def _served_document() -> dict[str, Any]:
    """The document as ingest serves it (GET /openapi.json, in-process; no Redis needed)."""
    app = build(Settings(redis_url="redis://127.0.0.1:1/0", ingest_token=TOKEN))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
        document: dict[str, Any] = (await client.get("/openapi.json")).json()
    return document


schema = schemathesis.openapi.from_dict(asyncio.run(_served_document()))


@pytest.fixture(scope="module")
def ingest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, sync_redis.Redis]]:
    """An ingest process (scheduler off) on a Redis of its own, and a client to watch it."""
    workdir: Path = tmp_path_factory.mktemp("ingest-fuzz")
    server = RedisServer(workdir=workdir / "redis").start()
    running = Pipeline(
        server.url,
        workdir / "logs",
        only=("ingest",),
        extra_env={"NEWSFEED_SCHEDULER_ENABLED": "false"},
    ).start()
    client = sync_redis.Redis.from_url(server.url, decode_responses=True)
    yield running.ingest, client
    running.stop()
    server.stop()


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_input_makes_ingest_fail_or_half_write(
    case: schemathesis.Case[Any], ingest: tuple[str, sync_redis.Redis]
) -> None:
    url, redis = ingest
    before = redis.xlen(stream(INGESTED))
    # Not checked: that every schema-valid body is accepted (a feed URL that resolves,
    # a uri not killed, a dead letter that exists are not schema matters), nor that
    # every schema-invalid one is refused: ingest reads JSON as pydantic's lax mode
    # does ("5" for 5, 0 for false), and a batch answers an invalid item with its own
    # 422 inside a 207. Checked: no 5xx, every status, content type, header and body
    # as documented.
    excluded = [
        schemathesis.checks.positive_data_acceptance,
        schemathesis.checks.negative_data_rejection,
    ]
    response = case.call_and_validate(
        base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, excluded_checks=excluded
    )
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert "error" in response.json(), response.text
    if case.path == "/v1/items" and response.status_code != 202:
        assert redis.xlen(stream(INGESTED)) == before, "a rejected submission reached the stream"


@pytest.mark.parametrize("token", [None, "wrong-token-0123456789abcdef"])
def test_without_the_right_token_nothing_is_written(
    ingest: tuple[str, sync_redis.Redis], token: str | None
) -> None:
    """401 for submissions, sources; no trace in the streams."""

    url, redis = ingest
    before = redis.xlen(stream(INGESTED))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    submitted = httpx.post(f"{url}/v1/items", json={"headline": "sneaky"}, headers=headers)
    listed = httpx.get(f"{url}/v1/sources", headers=headers)
    letters = httpx.get(f"{url}/v1/deadletters", headers=headers)
    assert letters.status_code == 401
    added = httpx.post(
        f"{url}/v1/sources", json={"id": "x", "url": "https://example.org/f"}, headers=headers
    )
    assert (submitted.status_code, listed.status_code, added.status_code) == (401, 401, 401)
    assert redis.xlen(stream(INGESTED)) == before


def test_dead_letters_over_http_list_show_replay_and_drop(
    ingest: tuple[str, sync_redis.Redis],
) -> None:
    from shared.delivery.deadletter import dead_letter_fields
    from shared.events import encode
    from shared.streams import DEAD_LETTER, ENRICHED, INGESTED

    from tests.support.builders import event_for, news_item

    url, redis = ingest
    redis.delete(stream(DEAD_LETTER))
    original = encode(event_for(news_item("urn:t:dead")))
    first, second, third = (
        redis.xadd(
            stream(DEAD_LETTER),
            dead_letter_fields(
                stream=stream(name),
                group=group,
                entry_id=f"{n}-0",
                error=f"boom {n}",
                deliveries=5,
                original=original,
            ),
        )
        for n, name, group in (
            (1, INGESTED, "enrichment"),
            (2, ENRICHED, "publication"),
            (3, ENRICHED, "publication"),
        )
    )
    auth = {"Authorization": f"Bearer {TOKEN}"}
    page = httpx.get(f"{url}/v1/deadletters", params={"limit": 1}, headers=auth).json()
    assert [letter["id"] for letter in page["deadletters"]] == [first]
    rest = httpx.get(f"{url}/v1/deadletters", params={"after": page["next_after"]}, headers=auth)
    assert [letter["id"] for letter in rest.json()["deadletters"]] == [second, third]
    shown = httpx.get(f"{url}/v1/deadletters/{first}", headers=auth).json()
    assert shown["error"] == "boom 1"
    assert shown["original"]["subject"] == "urn:t:dead"
    before = redis.xlen(stream(INGESTED))
    replayed = httpx.post(f"{url}/v1/deadletters/{first}/replay", headers=auth)
    assert replayed.status_code == 202
    assert redis.xlen(stream(INGESTED)) == before + 1
    # A later stage's entry is not ingest's to append (its Redis user may not).
    later = redis.xlen(stream(ENRICHED))
    refused = httpx.post(f"{url}/v1/deadletters/{third}/replay", headers=auth)
    assert refused.status_code == 409
    assert "newsfeed dlq replay" in refused.json()["error"]
    assert redis.xlen(stream(ENRICHED)) == later
    assert httpx.delete(f"{url}/v1/deadletters/{third}", headers=auth).status_code == 204
    assert httpx.delete(f"{url}/v1/deadletters/{second}", headers=auth).status_code == 204
    assert redis.xlen(stream(DEAD_LETTER)) == 0
    assert httpx.get(f"{url}/v1/deadletters/{first}", headers=auth).status_code == 404
    assert httpx.get(f"{url}/v1/deadletters/not-an-id", headers=auth).status_code == 400
