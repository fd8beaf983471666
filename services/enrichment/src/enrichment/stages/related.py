"""Related stories: items about the same story share a `cluster` id.

Near-duplicates are found by SimHash (64 bits) over the words of the title
and the lead (the description, or the start of the body): two items whose
fingerprints differ in at most `max_distance` bits are about the same story.
Each new item is compared with a window of recent items kept in Redis —
bounded by count (`window_size`) and age (`window_seconds`) — and joins the
cluster of the nearest one, or starts its own.

Deterministic for the same `(uri, version)`: each uri's cluster is stored
(`SET NX`, kept `assignment_ttl_seconds`) and reused when the item comes
again, whatever the window holds by then; two replicas racing on one uri
agree on whichever wrote first. Keys are hash-tagged with the input stream,
so they live on its Redis Cluster slot:

    enrichment:{news.ingested}:related:window      ZSET uri -> last seen (ms)
    enrichment:{news.ingested}:related:signature   HASH uri -> "<simhash hex> <cluster>"
    enrichment:{news.ingested}:related:of:<uri>    STRING cluster (with TTL)
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
from shared.items import NewsItem
from shared.streams import INGESTED

from enrichment.nlp import stem, words

NAME = "related"
VERSION = "1"

log = logging.getLogger("newsfeed.enrichment")

PREFIX = f"enrichment:{{{INGESTED}}}:related:"
WINDOW = PREFIX + "window"
SIGNATURES = PREFIX + "signature"
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


@dataclass(frozen=True)
class ClusterSettings:
    window_size: int = 5000
    window_seconds: int = 48 * 3600
    # Of 128 bits. Two unrelated texts differ in 64 on average; at most 28
    # happens by chance about once in 2e10 pairs (binomial tail), so a window
    # of 5000 items merges a new item with an unrelated one about once in
    # four million items, while rewrites of one story measured 17-25 bits.
    max_distance: int = 28
    min_features: int = 4
    lead_chars: int = 300
    assignment_ttl_seconds: int = 30 * 86400


BITS = 128
NAME_WEIGHT = 3  # capitalized words (names, places) say more about a story


def _normal(word: str) -> str:
    word = stem(word)
    if len(word) > 4 and word.endswith("s") and word.isascii():
        word = word[:-1]  # talks/talk, troops/troop
    return word


def features(item: NewsItem, lead_chars: int = 300) -> list[tuple[str, int]]:
    """The weighted words of the title and the lead that SimHash is computed over."""
    lead = item.description_text or (item.text.body_text if item.text else "")
    out: list[tuple[str, int]] = []
    for word in _WORD.findall(f"{item.headline} {lead[:lead_chars]}"):
        lower = word.lower()
        if len(lower) > 1 and lower not in STOPWORDS:
            out.append((_normal(lower), NAME_WEIGHT if word[0].isupper() else 1))
    return out


# Counting the weighted ones of each of the 128 bit positions at once: each
# position gets a 16-bit lane of one big integer; a byte of a feature's hash
# spreads into eight lanes by table.
_LANE = 16
_LANE_MASK = (1 << _LANE) - 1
_SPREAD = [sum(((b >> j) & 1) << (j * _LANE) for j in range(8)) for b in range(256)]


def simhash(weighted: Sequence[tuple[str, int]]) -> int:
    total = 0
    weight_sum = 0
    for feature, weight in weighted:
        digest = hashlib.blake2b(feature.encode(), digest_size=BITS // 8).digest()
        spread = 0
        for k, byte in enumerate(digest):
            spread |= _SPREAD[byte] << (8 * k * _LANE)
        total += weight * spread
        weight_sum += weight
    signature = 0
    for i in range(BITS):
        if 2 * ((total >> (i * _LANE)) & _LANE_MASK) > weight_sum:
            signature |= 1 << i
    return signature


def distance(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def new_cluster_id(uri: str) -> str:
    return CLUSTER_PREFIX + hashlib.sha256(uri.encode()).hexdigest()[:16]


def assignment_key(uri: str) -> str:
    return f"{PREFIX}of:{uri}"


Window = list[tuple[str, int, str]]  # uri, simhash, cluster


class RelatedStories:
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

    def nearest(self, signature: int, window: Window, uri: str) -> str | None:
        """The cluster of the closest item in the window, if close enough;
        ties go to the smallest uri, so the answer does not depend on order."""
        best: tuple[int, str, str] | None = None
        for other, other_signature, cluster in window:
            if other == uri:
                continue
            d = distance(signature, other_signature)
            if d <= self.settings.max_distance and (best is None or (d, other) < best[:2]):
                best = (d, other, cluster)
        return best[2] if best else None

    async def _read(
        self, uris: list[str], now_ms: int
    ) -> tuple[list[str | None], Window, list[str]]:
        s = self.settings
        cutoff = now_ms - s.window_seconds * 1000
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.mget([assignment_key(u) for u in uris])
            pipe.zrangebyscore(WINDOW, cutoff, "+inf")
            pipe.zrangebyscore(WINDOW, "-inf", f"({cutoff}")
            assigned, recent, expired = await pipe.execute()
        # The window keeps the newest `window_size` items; older ones go.
        overflow = recent[: max(0, len(recent) - s.window_size)]
        recent = recent[len(overflow) :]
        window: Window = []
        if recent:
            for uri, value in zip(recent, await self.redis.hmget(SIGNATURES, recent), strict=True):
                if value:
                    signature, cluster = value.split(" ", 1)
                    window.append((uri, int(signature, 16), cluster))
        return list(assigned), window, list(expired) + list(overflow)

    async def run(self, items: Sequence[NewsItem]) -> list[NewsItem]:
        if not items:
            return []
        s = self.settings
        now_ms = int(self.clock() * 1000)
        uris = [item.uri for item in items]
        assigned, window, stale = await self._read(uris, now_ms)

        chosen: list[tuple[NewsItem, int, str, bool]] = []  # item, signature, cluster, new
        for item, existing in zip(items, assigned, strict=True):
            tokens = features(item, s.lead_chars)
            signature = simhash(tokens)
            if existing:
                cluster, new = existing, False
            else:
                near = None
                if len(tokens) >= s.min_features:
                    near = self.nearest(signature, window, item.uri)
                cluster, new = near or new_cluster_id(item.uri), True
            window = [w for w in window if w[0] != item.uri]
            window.append((item.uri, signature, cluster))
            chosen.append((item, signature, cluster, new))

        async with self.redis.pipeline(transaction=True) as pipe:
            for item, _, cluster, new in chosen:
                if new:
                    pipe.set(
                        assignment_key(item.uri), cluster, nx=True, ex=s.assignment_ttl_seconds
                    )
                    pipe.get(assignment_key(item.uri))
            if stale:
                pipe.zrem(WINDOW, *stale)
                pipe.hdel(SIGNATURES, *stale)
            pipe.zadd(WINDOW, {item.uri: now_ms for item, *_ in chosen})
            replies = await pipe.execute()

        # The cluster stored first wins (another replica may have raced us).
        created = sum(1 for *_, new in chosen if new)
        stored = iter(replies[1 : 2 * created : 2])
        final: list[tuple[NewsItem, int, str]] = []
        for item, signature, cluster, new in chosen:
            if new:
                cluster = next(stored) or cluster
            final.append((item, signature, cluster))
        await self.redis.hset(
            SIGNATURES,
            mapping={item.uri: f"{signature:032x} {cluster}" for item, signature, cluster in final},
        )
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


def build(redis: aioredis.Redis, settings: ClusterSettings | None = None) -> RelatedStories:
    return RelatedStories(redis, settings)
