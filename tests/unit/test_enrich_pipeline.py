"""Enrichment: the pipeline as data, its promises, its settings and its cost."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import types
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any, cast

import pytest
from enrichment import bench
from enrichment.app import Settings, build
from enrichment.config import EnrichmentConfig
from enrichment.enrichers import kind, sanitize
from enrichment.handler import make_handler
from enrichment.pipeline import (
    ENRICHERS,
    FAILURES,
    STAGES,
    Enricher,
    EnrichmentError,
    build_pipeline,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from shared.delivery import Done, Failed
from shared.events import EventType, make_event
from shared.items import ItemType, NewsItem
from shared.service import Lifecycle

from tests.support import builders
from tests.support.enrichment import CONFIG, PIPELINE, enrich, run_pipeline

SEED = Path(__file__).resolve().parents[1] / "fixtures" / "seed_article.txt"
HEADLINE = "Russia wants Ukraine to give up NATO and EU membership to start peace talks"


def seed_html() -> str:
    return builders.paragraphs(SEED.read_text(encoding="utf-8"))


item = partial(builders.item, headline=HEADLINE, uri="urn:newsfeed:test:pipeline")


def failing(name: str, error: Exception | None = None, required: bool = False) -> Enricher:
    module = types.ModuleType(name)
    module.NAME = name  # type: ignore[attr-defined]
    module.VERSION = "7"  # type: ignore[attr-defined]
    module.REQUIRED = required  # type: ignore[attr-defined]

    def enrich(_: NewsItem) -> dict[str, Any]:
        raise error or RuntimeError("model server unreachable")

    module.enrich = enrich  # type: ignore[attr-defined]
    return cast(Enricher, module)


# -- the pipeline as data ----------------------------------------------------------


def test_the_pipeline_lists_every_enricher_once_in_order() -> None:
    names = [e.NAME for e in PIPELINE]
    assert names == [
        "sanitize",
        "text",
        "language",
        "reading_time",
        "entities",
        "subjects",
        "quotes",
        "kind",
    ]
    assert [m.NAME for m in ENRICHERS] == names
    assert [m.NAME for m in STAGES] == ["related"]
    for module in ENRICHERS:
        assert isinstance(module.VERSION, str)  # type: ignore[attr-defined]
        assert callable(module.build)
    for enricher in PIPELINE:
        assert callable(enricher.enrich)


def test_the_seed_article_through_the_whole_pipeline() -> None:
    enriched = run_pipeline(item(seed_html(), source="kyiv-independent"))
    assert enriched.enrichment_failures == ()
    assert list(enriched.enrichment) == [e.NAME for e in PIPELINE]
    assert enriched.enrichment["entities"].startswith("1+")
    assert enriched.reading_time_minutes == 1  # "1 min read"
    assert enriched.language == "en"
    assert enriched.description_text is not None
    assert enriched.description_text.startswith("Mikhail Galuzin, Russian deputy foreign minister")
    assert {"Mikhail Galuzin", "Volodymyr Zelensky", "Andriy Yermak", "Vladimir Putin"} <= {
        p.name for p in enriched.people
    }
    assert {"NATO", "EU", "TASS", "UN"} <= {o.name for o in enriched.organisations}
    assert {"Ukraine", "Russia"} <= {p.name for p in enriched.places}
    assert {"peace talks", "Ukraine"} <= {s.name for s in enriched.subjects}
    assert any(q.speaker == "Volodymyr Zelensky" for q in enriched.quotes)
    assert enriched.type is ItemType.text


def test_a_video_embed_makes_the_item_a_video() -> None:
    body = '<p>Watch.</p><iframe src="https://player.vimeo.com/video/76979871"></iframe>'
    assert run_pipeline(item(body)).type is ItemType.video


def test_the_pipeline_is_built_from_a_configuration() -> None:
    config = EnrichmentConfig(words_per_minute=(("en", 100),), description_max_chars=60)
    enriched = run_pipeline(item(seed_html()), build_pipeline(config))
    assert enriched.reading_time_minutes == 2  # ~180 words at 100 a minute
    assert enriched.description_text is not None
    assert len(enriched.description_text) <= 60


# -- failures ----------------------------------------------------------------------


def test_a_failing_enricher_leaves_its_fields_out_and_the_item_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = FAILURES["tagger"]
    chain = (*PIPELINE[:5], failing("tagger"), *PIPELINE[5:])
    with caplog.at_level(logging.WARNING, logger="newsfeed.enrichment"):
        enriched = run_pipeline(item(seed_html()), chain)
    assert enriched.enrichment_failures == ("tagger",)
    assert "tagger" not in enriched.enrichment
    assert list(enriched.enrichment) == [e.NAME for e in PIPELINE]
    assert enriched.people
    assert enriched.subjects
    assert enriched.quotes
    assert FAILURES["tagger"] == before + 1
    (record,) = [r for r in caplog.records if getattr(r, "enricher", None) == "tagger"]
    assert record.exc_info is not None
    assert getattr(record, "uri", None) == "urn:newsfeed:test:pipeline"


def test_re_enriching_clears_failures_that_no_longer_happen() -> None:
    failed = run_pipeline(item(seed_html()), (*PIPELINE, failing("tagger")))
    assert failed.enrichment_failures == ("tagger",)
    healthy = run_pipeline(failed, (*PIPELINE, kind.build(CONFIG)))
    assert healthy.enrichment_failures == ("tagger",)  # not in this pipeline: kept
    fixed = run_pipeline(failed, PIPELINE)
    assert fixed.enrichment_failures == ("tagger",)
    again = run_pipeline(failed, (*PIPELINE, failing("other")))
    assert again.enrichment_failures == ("tagger", "other")


def test_a_failing_required_enricher_fails_the_item() -> None:
    chain = (failing("sanitize", ValueError("cannot parse"), required=True), *PIPELINE[1:])
    with pytest.raises(EnrichmentError, match="sanitize failed: cannot parse"):
        run_pipeline(item("<p>Kyiv</p>"), chain)


async def test_only_the_item_whose_required_enricher_fails_is_dead_lettered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = sanitize.clean

    def clean(body: str) -> str:
        if "poison" in body:
            raise ValueError("parser crashed")
        return real(body)

    monkeypatch.setattr(sanitize, "clean", clean)
    events = [
        make_event(EventType.ingested, "/tests", item(f"<p>{body}</p>", uri=f"urn:t:{n}"), "a" * 32)
        for n, body in enumerate(["Kyiv", "poison", "Odesa"])
    ]
    results = await make_handler(enrich)(events)
    assert isinstance(results[0], Done)
    assert isinstance(results[2], Done)
    assert isinstance(results[1], Failed)
    assert "parser crashed" in results[1].reason


class Stage:
    NAME = "related"

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.seen: list[list[str]] = []

    async def run(self, items: Sequence[NewsItem]) -> list[NewsItem]:
        self.seen.append([i.uri for i in items])
        if self.error:
            raise self.error
        return [i.model_copy(update={"cluster": "c-1"}) for i in items]


def events(count: int) -> list[Any]:
    return [
        make_event(EventType.ingested, "/tests", item("<p>Kyiv</p>", uri=f"urn:t:{n}"), "b" * 32)
        for n in range(count)
    ]


async def test_stages_run_on_the_batch_after_the_pure_pipeline() -> None:
    stage = Stage()
    results = await make_handler(enrich, stages=(stage,))(events(3))
    assert stage.seen == [["urn:t:0", "urn:t:1", "urn:t:2"]]
    assert all(isinstance(r, Done) and r.emit[0].data.cluster == "c-1" for r in results)


async def test_a_failing_stage_is_recorded_and_the_items_go_on() -> None:
    results = await make_handler(enrich, stages=(Stage(RuntimeError("bug")),))(events(2))
    for result in results:
        assert isinstance(result, Done)
        assert result.emit[0].data.enrichment_failures == ("related",)
        assert result.emit[0].data.cluster is None


async def test_a_lost_redis_fails_the_batch_for_a_retry() -> None:
    with pytest.raises(RedisConnectionError):
        await make_handler(enrich, stages=(Stage(RedisConnectionError("gone")),))(events(2))


# -- determinism -------------------------------------------------------------------


def test_the_same_item_gives_the_same_result() -> None:
    source = item(seed_html(), source="kyiv-independent")
    first, second = run_pipeline(source), run_pipeline(source)
    assert first.model_dump_json() == second.model_dump_json()
    assert run_pipeline(first).model_dump_json() == first.model_dump_json()


def test_the_same_item_gives_the_same_result_in_another_process() -> None:
    """Nothing depends on hash order: two processes with different hash seeds agree."""
    script = (
        "import sys; from shared.items import NewsItem; from enrichment.config import "
        "EnrichmentConfig; from enrichment.pipeline import enrich_with; "
        "print(enrich_with(EnrichmentConfig())(NewsItem.model_validate_json(sys.stdin.read()))"
        ".model_dump_json())"
    )
    source = item(seed_html(), source="kyiv-independent").model_dump_json()
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            input=source,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1
    assert outputs == {run_pipeline(NewsItem.model_validate_json(source)).model_dump_json() + "\n"}


# -- settings and wiring -----------------------------------------------------------


@pytest.fixture(autouse=True)
def redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSFEED_REDIS_URL", "redis://127.0.0.1:1/0")


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSFEED_ENRICH_LANGUAGES", '["en", "uk", "ru"]')
    monkeypatch.setenv("NEWSFEED_ENRICH_WORDS_PER_MINUTE", '{"uk": 150, "en": 200}')
    monkeypatch.setenv("NEWSFEED_ENRICH_GAZETTEER_PATH", "/srv/newsroom.yaml")
    monkeypatch.setenv("NEWSFEED_RELATED_WINDOW_SIZE", "100")
    settings = Settings()
    config = settings.enrich
    assert config.languages == ("en", "uk", "ru")
    assert config.words_per_minute == (("en", 200), ("uk", 150))
    assert config.gazetteer_path == Path("/srv/newsroom.yaml")
    assert config.tag_rules_path == EnrichmentConfig().tag_rules_path
    assert settings.related.window_size == 100
    assert Settings().enrich == EnrichmentConfig(
        languages=("en", "uk", "ru"),
        words_per_minute=(("en", 200), ("uk", 150)),
        gazetteer_path=Path("/srv/newsroom.yaml"),
    )


def test_default_settings_make_the_default_configuration() -> None:
    assert Settings().enrich == EnrichmentConfig()


def test_the_service_exposes_enricher_failure_counts() -> None:
    app = build(Settings(), Lifecycle())
    assert "/stats" in {getattr(route, "path", None) for route in app.routes}


# -- cost --------------------------------------------------------------------------


def test_the_benchmark_measures_a_typical_item() -> None:
    result = bench.measure(items=30)
    print(f"\nenrichment: median {result.median_us} µs/item ({result.words} words, 30 runs)")
    assert 200 <= result.words <= 260
    assert 0 < result.min_us <= result.median_us <= result.p90_us
    assert set(result.per_enricher_median_us) == {e.NAME for e in PIPELINE}
    json.dumps(result.__dict__)
