"""The enrichment pipeline, as data: two tuples of plug-in modules.

`ENRICHERS` lists the pure enrichers in the order they run. Each is a module
with `NAME` and `build(config) -> Enricher`: an object with `NAME`, `VERSION`
and `enrich(item) -> dict` of the fields it sets. A module may also have
`REQUIRED` (see below) and `SWITCHES` (parts of it that can be switched off
alone). `STAGES` lists what runs after them on the whole batch and needs I/O
(the related-stories clustering in Redis): modules with `NAME` and
`build(redis, settings) -> Stage` (see enrichment.stages). Nothing is built
here: app.py builds both once, at start (tests and the benchmark build their
own with `build_pipeline`).

Promises:

- every enricher that ran records its provenance (`item.enrichment`: name ->
  version);
- an enricher that raises leaves its fields out, is logged and counted, and
  is named in `item.enrichment_failures`; the item goes on — unless the
  enricher is REQUIRED (the sanitizer: an unsanitized body must never be
  published), which fails the whole item;
- the same item in gives the same item out (no clock, no randomness, no I/O);
- an enricher or stage switched off (`EnrichmentConfig.disabled`, from
  NEWSFEED_ENRICH_DISABLED) does not run and is not recorded; the ones after
  it read what is there (without `text`, say, entities and subjects read no
  body). The sanitizer cannot be switched off: it is the only thing between a
  source's HTML and the readers' browsers, and it costs little (about 12 µs
  of the 600 an item takes), so shedding load never needs it. "all" switches
  off every other enricher and stage: the no-op enrichment still sanitizes.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

from redis.asyncio import Redis
from shared.items import NewsItem

from enrichment.config import EnrichmentConfig
from enrichment.enrichers import (
    entities,
    kind,
    language,
    quotes,
    reading_time,
    sanitize,
    subjects,
    text,
)
from enrichment.stages import related

log = logging.getLogger("newsfeed.enrichment")


class Enricher(Protocol):
    # Read-only: a field, a class attribute or a property (subjects' VERSION) fits.
    @property
    def NAME(self) -> str: ...

    @property
    def VERSION(self) -> str: ...

    def enrich(self, item: NewsItem) -> dict[str, Any]: ...


class Stage(Protocol):
    NAME: str

    def run(self, items: Sequence[NewsItem]) -> Awaitable[list[NewsItem]]: ...


class EnricherModule(Protocol):
    """What ENRICHERS lists (optional: REQUIRED, SWITCHES)."""

    NAME: str

    def build(self, config: EnrichmentConfig) -> Enricher: ...


class StageModule(Protocol):
    """What STAGES lists: `settings` are the stage's own (app.build_stages)."""

    NAME: str

    def build(self, redis: Redis, settings: Any) -> Stage: ...


# Order matters: text reads the sanitized body; language reads the text;
# reading time reads the text and the language; subjects read the entities;
# quotes read the people; kind reads the sanitized body.
ENRICHERS: tuple[EnricherModule, ...] = (
    sanitize,
    text,
    language,
    reading_time,
    entities,
    subjects,
    quotes,
    kind,
)

# Batch stages after the pure pipeline, in order (see enrichment.stages).
STAGES: tuple[StageModule, ...] = (related,)

# The second pass (enrichment.second_pass): the entities with the statistical
# model, then the enrichers that read them, in ENRICHERS' order.
SECOND_PASS: tuple[EnricherModule, ...] = (entities, subjects, quotes)


ALL = "all"


def switchable() -> tuple[str, ...]:
    """What NEWSFEED_ENRICH_DISABLED may name: every enricher but the required
    ones, and every stage, in the order they run; after an enricher, the parts
    of it that can be switched off alone (its `SWITCHES`: "entity_model")."""
    names: list[str] = []
    modules: tuple[EnricherModule | StageModule, ...] = (*ENRICHERS, *STAGES)
    for module in modules:
        if not getattr(module, "REQUIRED", False):
            names += [module.NAME, *getattr(module, "SWITCHES", ())]
    return tuple(names)


def resolve_disabled(names: Iterable[str]) -> tuple[str, ...]:
    """The names to switch off, "all" expanded, in pipeline order; a name that
    is unknown or required is an error that says what may be named."""
    allowed = switchable()
    requested = set(names)
    required = sorted(
        m.NAME for m in ENRICHERS if getattr(m, "REQUIRED", False) and m.NAME in requested
    )
    if required:
        raise ValueError(
            f"{', '.join(required)} cannot be switched off: an unsanitized body must never "
            'be published ("all" switches off everything else)'
        )
    unknown = sorted(requested - {ALL, *allowed})
    if unknown:
        raise ValueError(
            f"unknown enricher or stage {', '.join(unknown)}; known: {', '.join(allowed)}, or {ALL}"
        )
    return allowed if ALL in requested else tuple(n for n in allowed if n in requested)


def build_pipeline(config: EnrichmentConfig) -> tuple[Enricher, ...]:
    """The enrichers of ENRICHERS that are not switched off, each built from `config`:
    the entity model included, as an inline pass runs them (the service's first
    pass is `build_pipeline(first_pass(config))`)."""
    disabled = resolve_disabled(config.disabled)  # never the sanitizer, whoever built config
    return tuple(module.build(config) for module in ENRICHERS if module.NAME not in disabled)


def has_second_pass(config: EnrichmentConfig) -> bool:
    """Whether the entity model runs in a second pass (on, and not inline)."""
    off = {entities.NAME, entities.MODEL_SWITCH} & set(config.disabled)
    return config.entity_model == "second_pass" and not off


def first_pass(config: EnrichmentConfig) -> EnrichmentConfig:
    """What the first pass runs with: without the entity model when a second pass has it."""
    if not has_second_pass(config):
        return config
    return config.model_copy(update={"disabled": (*config.disabled, entities.MODEL_SWITCH)})


def build_second_pass(config: EnrichmentConfig) -> tuple[Enricher, ...]:
    """The enrichers of SECOND_PASS that are not switched off, the entity model on."""
    if not has_second_pass(config):
        raise ValueError(
            "no second pass: the entity model is switched off or runs inline "
            f"(NEWSFEED_ENRICH_ENTITY_MODEL={config.entity_model}, "
            f"NEWSFEED_ENRICH_DISABLED={list(config.disabled)})"
        )
    disabled = resolve_disabled(config.disabled)
    return tuple(module.build(config) for module in SECOND_PASS if module.NAME not in disabled)


# Failures per enricher since the process started (also logged one by one).
FAILURES: Counter[str] = Counter()


class EnrichmentError(RuntimeError):
    """A required enricher failed: the item cannot go on."""


def is_required(enricher: Enricher) -> bool:
    return bool(getattr(enricher, "REQUIRED", False))


def run_pipeline(item: NewsItem, pipeline: tuple[Enricher, ...]) -> NewsItem:
    """Apply each enricher in turn. One enricher failing leaves its fields out
    and is recorded on the item; the item still goes on."""
    provenance = dict(item.enrichment)
    failures = [name for name in item.enrichment_failures if name not in _names(pipeline)]
    # An enricher's fields are copied into the item before the next one runs;
    # the last one's go in with the provenance (one copy fewer per item).
    fields: dict[str, Any] = {}
    for enricher in pipeline:
        if fields:
            item, fields = item.model_copy(update=fields), {}
        try:
            fields = enricher.enrich(item) or {}
        except Exception as error:  # an enricher bug must not drop the item
            if is_required(enricher):
                raise EnrichmentError(f"{enricher.NAME} failed: {error}") from error
            FAILURES[enricher.NAME] += 1
            log.warning(
                "enricher failed, item goes on without its fields",
                exc_info=True,
                extra={"enricher": enricher.NAME, "uri": item.uri, "version": item.version},
            )
            failures.append(enricher.NAME)
            provenance.pop(enricher.NAME, None)
        else:
            provenance[enricher.NAME] = enricher.VERSION
    return item.model_copy(
        update={**fields, "enrichment": provenance, "enrichment_failures": tuple(failures)}
    )


def _names(pipeline: tuple[Enricher, ...]) -> frozenset[str]:
    return frozenset(enricher.NAME for enricher in pipeline)


EnrichFn = Callable[[NewsItem], NewsItem]


def enrich_with(config: EnrichmentConfig) -> EnrichFn:
    """run_pipeline with the enrichers configured by `config`."""
    pipeline = build_pipeline(config)

    def enrich(item: NewsItem) -> NewsItem:
        return run_pipeline(item, pipeline)

    return enrich
