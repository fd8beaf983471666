"""Polling one source: fetch, parse, accept its entries (entries.py), record state,
schedule the next poll.

When the next poll is due is decided by two plain functions:

- after a fetch that worked (200 or 304): the source's interval (never
  below the service minimum), raised to the server's own freshness hint —
  Cache-Control max-age, Expires, RSS <ttl> — capped at `max_interval_s`;
- after a failure: exponential backoff from the interval, doubled per
  consecutive failure up to `backoff_ceiling_s`, with jitter that only ever
  shortens it (so the ceiling holds); a Retry-After on 429/503 is honoured
  when it asks for longer. A failing source is never dropped: it is probed
  at the ceiling for as long as it fails, and its state says why.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.observability.metrics import SOURCE_FETCH_SECONDS, SOURCE_FETCHES

from ingest.accept import Acceptor
from ingest.entries import EntriesOutcome, SourceKind, accept_entries
from ingest.fetch import Fetched, Fetcher, FetchFailed, Validators
from ingest.parse import ParsedFeed, ParseFailed, parse_feed
from ingest.source_state import SourceState, SourceStore, StateChange
from ingest.sources import SourceConfig

log = logging.getLogger("newsfeed.ingest.poller")


@dataclass(frozen=True)
class PollPolicy:
    min_interval_s: float = 60.0
    max_interval_s: float = 86_400.0
    backoff_ceiling_s: float = 3_600.0
    jitter: float = 0.25
    future_tolerance_s: float = 600.0
    max_entries: int = 500


def success_delay(interval_s: float, hints: list[float | None], policy: PollPolicy) -> float:
    base = max(interval_s, policy.min_interval_s)
    given = [hint for hint in hints if hint]
    floor = min(max(given), policy.max_interval_s) if given else 0.0
    return max(base, floor)


def failure_delay(
    interval_s: float,
    failures: int,
    retry_after_s: float | None,
    policy: PollPolicy,
    rng: Callable[[], float] = random.random,
) -> float:
    base = max(interval_s, policy.min_interval_s)
    ceiling = max(policy.backoff_ceiling_s, base)
    backoff = min(ceiling, base * 2.0 ** min(max(failures, 1) - 1, 40))
    delay = backoff * (1 - policy.jitter * rng())
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, policy.max_interval_s))
    return delay


@dataclass(frozen=True)
class PollResult:
    outcome: str  # ok | not_modified | failed
    counts: Counter[str]
    error: str | None = None
    next_due_at: datetime | None = None


def _now() -> datetime:
    return datetime.now(UTC)


class Poller:
    def __init__(
        self,
        store: SourceStore,
        fetcher: Fetcher,
        acceptor: Acceptor,
        policy: PollPolicy,
        clock: Callable[[], datetime] = _now,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.store = store
        self.fetcher = fetcher
        self.acceptor = acceptor
        self.policy = policy
        self._clock = clock
        self._rng = rng

    async def poll(self, source: SourceConfig) -> PollResult:
        state = await self.store.state(source.id)
        started = self._clock()
        clock_start = time.monotonic()
        try:
            fetched = await self.fetcher.fetch(
                str(source.url), Validators(state.etag, state.last_modified)
            )
            parsed = None if fetched.not_modified else await self._parse(fetched, source)
        except (FetchFailed, ParseFailed) as error:
            return await self._failed(source, state, error, started, clock_start)
        entries = None
        if parsed is not None:
            entries = await accept_entries(
                self.acceptor,
                source,
                parsed,
                kind=SourceKind.POLLED,
                received_at=started,
                future_tolerance=timedelta(seconds=self.policy.future_tolerance_s),
            )
            await self.store.saw(source.id, list(entries.uris))
            await self.store.count_emitted(source.id, entries.emitted)
        return await self._succeeded(source, fetched, parsed, entries, started, clock_start)

    async def _parse(self, fetched: Fetched, source: SourceConfig) -> ParsedFeed:
        assert fetched.body is not None
        # feedparser is CPU-bound: off the event loop, so the API stays responsive.
        return await asyncio.to_thread(
            parse_feed,
            fetched.body,
            fetched.content_type,
            str(source.url),
            self.policy.max_entries,
        )

    async def _succeeded(
        self,
        source: SourceConfig,
        fetched: Fetched,
        parsed: ParsedFeed | None,
        entries: EntriesOutcome | None,
        started: datetime,
        clock_start: float,
    ) -> PollResult:
        ttl = parsed.ttl_s if parsed is not None else None
        delay = success_delay(
            source.poll_interval_seconds, [fetched.cache_floor_s, ttl], self.policy
        )
        next_due = started + timedelta(seconds=delay)
        outcome = "not_modified" if fetched.not_modified else "ok"
        changes = [
            StateChange.model_construct(
                last_fetch_at=started,
                last_success_at=started,
                last_outcome=outcome,
                last_http_status=fetched.status,
                last_error=None,
                last_duration_ms=int((time.monotonic() - clock_start) * 1000),
                consecutive_failures=0,
                next_due_at=next_due,
                moved_to=fetched.permanent_redirect,
            )
        ]
        # A 304 may omit the validators: the stored ones still hold then.
        if fetched.validators.etag or not fetched.not_modified:
            changes.append(StateChange.model_construct(etag=fetched.validators.etag))
        if fetched.validators.last_modified or not fetched.not_modified:
            changes.append(
                StateChange.model_construct(last_modified=fetched.validators.last_modified)
            )
        if parsed is not None and entries is not None:
            assert fetched.body is not None
            warning = parsed.warning
            if parsed.total_entries > len(parsed.entries):
                cut = f"only the first {len(parsed.entries)} of {parsed.total_entries} entries read"
                warning = f"{warning}; {cut}" if warning else cut
            changes.append(
                StateChange.model_construct(
                    last_bytes=len(fetched.body),
                    last_warning=warning,
                    kind=parsed.kind.value,
                    feed_title=(parsed.title or "")[:300] or None,
                    entries_last_fetch=len(parsed.entries),
                )
            )
            changes += entries.state()
        await self._finish(source, changes, next_due)
        _measure(source.id, outcome, clock_start)
        counts = entries.counts() if entries is not None else Counter[str]()
        return PollResult(outcome, counts, next_due_at=next_due)

    async def _failed(
        self,
        source: SourceConfig,
        state: SourceState,
        error: FetchFailed | ParseFailed,
        started: datetime,
        clock_start: float,
    ) -> PollResult:
        failures = state.consecutive_failures + 1
        retry_after = error.retry_after_s if isinstance(error, FetchFailed) else None
        delay = failure_delay(
            source.poll_interval_seconds, failures, retry_after, self.policy, self._rng
        )
        next_due = started + timedelta(seconds=delay)
        status = error.status if isinstance(error, FetchFailed) else 200
        changes = [
            StateChange.model_construct(
                last_fetch_at=started,
                last_outcome="failed",
                last_http_status=status,
                last_error=error.reason,
                last_duration_ms=int((time.monotonic() - clock_start) * 1000),
                consecutive_failures=failures,
                next_due_at=next_due,
            )
        ]
        if isinstance(error, ParseFailed):
            # The body was refused: fetch it whole next time, not a 304 of it.
            changes.append(StateChange.model_construct(etag=None, last_modified=None))
        _measure(source.id, "failed", clock_start)
        log.warning(
            "source %s failed (%d in a row, next try in %.0f s): %s",
            source.id,
            failures,
            delay,
            error.reason,
        )
        await self._finish(source, changes, next_due)
        return PollResult("failed", Counter(), error=error.reason, next_due_at=next_due)

    async def _finish(
        self, source: SourceConfig, changes: list[StateChange], next_due: datetime
    ) -> None:
        current = await self.store.get(source.id)
        if current is None:  # deleted while we polled: leave no trace
            return
        await self.store.record(source.id, *changes)
        if current.config.enabled:
            await self.store.schedule(source.id, next_due)


def _measure(source_id: str, outcome: str, clock_start: float) -> None:
    SOURCE_FETCHES.labels(source_id, outcome).inc()
    SOURCE_FETCH_SECONDS.labels(source_id).observe(time.monotonic() - clock_start)
