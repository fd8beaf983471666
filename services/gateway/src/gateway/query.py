"""Query strings in, validated requests out; anything unexpected is a BadRequest (400).

The models here are also what the OpenAPI document shows (see openapi.py), so
the documentation and the parser cannot drift apart. `extra="forbid"` turns an
unknown parameter into a 400 instead of silently ignoring it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)
from shared.items import URI_MAX, ItemType
from shared.partitions import MAX_PARTITIONS
from shared.readmodel import PAGE_MAX, BadCursor, Facet, decode_cursor

from gateway.positions import parse_position

# A member is a 15-digit stamp, '|' and a uri of up to URI_MAX characters of up
# to 4 UTF-8 bytes each; base64 makes 4 characters of every 3 bytes.
CURSOR_MAX = (16 + 4 * URI_MAX) * 4 // 3 + 4
FILTER_MAX = 300
POSITION_MAX = 42 * MAX_PARTITIONS  # one id of two 20-digit halves per partition
DEFAULT_LIMIT = 20
# A position in news.published (gateway.tail): `0`, or one entry id per
# partition, as Redis writes them (<ms>-<seq>), joined by '.'.
_ID = r"\d{1,20}-\d{1,20}"
POSITION = re.compile(rf"0|{_ID}(\.{_ID})*")

FilterValue = Annotated[
    str, StringConstraints(min_length=1, max_length=FILTER_MAX, strip_whitespace=True)
]


class BadRequest(ValueError):
    """A request the gateway will not answer: the message says why, for a 400."""

    def __init__(self, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeedFilters(_Params):
    """At most one of these per request; values match regardless of case and spacing."""

    tag: FilterValue | None = Field(default=None, description="a subject, e.g. diplomacy")
    type: ItemType | None = Field(default=None, description="the item type")
    author: FilterValue | None = Field(default=None, description="an author or desk name")
    language: FilterValue | None = Field(
        default=None, description="a primary language subtag, e.g. en"
    )
    person: FilterValue | None = None
    place: FilterValue | None = None
    organisation: FilterValue | None = None

    @field_validator("type", mode="before")
    @classmethod
    def _any_case(cls, value: object) -> object:
        return value.strip().casefold() if isinstance(value, str) else value


class FeedParams(FeedFilters):
    limit: int | None = Field(default=None, ge=1, le=PAGE_MAX, description="items per page")
    cursor: Annotated[str, StringConstraints(min_length=1, max_length=CURSOR_MAX)] | None = Field(
        default=None, description="next_cursor of the previous page: the page after it"
    )


class ItemParams(_Params):
    format: Literal["json", "ninjs"] = Field(
        default="json", description="json: the item as stored; ninjs: IPTC ninjs 2.2"
    )


class NoParams(_Params):
    pass


_POSITION = StringConstraints(pattern=f"^({POSITION.pattern})$", max_length=POSITION_MAX)


class StreamParams(FeedFilters):
    last_event_id: (
        Annotated[
            str, StringConstraints(pattern=f"^({POSITION.pattern})$", max_length=POSITION_MAX)
        ]
        | None
    ) = Field(
        default=None,
        description="resume after this event id (the Last-Event-ID header wins when both "
        "are given); 0: from the start of what the stream holds",
    )


FILTER_NAMES: tuple[str, ...] = tuple(FeedFilters.model_fields)


@dataclass(frozen=True, slots=True)
class FeedQuery:
    """A feed request: a page size, where to start, and at most one filter."""

    limit: int
    cursor: str | None = None
    facet: tuple[Facet, str] | None = None

    def filter_params(self) -> dict[str, str]:
        return {self.facet[0].value: self.facet[1]} if self.facet else {}

    def params(self, *, default_limit: int, cursor: str | None = None) -> dict[str, str]:
        """Query parameters that ask for this feed again (at `cursor`)."""
        out = self.filter_params()
        if self.limit != default_limit:
            out["limit"] = str(self.limit)
        if cursor:
            out["cursor"] = cursor
        return out


def _as_dict(items: Sequence[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in items:
        if key in out:
            raise BadRequest(f"parameter {key!r} is given more than once")
        out[key] = value
    return out


M = TypeVar("M", bound=_Params)


def _validate(model: type[M], items: Sequence[tuple[str, str]]) -> M:
    raw = _as_dict(items)
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        unknown = [str(e["loc"][0]) for e in error.errors() if e["type"] == "extra_forbidden"]
        if unknown:
            known = ", ".join(model.model_fields) or "none"
            raise BadRequest(
                f"unknown parameter {unknown[0]!r}; this endpoint takes: {known}"
            ) from None
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]}
            for e in error.errors()
        ]
        raise BadRequest("invalid parameters", problems) from None


def facet_of(filters: FeedFilters) -> tuple[Facet, str] | None:
    given = [(name, getattr(filters, name)) for name in FILTER_NAMES]
    given = [(name, value) for name, value in given if value is not None]
    if len(given) > 1:
        names = " and ".join(name for name, _ in given)
        raise BadRequest(f"one filter at a time, got {names}")
    if not given:
        return None
    name, value = given[0]
    return Facet(name), str(value.value if isinstance(value, ItemType) else value)


def parse_feed(items: Sequence[tuple[str, str]], *, default_limit: int) -> FeedQuery:
    params = _validate(FeedParams, items)
    facet = facet_of(params)
    if params.cursor is not None:
        try:
            decode_cursor(params.cursor)
        except BadCursor as error:
            raise BadRequest(str(error)) from None
    return FeedQuery(params.limit or default_limit, params.cursor, facet)


def parse_item(items: Sequence[tuple[str, str]]) -> ItemParams:
    return _validate(ItemParams, items)


def parse_none(items: Sequence[tuple[str, str]]) -> None:
    _validate(NoParams, items)


def parse_stream(
    items: Sequence[tuple[str, str]], last_event_id_header: str | None
) -> tuple[tuple[Facet, str] | None, tuple[tuple[int, int], ...] | None]:
    """The filter, and the position to resume after (`()`: the start; None: live only)."""
    params = _validate(StreamParams, items)
    last = params.last_event_id
    if last_event_id_header is not None and last_event_id_header.strip():
        last = last_event_id_header.strip()
    if last is None:
        return facet_of(params), None
    position = parse_position(last) if len(last) <= POSITION_MAX else None
    if position is None:
        raise BadRequest("Last-Event-ID is not an event id this stream handed out")
    return facet_of(params), position
