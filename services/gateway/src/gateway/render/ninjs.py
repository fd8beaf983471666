"""NewsItem -> IPTC ninjs 2.2 (the schema: tests/fixtures/schemas/ninjs-schema_2.2.json).

ninjs 2.x has no `headline`/`body_html`: the headline goes into `headlines`,
the body into `bodies` (HTML, and the plain text enrichment made of it), the
summary and public corrections into `descriptions`, the authors into `by`.
`version` is a string. Entity confidence (0-1 here) becomes ninjs' 0-100 integer.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import quote

from shared.items import Entity, NewsItem

STANDARD = {
    "name": "ninjs",
    "version": "2.2",
    "schema": "http://www.iptc.org/std/ninjs/ninjs-schema_2.2.json",
}
# An absolute URI (RFC 3986): a scheme, a colon, then no spaces, controls or
# characters that must be percent-encoded.
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")


def is_uri(value: str | None) -> bool:
    return value is not None and _URI.fullmatch(value) is not None


def ninjs_uri(uri: str) -> str:
    """The item's uri when it is a URI; otherwise one made from it (kept in altids)."""
    return uri if is_uri(uri) else "urn:newsfeed:id:" + quote(uri, safe="")


def rfc3339(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _entity(entity: Entity, *, subject: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"name": entity.name}
    if entity.rel:
        out["rel"] = entity.rel
    if is_uri(entity.uri):
        out["uri"] = entity.uri
    literal = entity.literal or (entity.uri if entity.uri and not is_uri(entity.uri) else None)
    if literal:
        out["literal"] = literal
    if subject:
        if entity.creator:
            out["creator"] = entity.creator
        if entity.relevance is not None:
            out["relevance"] = round(entity.relevance)
        if entity.confidence is not None:
            out["confidence"] = round(entity.confidence * 100)
    return out


def to_ninjs(item: NewsItem) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "uri": ninjs_uri(item.uri),
        "standard": STANDARD,
        "type": item.type.value,
        "representationtype": "full",
        "version": str(item.version),
        "firstcreated": rfc3339(item.firstcreated),
        "versioncreated": rfc3339(item.versioncreated),
        "pubstatus": item.pubstatus.value,
    }
    if item.embargoed is not None:
        doc["embargoed"] = rfc3339(item.embargoed)
    if item.language:
        doc["language"] = item.language
    if item.ednote:
        doc["ednote"] = item.ednote
    if item.headline:
        doc["headlines"] = [{"role": "main", "contenttype": "text/plain", "value": item.headline}]
    bodies: list[dict[str, Any]] = []
    if item.body_html:
        html_body: dict[str, Any] = {
            "role": "main",
            "contenttype": "text/html",
            "value": item.body_html,
        }
        if item.text is not None:
            html_body["wordcount"] = item.text.word_count
        bodies.append(html_body)
    if item.text is not None and item.text.body_text:
        bodies.append(
            {
                "role": "main",
                "contenttype": "text/plain",
                "value": item.text.body_text,
                "charcount": item.text.char_count,
                "wordcount": item.text.word_count,
            }
        )
    if bodies:
        doc["bodies"] = bodies
    descriptions = []
    if item.description_text:
        descriptions.append(
            {"role": "summary", "contenttype": "text/plain", "value": item.description_text}
        )
    descriptions += [
        {"role": "correction", "contenttype": "text/plain", "value": c.note}
        for c in item.corrections
    ]
    if descriptions:
        doc["descriptions"] = descriptions
    if item.authors:
        doc["by"] = ", ".join(author.name for author in item.authors)
    for name in ("people", "organisations", "places"):
        entities: tuple[Entity, ...] = getattr(item, name)
        if entities:
            doc[name] = [_entity(e) for e in entities]
    if item.subjects:
        doc["subjects"] = [_entity(e, subject=True) for e in item.subjects]
    if item.renditions:
        doc["renditions"] = [
            {"name": name, **rendition.model_dump(mode="json", exclude_none=True)}
            for name, rendition in item.renditions.items()
        ]
    altids = []
    if doc["uri"] != item.uri:
        altids.append({"role": "newsfeed-uri", "value": item.uri})
    if item.link is not None:
        altids.append({"role": "canonical-url", "value": str(item.link)})
    if altids:
        doc["altids"] = altids
    return doc
