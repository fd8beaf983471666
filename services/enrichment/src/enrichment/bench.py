"""What the pure enrichment pipeline costs per item: `python -m enrichment.bench`.

Builds a typical item of about 250 words (a news story with people,
organisations, places and a quote, in HTML paragraphs), warms the pipeline
up (the gazetteer and the language detector load once per process), then
times `run_pipeline` one item at a time and prints the median, the 90th
percentile and the minimum in microseconds, and the time of each enricher.

The item states no language, so the detector runs on every item; most
items from feeds arrive with one (the feed's or the source's), which
`--language en` measures. The load average is printed beside the figures:
on a shared machine they move with it.

Three pipelines are timed (issue 15): `first`, what the service runs before
readers see an item (the entity model left to the second pass: the default),
`second`, the second pass on first-pass items (the model's names, and the
subjects and quotes that read them), and `inline`, everything in one pass
(NEWSFEED_ENRICH_ENTITY_MODEL=inline). `--pass` picks one.

The related-stories stage is not included: it needs Redis and runs once per
batch, not per item.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import time
from dataclasses import dataclass

from shared.items import NewsItem
from shared.service import quiet_garbage_collector

from enrichment.config import DEFAULT_CONFIG, EnrichmentConfig
from enrichment.pipeline import (
    Enricher,
    build_pipeline,
    build_second_pass,
    first_pass,
    run_pipeline,
)
from enrichment.typical import typical_item

PASSES = ("first", "second", "inline")


def pipelines(
    which: str, config: EnrichmentConfig
) -> tuple[tuple[Enricher, ...], tuple[Enricher, ...]]:
    """(what makes an input item from a typical one, the pipeline timed)."""
    if which == "inline":
        return (), build_pipeline(config)
    split = config.model_copy(update={"entity_model": "second_pass"})
    first = build_pipeline(first_pass(split))
    if which == "first":
        return (), first
    return first, build_second_pass(split)


@dataclass(frozen=True)
class Result:
    which: str
    words: int
    items: int
    median_us: float  # CPU time of this thread: what an item costs, whatever else runs
    p90_us: float
    min_us: float
    wall_median_us: float  # elapsed time, which also counts time the thread was preempted
    per_enricher_median_us: dict[str, float]
    language: str | None  # what the items state (None: detected)
    load_average: float  # of the last minute, when the run ended


def measure(
    items: int = 2000,
    config: EnrichmentConfig = DEFAULT_CONFIG,
    language: str | None = None,
    which: str = "first",
) -> Result:
    before, pipeline = pipelines(which, config)

    def typical(n: int = 0) -> NewsItem:
        item = typical_item(n, language) if n else typical_item()
        return run_pipeline(item, before) if before else item

    warm = run_pipeline(typical(), pipeline)  # loads the gazetteer and the detector
    assert warm.text is not None
    # The collector as the service runs it: start-up objects frozen, a
    # collection every 50,000 new objects (shared.service.serve).
    quiet_garbage_collector()
    gc.freeze()  # as the service does after its first batch (app.freeze_after_first_batch)
    inputs = [typical(n) for n in range(1, items + 1)]
    timings: list[float] = []
    wall: list[float] = []
    clock = time.perf_counter_ns
    cpu_clock = time.thread_time_ns
    for item in inputs:
        start, cpu_start = clock(), cpu_clock()
        run_pipeline(item, pipeline)
        timings.append((cpu_clock() - cpu_start) / 1000)
        wall.append((clock() - start) / 1000)
    per_enricher: dict[str, list[float]] = {e.NAME: [] for e in pipeline}
    for n in range(items + 1, items + 1 + max(1, items // 4)):
        current = typical(n)
        for enricher in pipeline:
            start = clock()
            fields = enricher.enrich(current)
            per_enricher[enricher.NAME].append((clock() - start) / 1000)
            current = current.model_copy(update=fields)
    timings.sort()
    return Result(
        which=which,
        words=warm.text.word_count,
        items=items,
        median_us=round(statistics.median(timings), 1),
        p90_us=round(timings[int(len(timings) * 0.9)], 1),
        min_us=round(timings[0], 1),
        wall_median_us=round(statistics.median(wall), 1),
        per_enricher_median_us={
            name: round(statistics.median(values), 1) for name, values in per_enricher.items()
        },
        language=language,
        load_average=round(os.getloadavg()[0], 2),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=2000, help="items to time (default 2000)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--language", help="the language the items state, e.g. en (default: none, detected)"
    )
    parser.add_argument("--pass", dest="which", choices=PASSES, help="one pipeline (default: all)")
    args = parser.parse_args()
    results = [
        measure(args.items, language=args.language, which=which)
        for which in ([args.which] if args.which else PASSES)
    ]
    if args.json:
        print(json.dumps([result.__dict__ for result in results]))
        return
    for result in results:
        stated = f"stating language {result.language}" if result.language else "language detected"
        print(
            f"enrichment, {result.which} pass, {result.words}-word item ({stated}),"
            f" {result.items} runs, load average {result.load_average}"
        )
        print(
            f"  CPU median {result.median_us} µs/item   p90 {result.p90_us} µs"
            f"   min {result.min_us} µs   (elapsed median {result.wall_median_us} µs)"
        )
        for name, us in result.per_enricher_median_us.items():
            print(f"    {name:<14}{us:>8} µs")


if __name__ == "__main__":
    main()
