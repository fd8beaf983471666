"""Related stories: items about the same story share a `cluster` id.

Near-duplicates are found by SimHash (128 bits) over the words of the title
and the lead (the description, or the start of the body): two items whose
fingerprints differ in at most `max_distance` bits are about the same story.
Each new item is compared with a window of recent items kept in Redis —
bounded by count (`window_size`) and age (`window_seconds`) — and joins the
cluster of the nearest one, or starts its own.

Each replica keeps a copy of the window in memory (`stages.window`): it loads
it once (at its first batch, or when it fell behind what the change log
keeps) and then, at each batch, reads only the change-log entries written
since — its own and other replicas' — so an item another replica saw is
compared with from this replica's next batch on.

Deterministic for the same `(uri, version)`: each uri's cluster is stored
(`SET NX`, kept `assignment_ttl_seconds`) and reused when the item comes
again, whatever the window holds by then; two replicas racing on one uri
agree on whichever wrote first. Keys are hash-tagged with the input stream,
so they live on its Redis Cluster slot:

    enrichment:{news.ingested}:related:window      ZSET uri -> last seen (ms)
    enrichment:{news.ingested}:related:signature   HASH uri -> "<simhash hex> <cluster>"
    enrichment:{news.ingested}:related:changes     STREAM, an entry per batch written:
                                                   uri -> "<simhash hex> <cluster>",
                                                   or "" for trimmed
    enrichment:{news.ingested}:related:of:<uri>    STRING cluster (with TTL)
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Sequence

import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict, Field
from redis.asyncio.client import Pipeline
from shared.items import NewsItem
from shared.streams import INGESTED

from enrichment.nlp import stem, words
from enrichment.stages.window import REMOVED, Window, encode

NAME = "related"
VERSION = "1"

log = logging.getLogger("newsfeed.enrichment")

PREFIX = f"enrichment:{{{INGESTED}}}:related:"
WINDOW = PREFIX + "window"
SIGNATURES = PREFIX + "signature"
CHANGES = PREFIX + "changes"
# Change-log entries kept (one per batch written, by any replica). A replica
# whose last applied entry was trimmed away loads the window whole, which
# costs less than replaying this many batches would.
CHANGES_KEPT = 128
# The position of a copy loaded while the log was empty.
LOG_START = "0-0"
CLUSTER_PREFIX = "urn:newsfeed:cluster:"

_WORD = re.compile(r"\w+(?:['’]\w+)*")
STOPWORDS = words(
    """
    the a an and or but of to in on at for from by with as is are was were be been has have
    had it its this that these those will would could should can may not no than then after
    before over into about said says say also more new news update updated live video his her
    their they he she we our who which what when where while amid
    і й та а але що як це у в на з із до від по за для про не чи вже ще також
    и а но что как это в на с из до от по за для про не ли уже еще также
    """
)


class ClusterSettings(BaseModel):
    """The stage's settings: app.Settings nests them as `related`, each field
    the environment variable NEWSFEED_RELATED_<FIELD>."""

    model_config = ConfigDict(frozen=True)

    window_size: int = Field(
        default=5000, ge=10, le=1_000_000, description="recent items a new one is compared with"
    )
    window_seconds: int = Field(default=48 * 3600, ge=60, description="how recent they must be")
    # Of 128 bits. Two unrelated texts differ in 64 on average; at most 28
    # happens by chance about once in 2e10 pairs (binomial tail), so a window
    # of 5000 items merges a new item with an unrelated one about once in
    # four million items, while rewrites of one story measured 17-25 bits.
    max_distance: int = Field(
        default=28,
        ge=0,
        le=64,
        description="SimHash bits (of 128) two reports of a story differ in",
    )
    min_features: int = Field(
        default=4, ge=1, description="an item with fewer words to compare starts its own cluster"
    )
    lead_chars: int = Field(
        default=300, ge=50, description="characters of the lead compared, after the title"
    )
    assignment_ttl_seconds: int = Field(
        default=30 * 86400, ge=3600, description="how long a uri keeps its cluster id"
    )


BITS = 128
NAME_WEIGHT = 3  # capitalized words (names, places) say more about a story


def _normal(word: str) -> str:
    word = stem(word)
    if len(word) > 4 and word.endswith("s") and word.isascii():
        word = word[:-1]  # talks/talk, troops/troop
    return word


def features(item: NewsItem, lead_chars: int) -> list[tuple[str, int]]:
    """The weighted words of the title and the lead that SimHash is computed over."""
    lead = item.description_text or (item.text.body_text if item.text else "")
    out: list[tuple[str, int]] = []
    for word in _WORD.findall(f"{item.headline} {lead[:lead_chars]}"):
        lower = word.lower()
        if len(lower) > 1 and lower not in STOPWORDS:
            out.append((_normal(lower), NAME_WEIGHT if word[0].isupper() else 1))
    return out


# Counting the weighted ones of each of the 128 bit positions at once: each
# position gets a 16-bit lane of one big integer. A feature's hash is spread
# into the lanes (bit i to lane i) and the signature read back from the lanes'
# top bits by byte-string operations, which run in C: per-bit Python loops
# cost most of the SimHash before.
_LANE = 16
_LANE_BYTES = 2 * BITS
_LANE_ONES = sum(1 << (i * _LANE) for i in range(BITS))
_ZERO_ONE = bytes.maketrans(b"01", b"\x00\x01")
_TOP_BIT_DIGIT = bytes(ord("0") + (byte >> 7) for byte in range(256))  # b"0" or b"1"
# Lanes count up to the weight sum and are biased by up to half of it: below
# this, no lane carries into the next.
_MAX_WEIGHT_SUM = (1 << (_LANE - 1)) - 1


def _spread(feature: str) -> int:
    digest = hashlib.blake2b(feature.encode(), digest_size=BITS // 8).digest()
    bits = format(int.from_bytes(digest, "little"), f"0{BITS}b")[::-1]  # bit 0 first
    lanes = bytearray(_LANE_BYTES)
    lanes[0::2] = bits.encode().translate(_ZERO_ONE)  # each bit the low byte of its lane
    return int.from_bytes(lanes, "little")


def simhash(weighted: Sequence[tuple[str, int]]) -> int:
    total = 0
    weight_sum = 0
    for feature, weight in weighted:
        if weight_sum + weight > _MAX_WEIGHT_SUM:
            break  # a headline and a lead are far shorter; never more than this
        total += weight * _spread(feature)
        weight_sum += weight
    # Bit i is set when lane i holds more than half the weight: biased by
    # 2**15 - (that + 1), its top bit is then set.
    biased = total + _LANE_ONES * ((1 << (_LANE - 1)) - (weight_sum // 2 + 1))
    top_bytes = biased.to_bytes(_LANE_BYTES + 1, "little")[1:_LANE_BYTES:2]
    return int(top_bytes.translate(_TOP_BIT_DIGIT)[::-1], 2)


def new_cluster_id(uri: str) -> str:
    return CLUSTER_PREFIX + hashlib.sha256(uri.encode()).hexdigest()[:16]


def assignment_key(uri: str) -> str:
    return f"{PREFIX}of:{uri}"


class RelatedStories:
    """The stage, with this replica's copy of the window (see `window`)."""

    NAME = NAME
    VERSION = VERSION

    def __init__(
        self,
        redis: aioredis.Redis,
        settings: ClusterSettings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.settings = settings or ClusterSettings()
        self.clock = clock
        self.window = Window()
        # The last change-log entry the copy includes; None: load it whole.
        self.position: str | None = None

    async def run(self, items: Sequence[NewsItem]) -> list[NewsItem]:
        if not items:
            return []
        try:
            return await self._run(items)
        except BaseException:
            # The copy may hold what never reached Redis: load it again.
            self.position = None
            raise

    async def _run(self, items: Sequence[NewsItem]) -> list[NewsItem]:
        s = self.settings
        now_ms = int(self.clock() * 1000)
        assigned, stale = await self._read([item.uri for item in items], now_ms)

        chosen: list[tuple[NewsItem, int, str, bool]] = []  # item, signature, cluster, new
        for item, existing in zip(items, assigned, strict=True):
            tokens = features(item, s.lead_chars)
            signature = simhash(tokens)
            if existing:
                cluster, new = existing, False
            else:
                near = None
                if len(tokens) >= s.min_features:
                    near = self.window.nearest(signature, item.uri, s.max_distance)
                cluster, new = near or new_cluster_id(item.uri), True
            self.window.put(item.uri, signature, cluster)  # later items of the batch see it
            chosen.append((item, signature, cluster, new))

        final = await self._store_assignments(chosen)
        await self._write_window(final, stale, now_ms)
        return [
            item.model_copy(
                update={
                    "cluster": cluster,
                    "enrichment": {**item.enrichment, NAME: VERSION},
                    "enrichment_failures": tuple(f for f in item.enrichment_failures if f != NAME),
                }
            )
            for item, _, cluster in final
        ]

    async def _read(self, uris: list[str], now_ms: int) -> tuple[list[str | None], list[str]]:
        """The batch's stored assignments and what the window holds past its
        bounds (trimmed by this batch); brings the copy of the window up to date."""
        s = self.settings
        cutoff = now_ms - s.window_seconds * 1000
        load = self.position is None
        async with self.redis.pipeline(transaction=False) as pipe:
            # One slot ({news.ingested}): fine on a cluster, whose pipeline refuses
            # `pipe.mget` by name only because an MGET may span slots.
            pipe.execute_command("MGET", *(assignment_key(u) for u in uris))
            pipe.zrangebyscore(WINDOW, "-inf", f"({cutoff}")  # too old
            pipe.zrange(WINDOW, 0, -(s.window_size + 1))  # all but the newest window_size
            if load:
                _queue_load(pipe)
            else:
                pipe.xrange(CHANGES, self.position, "+")
            assigned, expired, overflow, *rest = await pipe.execute()
        if load:
            self._load(*rest)
        elif not self._replay(rest[0]):
            async with self.redis.pipeline(transaction=False) as pipe:
                _queue_load(pipe)
                self._load(*await pipe.execute())
        stale = list(dict.fromkeys([*expired, *overflow]))
        for uri in stale:
            self.window.remove(uri)
        return list(assigned), stale

    def _load(
        self, last: list[tuple[str, object]], members: list[str], stored: dict[str, str]
    ) -> None:
        # Read before the window: what changes in between is in the log
        # after this position, and applying it again is harmless.
        self.position = last[0][0] if last else LOG_START
        self.window.replace((uri, stored[uri]) for uri in members if uri in stored)

    def _replay(self, entries: list[tuple[str, dict[str, str]]]) -> bool:
        """Apply the log entries after the position; False if some are gone
        (trimmed, or the log was lost): the window must be loaded whole."""
        if self.position == LOG_START:
            # Loaded before the log's first entry: nothing tells whether what
            # follows is complete, so load once more (early in a fresh log).
            return not entries
        if not entries or entries[0][0] != self.position:
            return False
        entries = entries[1:]  # the position's own entry is applied already
        for _, changes in entries:
            self.window.apply(changes)
        if entries:
            self.position = entries[-1][0]
        return True

    async def _store_assignments(
        self, chosen: list[tuple[NewsItem, int, str, bool]]
    ) -> list[tuple[NewsItem, int, str]]:
        """Store new items' clusters; the cluster stored first wins (another
        replica may have raced us on the same uri)."""
        new = [item.uri for item, *_, is_new in chosen if is_new]
        if not new:
            return [(item, signature, cluster) for item, signature, cluster, _ in chosen]
        async with self.redis.pipeline(transaction=True) as pipe:
            for uri, cluster in ((item.uri, c) for item, _, c, is_new in chosen if is_new):
                key = assignment_key(uri)
                pipe.set(key, cluster, nx=True, ex=self.settings.assignment_ttl_seconds)
                pipe.get(key)
            replies = await pipe.execute()
        stored = iter(replies[1::2])
        return [
            (item, signature, (next(stored) or cluster) if is_new else cluster)
            for item, signature, cluster, is_new in chosen
        ]

    async def _write_window(
        self, final: list[tuple[NewsItem, int, str]], stale: list[str], now_ms: int
    ) -> None:
        """Trim, add the batch, and log both for the other replicas, in one transaction."""
        added = {item.uri: encode(signature, cluster) for item, signature, cluster in final}
        changes = dict.fromkeys(stale, REMOVED)
        changes.update(added)  # trimmed and seen again in this batch: it stays
        async with self.redis.pipeline(transaction=True) as pipe:
            if stale:
                pipe.zrem(WINDOW, *stale)
                pipe.hdel(SIGNATURES, *stale)
            pipe.zadd(WINDOW, dict.fromkeys(added, now_ms))
            pipe.hset(SIGNATURES, mapping=added)
            pipe.xadd(CHANGES, changes, maxlen=CHANGES_KEPT, approximate=True)
            await pipe.execute()
        for item, signature, cluster in final:
            self.window.put(item.uri, signature, cluster)


def _queue_load(pipe: Pipeline) -> None:
    """The whole window, and the log position it includes (read first)."""
    pipe.xrevrange(CHANGES, "+", "-", count=1)
    pipe.zrange(WINDOW, 0, -1)
    pipe.hgetall(SIGNATURES)


def build(redis: aioredis.Redis, settings: ClusterSettings | None = None) -> RelatedStories:
    return RelatedStories(redis, settings)
