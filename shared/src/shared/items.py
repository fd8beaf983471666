"""The news item, with field names after IPTC ninjs 2.x.

One model travels through the whole pipeline: ingest fills what the source
gave, enrichment adds derived fields, publication stamps versions and times.
Extensions beyond ninjs (structured `authors`, text statistics, reading time,
enrichment provenance) are named so they cannot clash with ninjs names.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
)

HEADLINE_MAX = 500
# What a source may submit. A stored body may be longer: sanitizing escapes
# characters ("&" becomes "&amp;", up to 5x) and adds rel attributes to links.
BODY_MAX = 200_000
STORED_BODY_MAX = 6 * BODY_MAX
URI_MAX = 512

# Dates a source may give (firstcreated, embargoed): wide enough for archives and
# far embargoes, narrow enough that every later step (UTC conversion, sort
# stamps, RFC 822 and RFC 3339 output) stays inside what datetime can represent.
EARLIEST_DATE = datetime(1800, 1, 1, tzinfo=UTC)
LATEST_DATE = datetime(2200, 1, 1, tzinfo=UTC)


def _plausible(at: datetime) -> datetime:
    if not EARLIEST_DATE <= at < LATEST_DATE:
        raise ValueError(
            f"date outside {EARLIEST_DATE:%Y-%m-%d} .. {LATEST_DATE:%Y-%m-%d} (UTC, exclusive)"
        )
    return at


PlausibleDatetime = Annotated[AwareDatetime, AfterValidator(_plausible)]

# HttpUrl checks the length of what it is given; its normalized form (percent-
# encoded, punycode host) can be longer and would then fail to decode in every
# later stage. The normalized form is what is checked, at the door.
URL_MAX = 2083


def _normalized_fits(url: HttpUrl) -> HttpUrl:
    if len(str(url)) > URL_MAX:
        raise ValueError(f"URL longer than {URL_MAX} characters once percent-encoded")
    return url


Url = Annotated[HttpUrl, AfterValidator(_normalized_fits)]

Uri = Annotated[
    str,
    StringConstraints(min_length=1, max_length=URI_MAX, pattern=r"^[^\s\x00-\x1f]+$"),
]


class PubStatus(StrEnum):
    usable = "usable"
    withheld = "withheld"
    canceled = "canceled"


class ItemType(StrEnum):
    text = "text"
    video = "video"
    picture = "picture"
    audio = "audio"


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Author(Frozen):
    """A byline or desk card: the seed page shows a desk with avatar and bio."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    role: Annotated[str, StringConstraints(max_length=100)] | None = None
    biography: Annotated[str, StringConstraints(max_length=2000)] | None = None
    avatar_url: Url | None = None


class Rendition(Frozen):
    """A media file of the item: a ninjs 2.2 rendition without its `name`
    (the item keeps its renditions as a map from name to rendition)."""

    href: Url
    contenttype: Annotated[str, StringConstraints(max_length=100)] | None = None
    title: Annotated[str, StringConstraints(max_length=500)] | None = None
    width: int | None = Field(default=None, ge=0)
    height: int | None = Field(default=None, ge=0)
    duration: float | None = Field(default=None, ge=0, description="seconds")
    sizeinbytes: int | None = Field(default=None, ge=0)
    format: Annotated[str, StringConstraints(max_length=100)] | None = Field(
        default=None, description="refines contenttype"
    )


def renditions_map(value: Any) -> Any:
    """Renditions as a map from name to rendition, from either form: the map, or
    ninjs 2.2's array of objects that each carry a `name`. Anything else is
    returned as it is, for validation to refuse."""
    if not isinstance(value, list):
        return value
    out: dict[str, Any] = {}
    for index, rendition in enumerate(value):
        if not isinstance(rendition, dict) or not isinstance(rendition.get("name"), str):
            raise ValueError(f"renditions[{index}] must be an object with a name (ninjs 2.2)")
        name = rendition["name"]
        if name in out:
            raise ValueError(f"renditions[{index}]: the name {name!r} is used twice")
        out[name] = {key: v for key, v in rendition.items() if key != "name"}
    return out


class Entity(Frozen):
    """A person, organisation, place or subject in ninjs shape."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    rel: str | None = None
    uri: str | None = None
    literal: str | None = None
    confidence: float | None = Field(default=None, ge=0, le=1)
    relevance: float | None = Field(default=None, ge=0, le=100)
    creator: str | None = None


class TextStats(Frozen):
    """Derived from the sanitized body by enrichment."""

    body_text: str
    word_count: int = Field(ge=0)
    char_count: int = Field(ge=0)


class Quote(Frozen):
    """A quoted statement and, where the text says, who said it."""

    text: str
    speaker: str | None = None


class Correction(Frozen):
    """A public correction note, kept with the version that carried it."""

    version: int = Field(ge=1)
    note: str
    at: AwareDatetime


class NewsItem(Frozen):
    """A news item at one version."""

    uri: Uri
    version: int = Field(ge=1, description="1 for the first version; +1 per material change")
    firstcreated: AwareDatetime
    versioncreated: AwareDatetime
    pubstatus: PubStatus = PubStatus.usable
    type: ItemType = ItemType.text
    headline: Annotated[str, StringConstraints(max_length=HEADLINE_MAX)] = ""
    body_html: Annotated[str, StringConstraints(max_length=STORED_BODY_MAX)] = ""
    description_text: str | None = None
    language: str | None = None
    embargoed: AwareDatetime | None = None
    ednote: str | None = Field(default=None, description="Public note: correction or kill reason")
    renditions: dict[str, Rendition] = Field(default_factory=dict)
    subjects: tuple[Entity, ...] = ()
    people: tuple[Entity, ...] = ()
    organisations: tuple[Entity, ...] = ()
    places: tuple[Entity, ...] = ()
    authors: tuple[Author, ...] = ()
    # Where the item came from: a source id from ingest's registry, or "api".
    source: str | None = None
    link: Url | None = Field(default=None, description="canonical URL of the original story")
    # Set by publication: the time of the latest material change shown as
    # "(Updated: …)" (None until the item is first updated), and every public
    # correction made so far.
    updated: AwareDatetime | None = None
    corrections: tuple[Correction, ...] = ()
    # Extensions filled by enrichment; absent until then.
    text: TextStats | None = None
    reading_time_minutes: int | None = Field(default=None, ge=0)
    language_confidence: float | None = Field(default=None, ge=0, le=1)
    quotes: tuple[Quote, ...] = ()
    cluster: str | None = Field(default=None, description="id shared by items about one story")
    enrichment: dict[str, str] = Field(
        default_factory=dict, description="enricher name -> version that produced its fields"
    )
    enrichment_failures: tuple[str, ...] = ()


def utcnow() -> datetime:
    return datetime.now(UTC)
