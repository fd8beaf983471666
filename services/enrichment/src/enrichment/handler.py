"""The entry point: decode (done by the delivery layer), enrich, emit.

Each item of a batch goes through the pure pipeline on its own: one that
cannot be enriched at all (a required enricher failed) fails alone. Then the
batch stages (related stories) run over the items that made it. A stage
failing with anything but a lost connection to Redis is recorded on the
items, which go on; a lost connection fails the batch, which the delivery
layer retries.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from shared.delivery import Done, Failed, Handler, Result
from shared.events import Event, EventType, follow
from shared.items import NewsItem

from enrichment.pipeline import FAILURES, EnrichFn, Stage

SOURCE = "/newsfeed/enrichment"

log = logging.getLogger("newsfeed.enrichment")


def _failed(items: Sequence[NewsItem], name: str) -> list[NewsItem]:
    return [
        item.model_copy(
            update={
                "enrichment": {k: v for k, v in item.enrichment.items() if k != name},
                "enrichment_failures": (
                    *(f for f in item.enrichment_failures if f != name),
                    name,
                ),
            }
        )
        for item in items
    ]


async def run_stages(items: list[NewsItem], stages: Sequence[Stage]) -> list[NewsItem]:
    for stage in stages:
        if not items:
            break
        try:
            items = await stage.run(items)
        except (RedisConnectionError, RedisTimeoutError):
            raise  # the whole batch is retried once Redis is back
        except Exception:  # a stage bug must not drop the items
            FAILURES[stage.NAME] += len(items)
            log.warning(
                "stage failed, %d items go on without its fields",
                len(items),
                exc_info=True,
                extra={"stage": stage.NAME},
            )
            items = _failed(items, stage.NAME)
    return items


def make_handler(enrich: EnrichFn, stages: Sequence[Stage] = ()) -> Handler:
    async def handle(events: Sequence[Event]) -> list[Result]:
        results: list[Result | None] = []
        enriched: list[tuple[int, Event, NewsItem]] = []
        for event in events:
            try:
                item = enrich(event.data)
            except Exception as error:  # a bad item fails alone, not its batch
                results.append(Failed(f"{type(error).__name__}: {error}"))
            else:
                enriched.append((len(results), event, item))
                results.append(None)
        items = await run_stages([item for *_, item in enriched], stages)
        for (index, event, _), item in zip(enriched, items, strict=True):
            results[index] = Done((follow(event, EventType.enriched, SOURCE, item),))
            log.info(
                "item enriched",
                extra={
                    "uri": item.uri,
                    "version": item.version,
                    "traceid": event.traceid,
                    "failed_enrichers": list(item.enrichment_failures),
                },
            )
        return [result for result in results if result is not None]

    return handle
