"""Publication decides, as a plain function, what an incoming version does.

Rules (docs/publication.md):
- a version at or below the stored one is stale: nothing happens;
- canceled kills: out of every feed, the document kept for a 410 with its note;
- withheld hides the item until a later usable version;
- usable with an embargo in the future is stored, invisible, and queued for
  release at that time (an embargo on an item already visible is ignored:
  what readers saw cannot be un-seen);
- usable otherwise is visible: the first time "published", later "updated"
  with an "(Updated: …)" stamp, or "corrected" when it brings a new public
  correction note;
- the feed position is the first publication time (`firstcreated`, or the
  release time of an embargoed item) and does not move on update unless the
  newsroom asks updates to move to the top.
"""

from __future__ import annotations

from datetime import datetime

from shared.events import EventType
from shared.items import Correction, NewsItem, PubStatus
from shared.readmodel import Plan, Stored, StoredStatus, facet_keys, feed_member


def decide(
    incoming: NewsItem, stored: Stored | None, now: datetime, *, updates_move_to_top: bool = False
) -> Plan | None:
    if stored is not None and stored.version >= incoming.version:
        return None
    was_visible = stored is not None and stored.status is StoredStatus.usable
    previous = stored.doc if stored is not None else None
    member = stored.member if stored is not None and stored.member else None

    if incoming.pubstatus is PubStatus.canceled:
        return Plan(
            item=incoming,
            status=StoredStatus.canceled,
            member=member or feed_member(incoming.firstcreated, incoming.uri),
            indexes=(),
            embargo_until=None,
            event=EventType.killed,
        )
    if incoming.pubstatus is PubStatus.withheld:
        return Plan(
            item=incoming,
            status=StoredStatus.withheld,
            member=member or feed_member(incoming.firstcreated, incoming.uri),
            indexes=(),
            embargo_until=None,
            event=EventType.withheld if was_visible else None,
        )

    corrections = previous.corrections if previous is not None else ()
    new_note = (
        was_visible
        and incoming.ednote is not None
        and (previous is None or incoming.ednote != previous.ednote)
    )
    if new_note and incoming.ednote is not None:
        corrections = (
            *corrections,
            Correction(version=incoming.version, note=incoming.ednote, at=incoming.versioncreated),
        )
    updated = incoming.versioncreated if was_visible else (previous.updated if previous else None)
    # A first publication usually changes neither: the copy (a fifth of
    # deciding) is made only when one does.
    item = (
        incoming
        if corrections == incoming.corrections and updated == incoming.updated
        else incoming.model_copy(update={"corrections": corrections, "updated": updated})
    )

    embargoed = not was_visible and incoming.embargoed is not None and incoming.embargoed > now
    if embargoed:
        assert incoming.embargoed is not None
        return Plan(
            item=item,
            status=StoredStatus.embargoed,
            member=feed_member(incoming.embargoed, incoming.uri),
            indexes=(),
            embargo_until=incoming.embargoed,
            event=None,
        )

    if member is None or (stored is not None and stored.status is StoredStatus.embargoed):
        start = incoming.embargoed if incoming.embargoed is not None else incoming.firstcreated
        member = feed_member(start, incoming.uri)
    elif was_visible and updates_move_to_top:
        member = feed_member(incoming.versioncreated, incoming.uri)

    if not was_visible:
        event = EventType.published
    elif new_note:
        event = EventType.corrected
    else:
        event = EventType.updated
    return Plan(
        item=item,
        status=StoredStatus.usable,
        member=member,
        indexes=facet_keys(item),
        embargo_until=None,
        event=event,
    )
