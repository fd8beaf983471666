"""NEWSFEED_ENRICH_DISABLED: enrichers and stages switched off, the sanitizer never."""

from __future__ import annotations

import pytest
from enrichment.app import Settings, build_stages
from enrichment.config import EnrichmentConfig
from enrichment.pipeline import build_pipeline, enrich_with, resolve_disabled, switchable
from pydantic import ValidationError
from shared.redis_client import connect

from tests.support import builders

BODY = (
    "<p>Russian deputy foreign minister Mikhail Galuzin told TASS in Moscow that Ukraine "
    '"must give up its NATO ambitions before any talks," he said.</p>'
    "<script>alert(1)</script>"
)


ITEM = builders.item(
    BODY,
    "Russia demands Ukraine drop NATO bid before peace talks",
    uri="urn:newsfeed:test:disabled",
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("NEWSFEED_REDIS_URL", "redis://127.0.0.1:1/0")  # never connected
    return monkeypatch


def test_every_enricher_but_the_sanitizer_and_every_stage_can_be_switched_off() -> None:
    assert switchable() == (
        "text",
        "language",
        "reading_time",
        "entities",
        "entity_model",
        "subjects",
        "quotes",
        "kind",
        "related",
    )
    assert resolve_disabled(["all"]) == switchable()
    assert resolve_disabled(["related", "entities", "related"]) == ("entities", "related")
    assert resolve_disabled([]) == ()


def test_the_entity_model_can_be_switched_off_alone() -> None:
    # no title, no speech verb, not in any gazetteer: only the model finds him
    weah = ITEM.model_copy(
        update={"body_html": "<p>Fans cheered George Weah after he scored twice on Sunday.</p>"}
    )
    off = EnrichmentConfig(disabled=("entity_model",))
    names = [e.NAME for e in build_pipeline(off)]
    assert names == [e.NAME for e in build_pipeline(EnrichmentConfig())]  # entities still runs
    assert [e.name for e in enrich_with(EnrichmentConfig())(weah).people] == ["George Weah"]
    assert enrich_with(off)(weah).people == ()


def test_naming_the_sanitizer_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="sanitize cannot be switched off"):
        resolve_disabled(["sanitize", "related"])


def test_an_unknown_name_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown enricher or stage relatd; known: text, "):
        resolve_disabled(["relatd"])


def test_the_setting_is_read_from_the_environment_and_checked_at_start(
    env: pytest.MonkeyPatch,
) -> None:
    env.setenv("NEWSFEED_ENRICH_DISABLED", '["related", "entities"]')
    settings = Settings()
    assert settings.enrich.disabled == ("entities", "related")
    env.setenv("NEWSFEED_ENRICH_DISABLED", '["entitys"]')
    with pytest.raises(ValidationError, match="unknown enricher or stage entitys"):
        Settings()
    env.setenv("NEWSFEED_ENRICH_DISABLED", '["sanitize"]')
    with pytest.raises(ValidationError, match="sanitize cannot be switched off"):
        Settings()


def test_switched_off_enrichers_do_not_run_and_are_not_recorded() -> None:
    full = enrich_with(EnrichmentConfig())(ITEM)
    assert full.people
    assert full.quotes
    shed = enrich_with(EnrichmentConfig(disabled=("entities", "quotes")))(ITEM)
    assert "entities" not in shed.enrichment
    assert "quotes" not in shed.enrichment
    assert shed.people == () == shed.quotes
    assert shed.enrichment_failures == ()
    assert shed.text == full.text  # the others run as before
    assert shed.language == full.language


def test_all_switched_off_still_sanitizes() -> None:
    shed = enrich_with(EnrichmentConfig(disabled=("all",)))(ITEM)
    assert list(shed.enrichment) == ["sanitize"]
    assert "<script" not in shed.body_html
    assert shed.text is None
    assert shed.language is None


def test_a_configuration_that_names_the_sanitizer_builds_no_pipeline() -> None:
    with pytest.raises(ValueError, match="sanitize cannot be switched off"):
        enrich_with(EnrichmentConfig(disabled=("sanitize",)))


async def test_the_related_stage_is_not_built_when_switched_off(env: pytest.MonkeyPatch) -> None:
    redis = connect("redis://127.0.0.1:1/0")
    try:
        assert [stage.NAME for stage in build_stages(redis, Settings())] == ["related"]
        env.setenv("NEWSFEED_ENRICH_DISABLED", '["all"]')
        assert build_stages(redis, Settings()) == ()
    finally:
        await redis.aclose()
