"""What an editor or a client system submits to ingest (`POST /v1/items`):
the contract between ingest and its clients, `newsfeed import` among them,
which takes its field names from here."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from shared.items import (
    BODY_MAX,
    HEADLINE_MAX,
    Author,
    Entity,
    ItemType,
    PlausibleDatetime,
    PubStatus,
    Rendition,
    Uri,
    Url,
    renditions_map,
)

RenditionName = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class NamedRendition(Rendition):
    """A rendition in ninjs 2.2's array form: with its name."""

    name: RenditionName


class Submission(BaseModel):
    """One item as submitted. A repeated `uri` is an update of that item;
    `pubstatus: canceled` kills it. Without a `uri`, a `link` names the item:
    the same canonical link is the same item, from the API or from a feed."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            # "A headline or a body_html, unless it is canceled", as far as JSON Schema
            # can say it (that the text is more than white space is checked below).
            "anyOf": [
                {"required": ["headline"], "properties": {"headline": {"minLength": 1}}},
                {"required": ["body_html"], "properties": {"body_html": {"minLength": 1}}},
                {"required": ["pubstatus"], "properties": {"pubstatus": {"const": "canceled"}}},
            ]
        },
    )

    uri: Uri | None = Field(default=None, description="Stable id of the item; made up if absent")
    headline: Annotated[str, StringConstraints(max_length=HEADLINE_MAX)] = ""
    body_html: Annotated[str, StringConstraints(max_length=BODY_MAX)] = ""
    description_text: Annotated[str, StringConstraints(max_length=2000)] | None = None
    type: ItemType = ItemType.text
    authors: list[Author] = Field(default_factory=list, max_length=20)
    language: (
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")] | None
    ) = None
    firstcreated: PlausibleDatetime | None = None
    embargoed: PlausibleDatetime | None = None
    pubstatus: PubStatus = PubStatus.usable
    ednote: Annotated[str, StringConstraints(max_length=2000)] | None = None
    renditions: dict[RenditionName, Rendition] = Field(
        default_factory=dict,
        max_length=20,
        description="by name; ninjs 2.2's array of renditions with a `name` is taken too",
    )
    link: Url | None = Field(default=None, description="URL of the original story")
    subjects: list[Entity] = Field(default_factory=list, max_length=50)

    @field_validator(
        "renditions",
        mode="before",
        json_schema_input_type=dict[str, Rendition] | list[NamedRendition],
    )
    @classmethod
    def _renditions_by_name(cls, value: Any) -> Any:
        return renditions_map(value)

    @model_validator(mode="after")
    def _has_content(self) -> Submission:
        if self.pubstatus is not PubStatus.canceled and not (
            self.headline.strip() or self.body_html.strip()
        ):
            raise ValueError("an item needs a headline or a body_html (unless it is canceled)")
        return self
