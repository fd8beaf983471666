"""Related stories: clustering near-duplicates against a real redis-server."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from enrichment.handler import make_handler
from enrichment.stages import related
from enrichment.stages.related import (
    SIGNATURES,
    WINDOW,
    ClusterSettings,
    RelatedStories,
    assignment_key,
    new_cluster_id,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from shared.delivery import Done
from shared.events import EventType, make_event
from shared.items import NewsItem
from shared.redis_client import Client
from shared.streams import INGESTED

from tests.support import builders
from tests.support.enrichment import enrich, run_pipeline

# Three reports of one story (a rewrite, a different outlet's version), and
# two other stories on the same topic and in the same template.
STORIES = {
    "galuzin": (
        "Russia demands Ukraine drop NATO bid before peace talks",
        "Russian deputy foreign minister Mikhail Galuzin told TASS that Ukraine must give up "
        "its NATO and EU ambitions and recognize the new territorial realities before any "
        "peace talks.",
    ),
    "galuzin-rewrite": (
        "Russia demands Ukraine give up NATO bid before peace talks, deputy minister says",
        "Russia's deputy foreign minister Mikhail Galuzin told TASS that Ukraine must give up "
        "its NATO and EU ambitions and recognize new territorial realities before peace talks "
        "can start.",
    ),
    "galuzin-other-outlet": (
        "Kremlin envoy: Ukraine must renounce NATO, EU to start peace talks",
        "Mikhail Galuzin said in an interview with TASS that Kyiv should abandon plans to join "
        "NATO and the EU and accept the new territorial realities before talks.",
    ),
    "odesa": (
        "Russian drone attack on Odesa injures five",
        "A Russian drone attack on Odesa overnight injured five people and damaged residential "
        "buildings, the regional governor said.",
    ),
    "kharkiv": (
        "Russian drone attack on Kharkiv injures three",
        "A Russian drone attack on Kharkiv overnight injured three people and damaged a school, "
        "the regional governor said.",
    ),
}


def story(name: str, uri: str | None = None, version: int = 1) -> NewsItem:
    headline, lead = STORIES[name]
    return run_pipeline(
        builders.item(
            f"<p>{lead}</p><p>More details followed later in the day.</p>",
            headline,
            uri=uri or f"urn:newsfeed:test:{name}",
            version=version,
        )
    )


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def clusters(stage: RelatedStories, *names: str) -> dict[str, str | None]:
    items = await stage.run([story(n) for n in names])
    return {name: item.cluster for name, item in zip(names, items, strict=True)}


async def test_reports_of_one_story_share_a_cluster_and_others_do_not(
    any_redis: Client,
) -> None:
    stage = related.build(any_redis)
    first = await clusters(stage, "galuzin", "odesa")
    later = await clusters(stage, "galuzin-rewrite", "kharkiv")
    third = await clusters(stage, "galuzin-other-outlet")
    assert later["galuzin-rewrite"] == first["galuzin"]
    assert third["galuzin-other-outlet"] == first["galuzin"]
    assert first["odesa"] != first["galuzin"]
    assert later["kharkiv"] not in {first["odesa"], first["galuzin"]}  # same template, other city
    assert first["galuzin"] == new_cluster_id("urn:newsfeed:test:galuzin")


async def test_near_duplicates_in_one_batch_share_a_cluster(redis: aioredis.Redis) -> None:
    found = await clusters(related.build(redis), "galuzin", "odesa", "galuzin-rewrite")
    assert found["galuzin-rewrite"] == found["galuzin"] != found["odesa"]


async def test_re_enriching_an_item_gives_the_same_cluster(redis: aioredis.Redis) -> None:
    clock = Clock()
    stage = RelatedStories(redis, ClusterSettings(window_size=10, window_seconds=3600), clock)
    (first,) = await stage.run([story("galuzin-rewrite")])
    # The story it would join arrives after it, and the window moves on.
    await stage.run([story("galuzin")])
    clock.now += 7200
    await stage.run([story("odesa")])
    assert await redis.zcard(WINDOW) == 1
    (again,) = await stage.run([story("galuzin-rewrite")])
    assert again.cluster == first.cluster
    (next_version,) = await stage.run([story("galuzin-rewrite", version=2)])
    assert next_version.cluster == first.cluster
    assert again.enrichment["related"] == related.VERSION


async def test_the_window_is_bounded_by_count_and_age(redis: aioredis.Redis) -> None:
    clock = Clock()
    # A window of 3, under what the setting allows (10): trimming shows after a few items.
    small = ClusterSettings.model_construct(window_size=3, window_seconds=600)
    stage = RelatedStories(redis, small, clock)
    for n in range(5):
        await stage.run([story("odesa", uri=f"urn:newsfeed:test:odesa-{n}")])
        clock.now += 1
    await stage.run([story("kharkiv")])  # trims what the previous batch left over
    assert await redis.zcard(WINDOW) <= 4
    assert await redis.hlen(SIGNATURES) == await redis.zcard(WINDOW)
    clock.now += 601
    await stage.run([story("galuzin")])
    assert await redis.zrange(WINDOW, 0, -1) == ["urn:newsfeed:test:galuzin"]
    assert await redis.hkeys(SIGNATURES) == ["urn:newsfeed:test:galuzin"]


async def test_an_old_story_outside_the_window_starts_a_new_cluster(redis: aioredis.Redis) -> None:
    clock = Clock()
    stage = RelatedStories(redis, ClusterSettings(window_seconds=600), clock)
    (old,) = await stage.run([story("galuzin")])
    clock.now += 601
    (new,) = await stage.run([story("galuzin-rewrite")])
    assert new.cluster != old.cluster


async def test_racing_replicas_agree_on_an_items_cluster(any_redis: Client) -> None:
    one, two = related.build(any_redis), related.build(any_redis)
    first, second = await asyncio.gather(one.run([story("galuzin")]), two.run([story("galuzin")]))
    assert first[0].cluster == second[0].cluster
    assert await any_redis.get(assignment_key("urn:newsfeed:test:galuzin")) == first[0].cluster


async def test_keys_share_the_input_streams_hash_tag(redis: aioredis.Redis) -> None:
    await related.build(redis).run([story("galuzin")])
    keys = await redis.keys("*")
    assert keys
    assert all(f"{{{INGESTED}}}" in key for key in keys)
    ttl = await redis.ttl(assignment_key("urn:newsfeed:test:galuzin"))
    assert 0 < ttl <= ClusterSettings().assignment_ttl_seconds


async def test_the_handler_runs_the_stage_on_each_batch(redis: aioredis.Redis) -> None:
    handler = make_handler(enrich, stages=(related.build(redis),))
    events = [
        make_event(EventType.ingested, "/tests", story(name), "c" * 32)
        for name in ("galuzin", "galuzin-rewrite", "odesa")
    ]
    results = await handler(events)
    out = [r.emit[0].data for r in results if isinstance(r, Done)]
    assert len(out) == 3
    assert out[0].cluster == out[1].cluster != out[2].cluster
    assert all(item.enrichment["related"] == related.VERSION for item in out)
    assert all(item.enrichment_failures == () for item in out)


# -- each replica's copy of the window -------------------------------------------------


async def test_an_item_joins_a_story_another_replica_saw_first(any_redis: Client) -> None:
    one, two = related.build(any_redis), related.build(any_redis)
    await two.run([story("odesa")])  # replica two has loaded its copy of the window
    (first,) = await one.run([story("galuzin")])
    (rewrite,) = await two.run([story("galuzin-rewrite")])
    assert rewrite.cluster == first.cluster
    (other,) = await one.run([story("galuzin-other-outlet")])  # and the other way round
    assert other.cluster == first.cluster


async def test_a_restarted_replica_clusters_with_the_stored_window(redis: aioredis.Redis) -> None:
    first, _ = await related.build(redis).run([story("galuzin"), story("odesa")])
    restarted = related.build(redis)  # a new process: nothing in memory
    (rewrite,) = await restarted.run([story("galuzin-rewrite")])
    assert rewrite.cluster == first.cluster
    assert len(restarted.window) == 3


async def test_a_window_trimmed_by_one_replica_is_trimmed_in_the_others(
    redis: aioredis.Redis,
) -> None:
    clock = Clock()
    settings = ClusterSettings.model_construct(window_size=3, window_seconds=600)  # under 10
    one, two = RelatedStories(redis, settings, clock), RelatedStories(redis, settings, clock)
    (first,) = await one.run([story("galuzin")])
    await two.run([story("kharkiv")])
    for n in range(4):  # galuzin leaves the window, by count, in replica one's batches
        clock.now += 1
        await one.run([story("odesa", uri=f"urn:newsfeed:test:odesa-{n}")])
    (late,) = await two.run([story("galuzin-rewrite")])
    assert late.cluster != first.cluster
    stored = set(await redis.zrange(WINDOW, 0, -1))
    assert set(two.window.uris) == stored == set(await redis.hkeys(SIGNATURES))
    assert len(stored) <= 3 + 1  # the bound, plus the batch that trimmed it


async def test_a_replica_that_fell_behind_the_change_log_loads_the_window_again(
    redis: aioredis.Redis,
) -> None:
    one, two = related.build(redis), related.build(redis)
    await two.run([story("odesa")])
    (first,) = await one.run([story("galuzin")])
    await one.run([story("kharkiv")])
    # The log moved on past what replica two applied (as after a long pause).
    await redis.xtrim(related.CHANGES, maxlen=1, approximate=False)
    (rewrite,) = await two.run([story("galuzin-rewrite")])
    assert rewrite.cluster == first.cluster
    assert set(two.window.uris) == set(await redis.zrange(WINDOW, 0, -1))


async def test_a_batch_that_failed_to_write_leaves_no_trace_in_the_copy(
    redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    stage = related.build(redis)
    await stage.run([story("odesa")])

    async def connection_lost(*_: object) -> None:
        raise RedisConnectionError("connection lost")

    with monkeypatch.context() as patch:
        patch.setattr(stage, "_write_window", connection_lost)
        with pytest.raises(RedisConnectionError):
            await stage.run([story("galuzin")])
    (rewrite,) = await stage.run([story("galuzin-rewrite")])
    # galuzin never reached the window: its rewrite starts the story
    assert rewrite.cluster == new_cluster_id("urn:newsfeed:test:galuzin-rewrite")
    assert set(stage.window.uris) == set(await redis.zrange(WINDOW, 0, -1))
