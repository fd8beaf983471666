"""What the configurable enrichers need to know, as one frozen value.

`app.Settings` (the only reader of the environment) turns itself into an
`EnrichmentConfig`; the pipeline builders take that. Tests and the benchmark
build one directly. It is hashable, so what an enricher builds from it (the
language detector, the gazetteer index, the tag rules) is built once per
process and per configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

DATA = files("enrichment") / "data"

# The newsroom's working languages, and a few more its sources publish in.
DEFAULT_LANGUAGES: tuple[str, ...] = ("en", "uk", "ru", "pl", "de", "fr", "es")

# Silent reading speed of adults, words per minute, after Trauzettel-Klosinski
# and Dietz (IReST, 2012); English kept at 230 as the newsroom has always used.
# (Pairs sorted by key, as app.Settings makes them: equal configurations share
# what is built from them.)
DEFAULT_WORDS_PER_MINUTE: tuple[tuple[str, int], ...] = (
    ("de", 179),
    ("en", 230),
    ("es", 218),
    ("fr", 195),
    ("pl", 166),
    ("ru", 184),
    ("uk", 184),
)
# Chinese, Japanese and Korean are counted by characters (IReST: zh 255, ja 357).
DEFAULT_CHARS_PER_MINUTE: tuple[tuple[str, int], ...] = (("ja", 357), ("ko", 300), ("zh", 255))

# Cities in these countries are listed from a lower population, since the
# newsroom reports on their towns; elsewhere only major cities are.
DEFAULT_MIN_POPULATION_BY_COUNTRY: tuple[tuple[str, int], ...] = (
    ("BY", 50_000),
    ("MD", 50_000),
    ("PL", 100_000),
    ("RU", 100_000),
    ("UA", 15_000),
)


@dataclass(frozen=True)
class EnrichmentConfig:
    languages: tuple[str, ...] = DEFAULT_LANGUAGES
    # of lowercase words (see enrichers.language.sample)
    language_sample_chars: int = 64
    language_min_confidence: float = 0.5
    words_per_minute: tuple[tuple[str, int], ...] = DEFAULT_WORDS_PER_MINUTE
    default_words_per_minute: int = 230
    chars_per_minute: tuple[tuple[str, int], ...] = DEFAULT_CHARS_PER_MINUTE
    default_chars_per_minute: int = 300
    description_max_chars: int = 240
    gazetteer_path: Path = field(default_factory=lambda: Path(str(DATA / "newsroom.yaml")))
    tag_rules_path: Path = field(default_factory=lambda: Path(str(DATA / "tags.yaml")))
    min_city_population: int = 200_000
    min_city_population_by_country: tuple[tuple[str, int], ...] = DEFAULT_MIN_POPULATION_BY_COUNTRY
    quote_min_words: int = 4
    # Entities, tags and quotes read at most this much of the body (the
    # headline and lead matter most; this bounds the cost of huge bodies).
    analysis_max_chars: int = 50_000
    # Enrichers and stages switched off (pipeline.resolve_disabled checks the
    # names; the sanitizer is never among them).
    disabled: tuple[str, ...] = ()


DEFAULT_CONFIG = EnrichmentConfig()
