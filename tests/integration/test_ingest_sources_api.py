"""The ingest app in-process on a real Redis: the sources API, the sources file,
the scheduler in the lifespan, and link identity through the submission API."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from ingest.app import Settings, build
from ingest.identity import link_uri
from ingest.source_state import DUE, Registered, SourceStore, StateChange
from ingest.sources import ManagedBy, SourceConfig

from tests.support.feed_fixtures import fixture
from tests.support.ingest_app import ingest_client
from tests.support.waiting import until
from tools.devstack import RedisServer
from tools.devstack.feed_server import FeedServer, Route

TOKEN = "sources-api-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def server() -> Iterator[FeedServer]:
    running = FeedServer().start()
    yield running
    running.stop()


def settings(redis_server: RedisServer, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": redis_server.url,
        "ingest_token": TOKEN,
        "scheduler_enabled": False,
        "scheduler_tick_seconds": 0.05,
        "min_poll_interval_seconds": 0,
        "fetch_allowed_private_hosts": "127.0.0.1",
        **changes,
    }
    return Settings.model_validate(values)


@pytest.fixture
async def api(redis: aioredis.Redis, redis_server: RedisServer) -> AsyncIterator[httpx.AsyncClient]:
    async with ingest_client(settings(redis_server)) as made:
        yield made


WIRE = {"id": "kyiv-wire", "url": "https://wire.example.org/rss"}


async def test_a_source_is_created_read_changed_and_deleted(api: httpx.AsyncClient) -> None:
    created = await api.post("/v1/sources", json=WIRE, headers=AUTH)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"] == "kyiv-wire"
    assert body["poll_interval_seconds"] == 300
    assert body["enabled"] is True
    assert body["managed_by"] == "api"
    listed = (await api.get("/v1/sources", headers=AUTH)).json()
    assert listed["count"] == 1
    assert listed["sources"][0]["id"] == "kyiv-wire"
    patch = {"poll_interval_seconds": 120, "language": "uk", "timezone": "Europe/Kyiv"}
    changed = await api.patch("/v1/sources/kyiv-wire", json=patch, headers=AUTH)
    assert changed.status_code == 200, changed.text
    read = (await api.get("/v1/sources/kyiv-wire", headers=AUTH)).json()
    assert (read["poll_interval_seconds"], read["language"], read["timezone"]) == (
        120,
        "uk",
        "Europe/Kyiv",
    )
    assert "state" in read
    assert (await api.delete("/v1/sources/kyiv-wire", headers=AUTH)).status_code == 204
    assert (await api.get("/v1/sources/kyiv-wire", headers=AUTH)).status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/sources"),
        ("POST", "/v1/sources"),
        ("GET", "/v1/sources/kyiv-wire"),
        ("PATCH", "/v1/sources/kyiv-wire"),
        ("DELETE", "/v1/sources/kyiv-wire"),
        ("POST", "/v1/sources/kyiv-wire/poll"),
    ],
)
async def test_every_sources_endpoint_needs_the_bearer_token(
    api: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await api.request(method, path, json=WIRE)
    assert response.status_code == 401
    wrong = await api.request(method, path, json=WIRE, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"id": "kyiv-wire"}, "url"),
        ({"id": "Kyiv Wire", "url": "https://wire.example.org/rss"}, "id"),
        ({"id": "w", "url": "file:///etc/passwd"}, "url"),
        (
            {"id": "w", "url": "https://wire.example.org/rss", "timezone": "Nowhere/City"},
            "timezone",
        ),
        ({"id": "w", "url": "https://wire.example.org/rss", "kind": "rss"}, "kind"),
    ],
)
async def test_an_invalid_source_is_422_naming_the_field(
    api: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await api.post("/v1/sources", json=body, headers=AUTH)
    assert response.status_code == 422
    assert field in {problem["field"] for problem in response.json()["detail"]}


async def test_a_duplicate_id_is_409_and_an_unknown_one_404(api: httpx.AsyncClient) -> None:
    await api.post("/v1/sources", json=WIRE, headers=AUTH)
    again = await api.post("/v1/sources", json=WIRE, headers=AUTH)
    assert again.status_code == 409
    assert "already exists" in again.json()["error"]
    for method in ("GET", "PATCH", "DELETE"):
        response = await api.request(method, "/v1/sources/nope", json={}, headers=AUTH)
        assert response.status_code == 404


async def test_the_registry_has_a_limit(redis: aioredis.Redis, redis_server: RedisServer) -> None:
    async with ingest_client(settings(redis_server, max_sources=2)) as api:
        for n in range(2):
            body = {"id": f"s{n}", "url": "https://wire.example.org/rss"}
            assert (await api.post("/v1/sources", json=body, headers=AUTH)).status_code == 201
        third = await api.post("/v1/sources", json={**WIRE, "id": "s3"}, headers=AUTH)
    assert third.status_code == 409
    assert "maximum of 2" in third.json()["error"]


async def test_poll_now_makes_a_source_due(api: httpx.AsyncClient, redis: aioredis.Redis) -> None:
    await api.post("/v1/sources", json=WIRE, headers=AUTH)
    await redis.zadd(DUE, {"kyiv-wire": 9_999_999_999_999})
    response = await api.post("/v1/sources/kyiv-wire/poll", headers=AUTH)
    assert response.status_code == 202
    assert float(await redis.zscore(DUE, "kyiv-wire")) < time.time() * 1000 + 1


async def test_disabling_a_source_takes_it_off_the_schedule(
    api: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await api.post("/v1/sources", json=WIRE, headers=AUTH)
    await api.patch("/v1/sources/kyiv-wire", json={"enabled": False}, headers=AUTH)
    assert await redis.zscore(DUE, "kyiv-wire") is None
    assert (await api.post("/v1/sources/kyiv-wire/poll", headers=AUTH)).status_code == 409
    await api.patch("/v1/sources/kyiv-wire", json={"enabled": True}, headers=AUTH)
    assert await redis.zscore(DUE, "kyiv-wire") is not None


async def test_changing_the_url_forgets_the_old_validators(
    api: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    await api.post("/v1/sources", json=WIRE, headers=AUTH)
    old_state = StateChange.model_construct(etag='"old"', consecutive_failures=4)
    await SourceStore(redis).record("kyiv-wire", old_state)
    moved = {"url": "https://wire.example.org/rss2"}
    await api.patch("/v1/sources/kyiv-wire", json=moved, headers=AUTH)
    state = (await api.get("/v1/sources/kyiv-wire", headers=AUTH)).json()["state"]
    assert "etag" not in state
    assert state["consecutive_failures"] == 0


# -- the sources file ------------------------------------------------------------------


def sources_file(tmp_path: Path, server: FeedServer, *ids: str) -> Path:
    path = tmp_path / "sources.yaml"
    lines = ["sources:"]
    for source_id in ids:
        lines += [
            f"  - id: {source_id}",
            f"    url: {server.url('/file/' + source_id)}",
            "    poll_interval_seconds: 60",
            "    authors: [{name: File desk, role: desk}]",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_file_sources_are_shown_but_only_the_file_changes_them(
    redis: aioredis.Redis, redis_server: RedisServer, server: FeedServer, tmp_path: Path
) -> None:
    path = sources_file(tmp_path, server, "from-file")
    async with ingest_client(settings(redis_server, sources_file=path)) as api:
        read = await api.get("/v1/sources/from-file", headers=AUTH)
        assert read.json()["managed_by"] == "file"
        patch = await api.patch("/v1/sources/from-file", json={"enabled": False}, headers=AUTH)
        assert patch.status_code == 409
        assert "sources file" in patch.json()["error"]
        assert (await api.delete("/v1/sources/from-file", headers=AUTH)).status_code == 409


async def test_at_start_up_the_file_is_the_truth_for_its_sources(
    redis: aioredis.Redis, redis_server: RedisServer, server: FeedServer, tmp_path: Path
) -> None:
    store = SourceStore(redis)
    managed: ManagedBy
    for source_id, managed in (("dropped", "file"), ("kept", "file"), ("by-api", "api")):
        config = SourceConfig.model_validate({"id": source_id, "url": "https://old.example/rss"})
        await store.put(Registered(config, managed), datetime.now(UTC))
    path = sources_file(tmp_path, server, "kept", "new")
    async with ingest_client(settings(redis_server, sources_file=path)) as api:
        listed = (await api.get("/v1/sources", headers=AUTH)).json()["sources"]
    assert {s["id"]: s["managed_by"] for s in listed} == {
        "by-api": "api",
        "kept": "file",
        "new": "file",
    }
    assert next(s for s in listed if s["id"] == "kept")["url"].startswith("http://127.0.0.1")


def test_a_broken_sources_file_stops_the_service_before_it_serves(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text("sources: [{id: a}]\n")
    with pytest.raises(ValueError, match=r"sources\[0\]\.url"):
        build(settings(redis_server, sources_file=path))


async def test_the_scheduler_runs_in_the_lifespan_and_the_state_shows_through_the_api(
    redis: aioredis.Redis, redis_server: RedisServer, server: FeedServer, tmp_path: Path
) -> None:
    server.serve("/file/live", Route(body=fixture("wire.atom.xml"), etag='"a1"'))
    path = sources_file(tmp_path, server, "live")
    async with ingest_client(
        settings(redis_server, sources_file=path, scheduler_enabled=True)
    ) as api:

        async def polled() -> dict[str, Any] | None:
            state = (await api.get("/v1/sources/live", headers=AUTH)).json()["state"]
            return state if state.get("last_outcome") == "ok" else None

        state = await until(polled, timeout=10)
        assert state["last_outcome"] == "ok"
        assert state["kind"] == "atom1.0"
        assert state["etag"] == '"a1"'
        assert state["items_seen"] == 2
        assert state["new_last_fetch"] == 2
        assert state["consecutive_failures"] == 0
        assert "next_due_at" in state
        assert "last_fetch_at" in state
        summary = (await api.get("/v1/sources", headers=AUTH)).json()["sources"][0]["state"]
        assert summary["last_outcome"] == "ok"
    assert server.seen("/file/live")[0].headers["User-Agent"].startswith("newsfeed-ingest/")


# -- link identity through the submission API --------------------------------------------


async def test_a_submission_with_a_link_and_no_uri_is_named_by_its_canonical_link(
    api: httpx.AsyncClient,
) -> None:
    story = {
        "headline": "Zelensky in Cyprus",
        "link": "https://wire.example.org/news/cyprus?utm_source=x#y",
    }
    first = await api.post("/v1/items", json=story, headers=AUTH)
    assert first.status_code == 202, first.text
    assert first.json()["uri"] == link_uri("https://wire.example.org/news/cyprus")
    again = await api.post(
        "/v1/items", json={**story, "link": "https://wire.example.org/news/cyprus"}, headers=AUTH
    )
    assert again.json() | {"traceid": ""} == first.json() | {"changed": False, "traceid": ""}
