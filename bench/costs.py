"""Per-item CPU cost of each step of the pipeline, measured in this process.

No Redis, no HTTP: each step is timed alone over the bench items (median of
`rounds` passes), in microseconds per item. Together with the per-process
CPU of the throughput runs and the py-spy profiles (docs/performance.md) it
says where an item's time goes:

- ingest: Submission validation, material hash, building the event and its
  wire fields (what ingest does besides HTTP and its Lua script);
- delivery: decode of a news.ingested / news.enriched entry (what every
  consumer does per entry), encode of the enriched event;
- enrichment: each enricher alone, and the whole configured pipeline;
- publication: `decide` and the document's serialization;
- gateway: validation of 20 stored documents and the JSON page body (an
  uncached page besides its two Redis round trips).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from shared.events import EventType, decode, encode, follow, make_event, new_trace_id
from shared.items import NewsItem, utcnow

from bench.fill import enrichment_pipeline
from bench.items import corpus, news_item
from bench.stats import median


def per_item_us(fn: Callable[[Any], object], inputs: Sequence[Any], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        for value in inputs:
            fn(value)
        samples.append((time.perf_counter() - started) * 1e6 / len(inputs))
    return median(samples)


def step_costs(count: int = 300, rounds: int = 3) -> dict[str, Any]:
    now = utcnow()
    subs = corpus(count, prefix="urn:bench:costs")
    bodies = [orjson.dumps(s) for s in subs]
    items = [news_item(s, now) for s in subs]
    ingested = [
        make_event(EventType.ingested, "/newsfeed/ingest", i, new_trace_id(), now) for i in items
    ]
    ingested_fields = [encode(e) for e in ingested]
    out: dict[str, Any] = {"items": count, "unit": "us/item", "steps": {}}
    steps: dict[str, float] = out["steps"]

    from ingest.submission import Submission, material_hash, to_item

    submissions = [Submission.model_validate(orjson.loads(b)) for b in bodies]
    steps["ingest.parse_and_validate"] = per_item_us(
        lambda b: Submission.model_validate(orjson.loads(b)), bodies, rounds
    )
    steps["ingest.material_hash"] = per_item_us(material_hash, submissions, rounds)
    steps["ingest.to_item_event_encode"] = per_item_us(
        lambda s: encode(
            make_event(
                EventType.ingested,
                "/newsfeed/ingest",
                to_item(s, uri=s.uri, version=1, firstcreated=now, now=now),
                "0" * 32,
                now,
            )
        ),
        submissions,
        rounds,
    )
    steps["delivery.decode_ingested"] = per_item_us(decode, ingested_fields, rounds)

    enriched_items: list[NewsItem] = items
    try:
        pipeline, run_pipeline = enrichment_pipeline()
        run_pipeline(items[0], pipeline)  # lazy loads (language models, gazetteer) first
        # Each enricher on the items as they reach it, as the pipeline runs them.
        staged = list(items)
        for enricher in pipeline:

            def apply(item: NewsItem, enricher: Any = enricher) -> NewsItem:
                fields = enricher.enrich(item)
                return item.model_copy(update=fields) if fields else item

            steps[f"enrichment.{enricher.NAME}"] = per_item_us(apply, staged, rounds)
            staged = [apply(item) for item in staged]
        steps["enrichment.pipeline_total"] = per_item_us(
            lambda i: run_pipeline(i, pipeline), items, rounds
        )
        enriched_items = [run_pipeline(i, pipeline) for i in items]
        steps.update(pass_costs(items, rounds))
    except Exception as error:  # enrichment mid-change: report, carry on
        out["enrichment_error"] = f"{type(error).__name__}: {error}"

    enriched_events = [
        follow(e, EventType.enriched, "/newsfeed/enrichment", i)
        for e, i in zip(ingested, enriched_items, strict=True)
    ]
    enriched_fields = [encode(e) for e in enriched_events]
    steps["delivery.encode_enriched"] = per_item_us(encode, enriched_events, rounds)
    steps["delivery.decode_enriched"] = per_item_us(decode, enriched_fields, rounds)

    from publication.lifecycle import decide

    steps["publication.decide"] = per_item_us(
        lambda i: decide(i, None, now), enriched_items, rounds
    )
    steps["publication.document_json"] = per_item_us(
        lambda i: i.model_dump_json(exclude_none=True), enriched_items, rounds
    )

    docs = [i.model_dump_json(exclude_none=True) for i in enriched_items]
    pages = [docs[k : k + 20] for k in range(0, len(docs) - 19, 20)]
    from gateway.render.api import feed_body

    def page(page_docs: list[str]) -> bytes:
        return feed_body([NewsItem.model_validate_json(d) for d in page_docs], "cursor")

    per_page = per_item_us(page, pages, rounds)
    steps["gateway.uncached_page_of_20 (per page)"] = per_page
    steps["gateway.validate_doc"] = per_item_us(NewsItem.model_validate_json, docs, rounds)
    out["document_bytes"] = {
        "ingested": sum(len(f["data"]) for f in ingested_fields) / count,
        "enriched": sum(len(d) for d in docs) / count,
    }
    return out


def pass_costs(items: list[NewsItem], rounds: int) -> dict[str, float]:
    """Issue 15: the first pass (what an item costs before readers see it, the
    entity model left to the second pass) and the second pass (the model and
    what reads its names, on first-pass items), per item; nothing for code
    without a second pass."""
    from enrichment import pipeline
    from enrichment.config import EnrichmentConfig

    if not hasattr(pipeline, "build_second_pass"):
        return {}
    config = EnrichmentConfig(entity_model="second_pass")
    first = pipeline.build_pipeline(pipeline.first_pass(config))
    second = pipeline.build_second_pass(config)
    first_items = [pipeline.run_pipeline(i, first) for i in items]
    pipeline.run_pipeline(first_items[0], second)  # the model loads once
    return {
        "enrichment.first_pass_total": per_item_us(
            lambda i: pipeline.run_pipeline(i, first), items, rounds
        ),
        "enrichment.second_pass_total": per_item_us(
            lambda i: pipeline.run_pipeline(i, second), first_items, rounds
        ),
    }
