"""A feed's entries become items: one loop, whichever way the feed arrived.

The poller fetches a feed and hands its parsed entries here. A source that
pushes its feed (a WebSub hub) or a feed archive read from a file would hand
theirs the same way: the loop depends on the parsed feed, its source and when
it arrived, never on how it arrived. The caller says how (`SourceKind`), gets
an `EntriesOutcome` back and records it in the source's state.

Identities are resolved in the feed's order, so of two entries naming one
item (a repeated guid, or one link and no guids) the first listed is the
item and the other is left out: taking both would make every reading of the
same bytes an update. Feeds list newest first, so the entries are accepted
oldest first and the stream reads in order.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from shared.events import new_trace_id

from ingest.accept import Acceptor, Origin, TooMuchContention
from ingest.dates import rfc3339
from ingest.feed_items import Candidate, EntryRejected, to_candidate
from ingest.parse import Entry, ParsedFeed
from ingest.source_state import StateChange
from ingest.sources import SourceConfig

log = logging.getLogger("newsfeed.ingest.entries")

REASON_MAX = 500


class SourceKind(StrEnum):
    """How a source's feed reaches ingest (not the feed's format: that is
    `parse.FeedKind`). Every kind's entries go through `accept_entries`."""

    POLLED = "polled"  # fetched on the source's schedule (poller.py)


@dataclass(frozen=True)
class EntriesOutcome:
    """What became of one feed's entries."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    tombstoned: int = 0  # entries of items killed before: the kill holds
    rejected: int = 0  # unreadable, invalid, a repeat of an item, or contended
    clamped: int = 0  # dated too far in the future: dated when it arrived
    uris: tuple[str, ...] = ()  # the items the entries named, as accepted
    last_rejection: str | None = None  # the last entry left out, and why
    last_clamped: str | None = None  # the last entry whose date was clamped

    @property
    def emitted(self) -> int:
        """Entries that became a new version of an item (an event)."""
        return self.new + self.updated

    def counts(self) -> Counter[str]:
        named = {
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "tombstoned": self.tombstoned,
            "rejected": self.rejected,
            "clamped": self.clamped,
        }
        return Counter({name: count for name, count in named.items() if count})

    def state(self) -> list[StateChange]:
        """The changes of the source's state this outcome makes (a reason is
        kept until a later reading gives one of its own)."""
        changes = [
            StateChange.model_construct(
                new_last_fetch=self.new,
                updated_last_fetch=self.updated,
                unchanged_last_fetch=self.unchanged,
                tombstoned_last_fetch=self.tombstoned,
                rejected_last_fetch=self.rejected,
                clamped_last_fetch=self.clamped,
            )
        ]
        if self.last_rejection is not None:
            changes.append(StateChange.model_construct(last_rejection=self.last_rejection))
        if self.last_clamped is not None:
            changes.append(StateChange.model_construct(last_clamped=self.last_clamped))
        return changes


def _name(entry: Entry) -> str:
    return (entry.guid or entry.link or repr(entry.title))[:200]


@dataclass
class _Tally:
    """The outcome while the loop runs."""

    counts: Counter[str]
    uris: list[str]
    last_rejection: str | None = None
    last_clamped: str | None = None

    def reject(self, reason: str, count: int = 1) -> None:
        self.counts["rejected"] += count
        self.last_rejection = reason[:REASON_MAX]

    def outcome(self) -> EntriesOutcome:
        return EntriesOutcome(
            new=self.counts["new"],
            updated=self.counts["updated"],
            unchanged=self.counts["unchanged"],
            tombstoned=self.counts["tombstoned"],
            rejected=self.counts["rejected"],
            clamped=self.counts["clamped"],
            uris=tuple(self.uris),
            last_rejection=self.last_rejection,
            last_clamped=self.last_clamped,
        )


async def accept_entries(
    acceptor: Acceptor,
    source: SourceConfig,
    feed: ParsedFeed,
    *,
    kind: SourceKind,
    received_at: datetime,
    future_tolerance: timedelta,
) -> EntriesOutcome:
    """Accept every entry of `feed`, which `source` gave at `received_at`;
    an entry that cannot be an item is counted and left out, never the feed."""
    tally = _Tally(Counter(), [])
    if feed.skipped:
        tally.reject(f"unreadable {feed.last_skip}", feed.skipped)
        log.warning(
            "source %s (%s): %d entries could not be read and were skipped; the last: %s",
            source.id,
            kind,
            feed.skipped,
            feed.last_skip,
        )
    resolved = await _resolve(acceptor, source, feed, received_at, future_tolerance, tally)
    origin = Origin(source=source.id, feed=True)
    for entry, candidate, uri in reversed(resolved):
        try:
            accepted = await acceptor.accept(candidate.submission, new_trace_id(), origin, uri=uri)
        except TooMuchContention as error:  # tried again at the next reading
            tally.reject(f"{_name(entry)}: {error}")
            continue
        tally.uris.append(accepted.uri)
        if candidate.date.clamped and candidate.date.given is not None:
            tally.counts["clamped"] += 1
            tally.last_clamped = (
                f"{accepted.uri}: dated {rfc3339(candidate.date.given)}, "
                f"clamped to {rfc3339(candidate.date.value)}"
            )
            log.warning("source %s (%s): %s", source.id, kind, tally.last_clamped)
        if accepted.tombstoned:
            tally.counts["tombstoned"] += 1
        elif not accepted.changed:
            tally.counts["unchanged"] += 1
        elif accepted.version == 1:
            tally.counts["new"] += 1
        else:
            tally.counts["updated"] += 1
    return tally.outcome()


async def _resolve(
    acceptor: Acceptor,
    source: SourceConfig,
    feed: ParsedFeed,
    received_at: datetime,
    future_tolerance: timedelta,
    tally: _Tally,
) -> list[tuple[Entry, Candidate, str]]:
    """Each readable entry with its candidate item and uri, in the feed's order;
    the second entry naming an item is left out."""
    resolved: list[tuple[Entry, Candidate, str]] = []
    taken: set[str] = set()
    for entry in feed.entries:
        try:
            candidate = to_candidate(
                entry,
                source,
                feed_language=feed.language,
                fetched_at=received_at,
                future_tolerance=future_tolerance,
            )
        except Exception as error:  # EntryRejected, or any defect of this one entry
            reason = error if isinstance(error, EntryRejected) else f"invalid entry: {error}"
            tally.reject(f"{_name(entry)}: {reason}")
            continue
        uri = await acceptor.resolve(candidate.identity)
        if uri in taken:
            listed = f"names the same item as an entry listed before it ({uri})"
            tally.reject(f"{_name(entry)}: {listed}")
            continue
        taken.add(uri)
        resolved.append((entry, candidate, uri))
    return resolved
