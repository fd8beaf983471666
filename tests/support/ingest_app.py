"""The ingest app in-process, its lifespan running, behind an httpx client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from ingest.app import Settings, build

from tests.support.waiting import until


@contextlib.asynccontextmanager
async def ingest_client(configured: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running (groups, file sync, scheduler), called
    in-process once it is ready (its start-up runs in the background)."""
    app = build(configured)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as made:

            async def ready() -> bool:
                return (await made.get("/readyz")).status_code == 200

            await until(ready, timeout=30)
            yield made
