"""How a submission becomes an item. The submission itself (`Submission`)
is the ingest API's contract with its clients: shared.submission."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

import orjson
from shared.items import NewsItem
from shared.submission import Submission

__all__ = ["Submission", "material_hash", "new_uri", "to_item"]


def new_uri() -> str:
    return f"urn:newsfeed:item:{uuid.uuid4().hex}"


def material_hash(submission: Submission) -> str:
    """What makes two submissions the same story version: content, not timestamps."""
    material = submission.model_dump(
        mode="json", exclude={"uri", "firstcreated"}, exclude_none=True
    )
    material["headline"] = " ".join(submission.headline.split())
    if not submission.subjects:
        # Fields added later count only when set, so earlier hashes still hold.
        del material["subjects"]
    return hashlib.sha256(orjson.dumps(material, option=orjson.OPT_SORT_KEYS)).hexdigest()


def to_item(
    submission: Submission,
    *,
    uri: str,
    version: int,
    firstcreated: datetime,
    now: datetime,
    source: str | None = None,
) -> NewsItem:
    return NewsItem(
        uri=uri,
        version=version,
        firstcreated=firstcreated,
        versioncreated=now,
        pubstatus=submission.pubstatus,
        type=submission.type,
        headline=submission.headline,
        body_html=submission.body_html,
        description_text=submission.description_text,
        language=submission.language,
        embargoed=submission.embargoed,
        ednote=submission.ednote,
        renditions=submission.renditions,
        authors=tuple(submission.authors),
        subjects=tuple(submission.subjects),
        link=submission.link,
        source=source,
    )
