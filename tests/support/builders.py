"""Named builders of test items and events, so tests say only what matters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.events import Event, EventType, make_event, new_trace_id
from shared.items import Author, NewsItem, PubStatus

DESK = Author(
    name="The Kyiv Independent news desk",
    role="desk",
    biography="The news team keeping readers up to date on events in Ukraine.",
)

BASE_TIME = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


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
    return NewsItem(
        uri=uri,
        version=version,
        firstcreated=BASE_TIME + timedelta(minutes=minute),
        versioncreated=BASE_TIME + timedelta(minutes=minute, seconds=version),
        pubstatus=pubstatus,
        headline=headline,
        body_html=body_html,
        ednote=ednote,
        authors=(DESK,),
    )


def event_for(item: NewsItem, type_: EventType = EventType.enriched) -> Event:
    return make_event(type_, "/tests", item, new_trace_id())
