"""A publication worker that applies one entry every 20 ms: slow enough to be
killed mid-batch by a test. Run: python -m tests.support.slow_publisher URL NAME"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from publication.handler import make_handler
from shared.delivery import Result, StreamWorker
from shared.events import Event
from shared.readmodel import ReadModelWriter
from shared.redis_client import connect
from shared.settings import DeliverySettings
from shared.streams import PUBLICATION_IN, ROUTES


async def main(url: str, name: str) -> None:
    redis = connect(url)
    publish = make_handler(ReadModelWriter(redis))

    async def handle(events: Sequence[Event]) -> list[Result]:
        results: list[Result] = []
        for event in events:
            results += await publish([event])
            await asyncio.sleep(0.02)
        return results

    settings = DeliverySettings(batch_size=50, claim_idle_ms=60_000)
    worker = StreamWorker(
        redis, PUBLICATION_IN, handle, settings, consumer=name, routes_to_ensure=ROUTES
    )
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
