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
  newsroom asks updates to move to the top;
- a refinement (enrichment's second pass: the same version with the entity
  model's names) replaces the stored document of its version as it stands:
  same status, feed position, corrections and update stamp, so readers see
  no "Updated" (docs/enrichment.md). One of an older version is stale; one
  that arrives before its version (that version's first entry failed and
  waits for a retry) is that version.
"""

from __future__ import annotations

from datetime import datetime

from shared.events import EventType
from shared.items import Correction, NewsItem, PubStatus
from shared.readmodel import Plan, Stored, StoredStatus, facet_keys, feed_member


def decide(
    incoming: NewsItem,
    stored: Stored | None,
    now: datetime,
    *,
    updates_move_to_top: bool = False,
    refinement: bool = False,
) -> Plan | None:
    if refinement and stored is not None and stored.version == incoming.version:
        return refine(incoming, stored)
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


def refine(incoming: NewsItem, stored: Stored) -> Plan | None:
    """The stored version with the second pass's fields; None when nothing changes
    (the same refinement again) or the version is no longer shown or waiting."""
    previous = stored.doc
    if previous is None or stored.member is None:
        return None
    if stored.status not in (StoredStatus.usable, StoredStatus.embargoed):
        return None
    # What publication decided for this version stays: its stamp and notes.
    item = incoming.model_copy(
        update={"corrections": previous.corrections, "updated": previous.updated}
    )
    if item == previous:
        return None
    usable = stored.status is StoredStatus.usable
    return Plan(
        item=item,
        status=stored.status,
        member=stored.member,
        indexes=facet_keys(item) if usable else (),
        embargo_until=None if usable else previous.embargoed,
        event=EventType.refined if usable else None,
    )
