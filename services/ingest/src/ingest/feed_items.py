"""A feed entry, with its source's defaults, becomes a Submission and an identity.

The Submission then goes through the same `Acceptor.accept` as the API's,
so identity, dedup, versioning and tombstones are one mechanism for both.
The source fills what the entry lacks: authors (or desk card), language,
subjects (creator "source"); its categories become subjects (creator "feed");
`source` is the source id and `link` the canonical link. The entry's media
files become renditions, and the item a video or audio item when it is one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError
from shared.items import BODY_MAX, HEADLINE_MAX, Entity
from shared.text import html_to_text

from ingest.dates import EntryDate, parse_date, rfc3339, settle, zone
from ingest.identity import Identity, canonical_url, entry_identity
from ingest.media import item_type, renditions
from ingest.parse import Entry
from ingest.sources import LanguageTag, SourceConfig
from ingest.submission import Submission

DESCRIPTION_MAX = 2000
LINK_MAX = 2000
MAX_AUTHORS = 20
MAX_FEED_SUBJECTS = 20
_LANGUAGE: TypeAdapter[str] = TypeAdapter(LanguageTag)


@dataclass(frozen=True)
class Candidate:
    identity: Identity
    submission: Submission
    date: EntryDate


class EntryRejected(ValueError):
    """An entry that cannot be an item (no headline and no body, say)."""


def _language(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return _LANGUAGE.validate_python(value.strip().replace("_", "-"))
    except ValidationError:
        return None


def _subjects(source: SourceConfig, entry: Entry) -> list[dict[str, Any]]:
    subjects: list[dict[str, Any]] = []
    seen: set[str] = set()
    tagged = [(name, "source") for name in source.subjects]
    tagged += [(name[:300], "feed") for name in entry.categories[:MAX_FEED_SUBJECTS]]
    for raw, creator in tagged:
        name = " ".join(raw.split())
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            subjects.append(Entity(name=name, creator=creator).model_dump(exclude_none=True))
    return subjects[:50]


def _authors(source: SourceConfig, entry: Entry) -> list[dict[str, Any]]:
    if entry.authors:
        return [{"name": name[:200]} for name in entry.authors[:MAX_AUTHORS]]
    return [author.model_dump(mode="json", exclude_none=True) for author in source.authors]


def to_candidate(
    entry: Entry,
    source: SourceConfig,
    *,
    feed_language: str | None,
    fetched_at: datetime,
    future_tolerance: timedelta,
) -> Candidate:
    given = parse_date(entry.date_raw, zone(source.timezone)) or entry.date_parsed
    date = settle(given, fetched_at, future_tolerance)
    link = canonical_url(entry.link) if entry.link else None
    if link is not None and len(link) > LINK_MAX:
        link = None  # an unusable link is dropped, not the entry
    content = ""
    if not (entry.guid or link or entry.title.strip()):
        media = " ".join(m.href for m in entry.media)
        content = f"{media}\x00{html_to_text(entry.content_html)}"
    identity = entry_identity(
        source.id, entry.guid, link, entry.title, rfc3339(given) if given else None, content
    )
    description = html_to_text(entry.summary_html)[:DESCRIPTION_MAX] if entry.summary_html else ""
    fields: dict[str, Any] = {
        "headline": entry.title[:HEADLINE_MAX],
        "body_html": entry.content_html[:BODY_MAX],
        "description_text": description or None,
        "authors": _authors(source, entry),
        "language": _language(feed_language) or source.language,
        "firstcreated": date.value,
        "link": link,
        "subjects": _subjects(source, entry),
        "renditions": renditions(entry.media),
        "type": item_type(entry.media),
    }
    try:
        submission = Submission.model_validate(fields)
    except ValidationError as error:
        problem = error.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in problem["loc"]) or "entry"
        raise EntryRejected(f"{where}: {problem['msg']}") from error
    return Candidate(identity, submission, date)
