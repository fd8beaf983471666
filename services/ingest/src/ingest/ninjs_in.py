"""IPTC ninjs 2.x documents as submissions.

`POST /v1/items` takes an item in the API's own shape or as a ninjs 2.2
document as IPTC publishes it — including the gateway's own `?format=ninjs`,
so an item fetched from the gateway and posted back is an update of that
item. The mapping:

| ninjs | submission |
| --- | --- |
| `uri` (or `altids` role `newsfeed-uri`, the uri the gateway had to rewrite) | `uri` |
| `headlines` (the `main` one, else the first) | `headline` |
| `bodies` (the `main` HTML one, else text as paragraphs) | `body_html` |
| `descriptions` (role `summary`, else the first without a role) | `description_text` (as text) |
| `by` | `authors` (one byline) |
| `altids` role `canonical-url` | `link` |
| `subjects` (confidence 0–100) | `subjects` (confidence 0–1) |
| `renditions` (array with `name`) | `renditions` (by name) |
| `type`, `language`, `firstcreated`, `embargoed`, `pubstatus`, `ednote` | the same |

What the server owns (`version`, `versioncreated`, `standard`,
`representationtype`, and `people`/`organisations`/`places`, which
enrichment derives from the text) is left out; every other ninjs field is
left out too, and all of them are named in the answer's `ignored`.
"""

from __future__ import annotations

import html
import re
from typing import Any

from shared.text import html_to_text

# Fields only a ninjs document has: one of them makes a body a ninjs document.
NINJS_MARKERS = frozenset(
    {"standard", "headlines", "bodies", "descriptions", "by", "altids", "representationtype"}
)
_SAME = ("uri", "type", "language", "firstcreated", "embargoed", "pubstatus", "ednote")
_TAKEN = frozenset(
    {*_SAME, "headlines", "bodies", "descriptions", "by", "altids", "subjects", "renditions"}
)
_ENTITY = ("name", "rel", "uri", "literal", "creator", "relevance")


def is_ninjs(document: Any) -> bool:
    return isinstance(document, dict) and not NINJS_MARKERS.isdisjoint(document)


def _main(values: Any, *, prefer_html: bool = False) -> dict[str, Any] | None:
    usable = [v for v in values if isinstance(v, dict)] if isinstance(values, list) else []
    usable = [v for v in usable if isinstance(v.get("value"), str)]
    if not usable:
        return None

    def rank(value: dict[str, Any]) -> tuple[bool, bool]:
        is_html = "html" in str(value.get("contenttype") or "")
        return (value.get("role") not in (None, "main"), prefer_html and not is_html)

    return min(usable, key=rank)


def _paragraphs(text: str) -> str:
    parts = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return "".join(f"<p>{html.escape(p)}</p>" for p in parts)


def _summary(values: Any) -> str | None:
    usable = [v for v in values if isinstance(v, dict)] if isinstance(values, list) else []
    usable = [v for v in usable if isinstance(v.get("value"), str)]
    chosen = next((v for v in usable if v.get("role") == "summary"), None) or next(
        (v for v in usable if v.get("role") is None), None
    )
    if chosen is None:
        return None
    value: str = chosen["value"]
    return html_to_text(value) if "html" in str(chosen.get("contenttype") or "") else value


def _altid(altids: Any, role: str) -> Any:
    if isinstance(altids, list):
        for altid in altids:
            if isinstance(altid, dict) and altid.get("role") == role:
                return altid.get("value")
    return None


def _subject(subject: Any) -> Any:
    if not isinstance(subject, dict):
        return subject  # refused by validation, with its place
    out = {key: subject[key] for key in _ENTITY if key in subject}
    confidence = subject.get("confidence")
    if isinstance(confidence, int | float) and not isinstance(confidence, bool):
        out["confidence"] = confidence / 100
    return out


def from_ninjs(document: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(the submission's fields, the ninjs fields left out)."""
    fields = {key: document[key] for key in _SAME if key in document}
    own_uri = _altid(document.get("altids"), "newsfeed-uri")
    if isinstance(own_uri, str):
        fields["uri"] = own_uri
    if headline := _main(document.get("headlines")):
        fields["headline"] = headline["value"]
    if body := _main(document.get("bodies"), prefer_html=True):
        is_html = "html" in str(body.get("contenttype") or "")
        fields["body_html"] = body["value"] if is_html else _paragraphs(body["value"])
    if (summary := _summary(document.get("descriptions"))) is not None:
        fields["description_text"] = summary
    byline = document.get("by")
    if isinstance(byline, str) and byline.strip():
        fields["authors"] = [{"name": " ".join(byline.split())}]
    link = _altid(document.get("altids"), "canonical-url")
    if link is not None:
        fields["link"] = link
    if "subjects" in document:
        subjects = document["subjects"]
        if isinstance(subjects, list):
            subjects = [_subject(subject) for subject in subjects]
        fields["subjects"] = subjects
    if "renditions" in document:
        fields["renditions"] = document["renditions"]
    ignored = sorted(key for key in document if key not in _TAKEN)
    return fields, ignored
