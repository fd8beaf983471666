"""The ingest app in-process, its lifespan running, behind an httpx client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from ingest.app import Settings, build


@contextlib.asynccontextmanager
async def ingest_client(configured: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running (groups, file sync, scheduler), called in-process."""
    app = build(configured)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as made:
            yield made
