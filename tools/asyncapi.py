"""Write docs/asyncapi.json: FastStream's AsyncAPI 3.0 generator over every service's
subscribers and publishers.

Enrichment and publication are documented from their real workers (each
app's `make_worker`: the FastStream subscribers on every partition, and the
publishers the worker declares for what its scripts append). Ingest and the
gateway run no FastStream broker; their `asyncapi` modules declare what they
write and read. The message schemas are the pydantic models of
`shared.entries`, derived from `shared.events.Event`.

The document shows the default deployment (NEWSFEED_PARTITIONS at its
default, a Redis on localhost); the environment is not read. Run
`make asyncapi` (`uv run python tools/asyncapi.py > docs/asyncapi.json`);
a test fails when the checked-in document and the code disagree.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import enrichment.app
import gateway.asyncapi
import ingest.asyncapi
import publication.app
from faststream.redis import RedisBroker
from faststream.specification import AsyncAPI
from redis.asyncio import Redis
from shared.delivery.worker import Result
from shared.events import Event
from shared.partitions import Partitions
from shared.settings import DEFAULT_PARTITIONS

TITLE = "newsfeed streams"
VERSION = "1.0.0"
DESCRIPTION = (
    "Redis Streams between the newsfeed services. An entry is a flat map of UTF-8 string "
    "fields (docs/events.md), not FastStream's own envelope. Each stage's stream is split into "
    "NEWSFEED_PARTITIONS partitions by a stable hash of the item's uri; the channels below are "
    "those of the default deployment. Delivery is at-least-once: consumers dedupe by (subject, "
    "data.version, type): a refined event (enrichment's second pass) is the same version "
    "with the entity model's names; a worker's output, its acknowledgement and its dead "
    "letters are written in one script on the partition's slot (docs/delivery.md)."
)
# What a consumer name looks like: one per process (shared.delivery.worker.consumer_name).
CONSUMER = "{service}-<host>-<pid>"
REDIS_URL = "redis://localhost:6379/0"


async def _never_called(events: Sequence[Event]) -> Sequence[Result]:
    raise AssertionError("the document's workers never run")


def brokers() -> list[RedisBroker]:
    """Every service's FastStream declarations, each service on its own broker."""
    partitions = Partitions(DEFAULT_PARTITIONS)
    redis = Redis.from_url(REDIS_URL)  # never connects: the brokers are not started
    documented = RedisBroker(REDIS_URL)
    ingest.asyncapi.declare(documented, partitions)
    enrichment_settings = enrichment.app.Settings.model_construct(partitions=partitions.count)
    publication_settings = publication.app.Settings.model_construct(partitions=partitions.count)
    workers = [
        enrichment.app.make_worker(
            redis, enrichment_settings, _never_called, CONSUMER.format(service="enrichment")
        ),
        enrichment.app.make_second_pass_worker(
            redis, enrichment_settings, _never_called, CONSUMER.format(service="entity-model")
        ),
        publication.app.make_worker(
            redis, publication_settings, _never_called, CONSUMER.format(service="publication")
        ),
    ]
    tail = RedisBroker(REDIS_URL)
    gateway.asyncapi.declare(tail, partitions)
    return [documented, *(worker.broker for worker in workers), tail]


def document() -> dict[str, Any]:
    spec = AsyncAPI(*brokers(), title=TITLE, version=VERSION, description=DESCRIPTION)
    jsonable: dict[str, Any] = spec.to_specification().to_jsonable()
    return jsonable


def render() -> str:
    # Sorted: FastStream keeps a broker's publishers in a set, so their order varies by run.
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
