"""What the configurable enrichers need to know, as one frozen model: each
default said once, here.

`app.Settings` (the only reader of the environment) nests it as `enrich`:
each field is the environment variable NEWSFEED_ENRICH_<FIELD> (lists and
maps as JSON). The pipeline builders take it; tests and the benchmark build
one directly. It is hashable (maps are kept as pairs sorted by key), so what
an enricher builds from it (the gazetteer index) is built once per process
and per configuration.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

DATA = files("enrichment") / "data"


def _sorted_pairs(value: object) -> object:
    """A map (the environment's JSON object) as pairs sorted by key: equal
    configurations then compare and hash equal, whatever the order written."""
    if isinstance(value, Mapping):
        return tuple(sorted(value.items()))
    if isinstance(value, Iterable) and not isinstance(value, str):
        return tuple(sorted(tuple(pair) for pair in value))
    return value


# language or country code -> a number; JSON `{"en": 230}` in the environment
Rates = Annotated[tuple[tuple[str, int], ...], BeforeValidator(_sorted_pairs)]


def _shipped(name: str) -> Path:
    return Path(str(DATA / name))


class EnrichmentConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    languages: tuple[str, ...] = Field(
        # The newsroom's working languages, and a few more its sources publish in.
        default=("en", "uk", "ru", "pl", "de", "fr", "es"),
        min_length=2,
        description="ISO 639-1 codes the language detector chooses among (loaded lazily)",
    )
    language_sample_chars: int = Field(
        default=64,
        ge=30,
        le=5000,
        description="characters of lowercase words the detector reads",  # enrichers.language.sample
    )
    language_min_confidence: float = Field(
        default=0.5, ge=0, le=1, description="below it, no language is set"
    )
    # Silent reading speed of adults, words per minute, after Trauzettel-Klosinski
    # and Dietz (IReST, 2012); English kept at 230 as the newsroom has always used.
    words_per_minute: Rates = Field(
        default=(
            ("de", 179),
            ("en", 230),
            ("es", 218),
            ("fr", 195),
            ("pl", 166),
            ("ru", 184),
            ("uk", 184),
        ),
        description="reading speed per language (primary subtag)",
    )
    default_words_per_minute: int = Field(
        default=230, ge=50, le=1000, description="reading speed of other languages"
    )
    # Chinese, Japanese and Korean are counted by characters (IReST: zh 255, ja 357).
    chars_per_minute: Rates = Field(
        default=(("ja", 357), ("ko", 300), ("zh", 255)),
        description="reading speed in characters for Chinese, Japanese and Korean",
    )
    default_chars_per_minute: int = Field(
        default=300, ge=50, le=5000, description="the same, for other languages' characters"
    )
    description_max_chars: int = Field(
        default=240, ge=40, le=2000, description="length of the excerpt made when there is none"
    )
    # Unset (None) is the shipped file; the validator below puts its path in.
    gazetteer_path: Path = Field(
        default=None,
        validate_default=True,
        description="newsroom gazetteer YAML (default: the shipped one)",
    )
    tag_rules_path: Path = Field(
        default=None,
        validate_default=True,
        description="tag rules YAML (default: the shipped one)",
    )
    min_city_population: int = Field(
        default=200_000, ge=1000, description="world-gazetteer cities are listed from this size"
    )
    # Cities in these countries are listed from a lower population, since the
    # newsroom reports on their towns; elsewhere only major cities are.
    min_city_population_by_country: Rates = Field(
        default=(("BY", 50_000), ("MD", 50_000), ("PL", 100_000), ("RU", 100_000), ("UA", 15_000)),
        description="the same, per country (ISO 3166 alpha-2)",
    )
    quote_min_words: int = Field(
        default=4, ge=1, description="shorter quotations are not statements"
    )
    analysis_max_chars: int = Field(
        default=50_000,
        ge=1000,
        description="entities, tags and quotes read at most this much of a body (the headline "
        "and lead matter most; this bounds the cost of huge bodies)",
    )
    # The model costs about half of an item's enrichment (docs/enrichment.md,
    # "The second pass"): in a second pass, items are shown with the gazetteers' and rules'
    # names first and the model's a moment later, without an update stamp.
    entity_model: Literal["second_pass", "inline"] = Field(
        default="second_pass",
        description="where the entities enricher's statistical model runs: second_pass (a "
        "process with NEWSFEED_SECOND_PASS=true adds its names to items already published) "
        "or inline (in every item's enrichment, before it is published)",
    )
    disabled: tuple[str, ...] = Field(
        default=(),
        description="enrichers and stages switched off, to shed load: any by name (the tables "
        "of docs/enrichment.md; entity_model: only the entities enricher's statistical model), "
        "or all; the sanitizer always runs (it keeps unsafe HTML from readers) and cannot be "
        "named; an unknown name stops the service at start, saying the known ones",
    )

    @field_validator("gazetteer_path", mode="before")
    @classmethod
    def _shipped_gazetteer(cls, path: Path | str | None) -> Path | str:
        return _shipped("newsroom.yaml") if path is None else path

    @field_validator("tag_rules_path", mode="before")
    @classmethod
    def _shipped_tag_rules(cls, path: Path | str | None) -> Path | str:
        return _shipped("tags.yaml") if path is None else path

    @field_validator("disabled")
    @classmethod
    def _known_and_not_required(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        # "all" expanded, in pipeline order; a clear error at start, not later.
        # Imported here: the pipeline imports the enrichers, which import this.
        from enrichment.pipeline import resolve_disabled

        return resolve_disabled(names)


DEFAULT_CONFIG = EnrichmentConfig()
