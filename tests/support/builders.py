"""Named builders of test items and events, so tests say only what matters.

`item` is the one way a test makes a NewsItem: version 1, created and
versioned at one moment, with the fields the test names. A test file whose
items share a headline or uri says so once (`partial(item, headline=...)`).
`news_item` is a story as the pipeline carries it (a desk byline, minutes
apart); `paragraphs` turns plain text into the body HTML sources send.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.events import Event, EventType, make_event, new_trace_id
from shared.items import Author, NewsItem, PubStatus

DESK = Author(
    name="The Kyiv Independent news desk",
    role="desk",
    biography="The news team keeping readers up to date on events in Ukraine.",
)

CREATED = datetime(2026, 1, 7, 10, 0, tzinfo=UTC)
BASE_TIME = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def item(
    body_html: str | None = None,
    headline: str | None = None,
    *,
    uri: str = "urn:newsfeed:test:item",
    at: datetime = CREATED,
    **fields: Any,
) -> NewsItem:
    """Version 1 of an item created and versioned `at`; `fields` may override
    any of it (a later version, another time, a field NewsItem refuses). A
    body or headline not given is left to NewsItem's default."""
    made: dict[str, Any] = {"uri": uri, "version": 1, "firstcreated": at, "versioncreated": at}
    if body_html is not None:
        made["body_html"] = body_html
    if headline is not None:
        made["headline"] = headline
    return NewsItem(**(made | fields))


def paragraphs(text: str) -> str:
    """Plain text, in paragraphs split at blank lines, as escaped <p> elements."""
    parts = [part.strip() for part in text.split("\n\n") if part.strip()]
    return "".join(f"<p>{html.escape(part, quote=False)}</p>" for part in parts)


def news_item(
    uri: str,
    *,
    version: int = 1,
    minute: int = 0,
    headline: str = "Zelensky meets Cypriot president in Nicosia",
    body_html: str = "<p>President Volodymyr Zelensky met Nikos Christodoulides.</p>",
    pubstatus: PubStatus = PubStatus.usable,
    ednote: str | None = None,
) -> NewsItem:
    created = BASE_TIME + timedelta(minutes=minute)
    return item(
        body_html,
        headline,
        uri=uri,
        at=created,
        version=version,
        versioncreated=created + timedelta(seconds=version),
        pubstatus=pubstatus,
        ednote=ednote,
        authors=(DESK,),
    )


def event_for(item: NewsItem, type_: EventType = EventType.enriched) -> Event:
    return make_event(type_, "/tests", item, new_trace_id())
