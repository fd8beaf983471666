"""The gateway in-process over the tests' Redis, filled the real way:
publication's handler writes the read model and news.published, the gateway's
tail follows it. The `env` fixture is registered for every test by tests/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from gateway.app import Settings, build
from gateway.web import Gateway
from publication.handler import make_handler
from shared.delivery import Handler
from shared.items import Entity, NewsItem
from shared.readmodel import ReadModelWriter
from shared.streams import PUBLISHED
from starlette.applications import Starlette

from tests.support.builders import event_for
from tests.support.streams import stream
from tests.support.waiting import until
from tools.devstack import RedisServer

PAGE = 5


@dataclass
class Env:
    client: httpx.AsyncClient
    app: Starlette
    redis: aioredis.Redis
    handle: Handler
    url: str

    @property
    def gateway(self) -> Gateway:
        gateway: Gateway = self.app.state.gateway
        return gateway

    async def publish(self, *items: NewsItem) -> None:
        results = await self.handle([event_for(item) for item in items])
        assert all(type(r).__name__ == "Done" for r in results), results
        await self.settle()

    async def settle(self) -> None:
        """Wait until the gateway's tail has seen everything on news.published."""
        newest = await self.redis.xrevrange(stream(PUBLISHED), "+", "-", count=1)
        target = newest[0][0] if newest else "0-0"
        await until(
            lambda: self.gateway.tail.last_id == target,
            timeout=5,
            interval=0.01,
            failure=lambda: f"tail at {self.gateway.tail.last_id}, stream at {target}",
        )

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.get(path, **kwargs)


@pytest.fixture
async def env(redis: aioredis.Redis, redis_server: RedisServer) -> AsyncIterator[Env]:
    app = build(
        Settings(redis_url=redis_server.url, page_size=PAGE, tail_block_ms=50, excerpt_words=40)
    )
    async with app.router.lifespan_context(app):
        gateway: Gateway = app.state.gateway
        await until(lambda: gateway.tail.ready, interval=0.01)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
            yield Env(client, app, redis, make_handler(ReadModelWriter(redis)), redis_server.url)


def tagged(item: NewsItem, *tags: str, **update: Any) -> NewsItem:
    return item.model_copy(update={"subjects": tuple(Entity(name=t) for t in tags), **update})


def uris(response: httpx.Response) -> list[str]:
    return [item["uri"] for item in response.json()["items"]]
