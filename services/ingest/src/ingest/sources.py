"""The source registry's model, and reading it from a file (YAML or TOML).

A source needs only an `id` and a `url`. Its feed kind (RSS 2.0, RSS 1.0,
Atom 1.0, JSON Feed) is detected on every fetch and shown in its state.
Everything else has a default:

    sources:
      - id: kyiv-wire                      # [a-z0-9._-], up to 64 characters
        url: https://wire.example.org/rss
        poll_interval_seconds: 300         # never below the service's minimum
        authors:                           # default byline or desk card
          - {name: Kyiv wire desk, role: desk, biography: "..."}
        language: uk                       # when the feed does not say
        timezone: Europe/Kyiv              # for dates the feed gives without a zone
        subjects: [Ukraine]                # put on every item (creator "source")
        enabled: true

Sources listed in the file are *managed by the file*: they are written to
Redis at start-up (and removed when they leave the file), and the API shows
them but refuses to change them — the file stays the one truth for them.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    ValidationError,
    field_validator,
)
from shared.items import Author

from ingest.dates import zone

SourceId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
LanguageTag = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
Subject = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ManagedBy = Literal["file", "api"]
FILE_SIZE_MAX = 2_000_000


class _SourceFields(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("url", check_fields=False)
    @classmethod
    def _url_fits(cls, url: HttpUrl | None) -> HttpUrl | None:
        if url is not None and len(str(url)) > 2000:
            raise ValueError("url longer than 2000 characters")
        return url

    @field_validator("timezone", check_fields=False)
    @classmethod
    def _known_zone(cls, name: str | None) -> str | None:
        if name is not None:
            zone(name)
        return name


class SourceConfig(_SourceFields):
    """One feed the service polls."""

    id: SourceId
    url: HttpUrl = Field(description="feed URL, http or https")
    poll_interval_seconds: int = Field(default=300, ge=1, le=86_400)
    authors: list[Author] = Field(
        default_factory=list, max_length=10, description="default authors or desk card"
    )
    language: LanguageTag | None = Field(default=None, description="when the feed gives none")
    timezone: str | None = Field(default=None, description="IANA zone for dates with no zone")
    subjects: list[Subject] = Field(default_factory=list, max_length=20)
    enabled: bool = True


class SourcePatch(_SourceFields):
    """A partial change of a source: only the fields given change (not the id)."""

    url: HttpUrl | None = None
    poll_interval_seconds: int | None = Field(default=None, ge=1, le=86_400)
    authors: list[Author] | None = Field(default=None, max_length=10)
    language: LanguageTag | None = None
    timezone: str | None = None
    subjects: list[Subject] | None = Field(default=None, max_length=20)
    enabled: bool | None = None


def patched(config: SourceConfig, patch: SourcePatch) -> SourceConfig:
    """`config` with the patch's given fields; an explicit null clears an optional one."""
    changes = patch.model_dump(mode="json", exclude_unset=True)
    merged = {**config.model_dump(mode="json"), **changes}
    for required in ("url", "poll_interval_seconds", "authors", "subjects", "enabled"):
        if merged.get(required) is None:
            merged.pop(required, None)
    return SourceConfig.model_validate(merged)


class SourcesFileError(ValueError):
    """The sources file cannot be used; the message lists every problem."""


def load_sources_file(path: Path, max_sources: int) -> list[SourceConfig]:
    """The sources of a YAML (.yaml, .yml) or TOML (.toml) file: a top-level
    `sources` list (or, in YAML, a bare list)."""
    try:
        if path.stat().st_size > FILE_SIZE_MAX:
            raise SourcesFileError(f"{path}: larger than {FILE_SIZE_MAX} bytes")
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SourcesFileError(f"{path}: cannot read: {error}") from error
    document = _load(path, text)
    raw = document.get("sources", []) if isinstance(document, dict) else document
    if document is None:
        raw = []
    if not isinstance(raw, list):
        raise SourcesFileError(f"{path}: expected a list of sources under 'sources'")
    if len(raw) > max_sources:
        raise SourcesFileError(f"{path}: {len(raw)} sources, more than the {max_sources} allowed")
    problems: list[str] = []
    configs: list[SourceConfig] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw):
        try:
            config = SourceConfig.model_validate(entry)
        except ValidationError as error:
            for problem in error.errors(include_url=False, include_input=False):
                where = ".".join(str(p) for p in problem["loc"]) or "(source)"
                problems.append(f"sources[{index}].{where}: {problem['msg']}")
            continue
        if config.id in seen:
            problems.append(f"sources[{index}].id: {config.id!r} is listed twice")
        seen.add(config.id)
        configs.append(config)
    if problems:
        raise SourcesFileError(f"{path}: " + "; ".join(problems[:50]))
    return configs


def _load(path: Path, text: str) -> Any:
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            return tomllib.loads(text)
        if suffix in (".yaml", ".yml"):
            return yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as error:
        raise SourcesFileError(f"{path}: not valid {suffix[1:].upper()}: {error}") from error
    raise SourcesFileError(f"{path}: the sources file must end in .yaml, .yml or .toml")
