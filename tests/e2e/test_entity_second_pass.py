"""Enrichment's second pass as processes (issue 15): the first pass publishes an
item without the entity model, the second pass (NEWSFEED_SECOND_PASS) adds the
model's names, and readers see them on the same version with no "Updated"
stamp, in the name's feed and as a live change, with no extra history."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from enrichment import second_pass
from enrichment.pipeline import run_pipeline
from shared.events import EventType
from shared.items import NewsItem
from shared.readmodel.keys import indexed
from shared.streams import PUBLISHED

from tests.support.enrichment import FIRST_PASS, INLINE_PASS, SECOND_PASS, as_item, labelled
from tests.support.services import Pipeline
from tests.support.sse import SSE, Event, sse
from tests.support.streams import sync_client
from tests.support.waiting import poll
from tools.devstack import SERVICES, RedisCluster, RedisServer


@pytest.fixture(scope="module", params=["one node", "cluster"])
def pipeline(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    """The four services and the second pass on a redis-server of this module's
    own, or on the tests' cluster (flushed, 4 partitions) through one node."""
    workdir: Path = tmp_path_factory.mktemp("second-pass")
    server: RedisServer | None = None
    env: dict[str, str] = {}
    if request.param == "one node":
        server = RedisServer(workdir=workdir / "redis").start()
        url = server.url
    else:
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        cluster.wait_healthy()
        cluster.flush()
        url = cluster.nodes[0].url
        env["NEWSFEED_PARTITIONS"] = "4"
    running = Pipeline(url, workdir / "logs", extra_env=env, only=(*SERVICES, "entity-model"))
    running.start()
    yield running
    running.stop()
    if server is not None:
        server.stop()


FILTERS = {"people": "person", "organisations": "organisation", "places": "place"}


def an_item_the_model_adds_a_feed_to() -> tuple[dict[str, Any], NewsItem, tuple[str, str]]:
    """A labelled item in which the model finds a name the first pass does not,
    relevant enough to have its feed: (its submission, the item enriched
    inline, (the feed's filter, the name))."""
    for entry in labelled():
        item = as_item(entry)
        first = run_pipeline(item, FIRST_PASS)
        refined = second_pass.refine(first, SECOND_PASS)
        if refined is None:
            continue
        for field_name, filter_name in FILTERS.items():
            known = {entity.name for entity in getattr(first, field_name)}
            for entity in getattr(refined, field_name):
                if entity.name not in known and indexed(entity):
                    submission = {
                        "uri": item.uri,
                        "headline": item.headline,
                        "body_html": item.body_html,
                    }
                    return submission, run_pipeline(item, INLINE_PASS), (filter_name, entity.name)
    raise AssertionError("the model adds no feed to any labelled item")


async def events_about(stream: SSE, uri: str, count: int, timeout: float = 30.0) -> list[Event]:
    heard: list[Event] = []
    async with asyncio.timeout(timeout):
        while len(heard) < count:
            event = await stream.next_named(timeout)
            if event.data.get("uri") == uri:
                heard.append(event)
    return heard


def test_the_model_s_names_reach_readers_on_the_same_version_unstamped(
    pipeline: Pipeline,
) -> None:
    submission, inline, (filter_name, name) = an_item_the_model_adds_a_feed_to()
    uri = submission["uri"]

    async def watch() -> list[Event]:
        async with sse(pipeline.gateway) as stream:
            response = await asyncio.to_thread(pipeline.submit, submission)
            assert response.status_code == 202, response.text
            return await events_about(stream, uri, 2)

    published, refined = asyncio.run(watch())
    assert (published.event, published.data["event_type"]) == (
        "published",
        EventType.published.value,
    )
    assert (refined.event, refined.data["event_type"]) == ("updated", EventType.refined.value)
    assert refined.data["version"] == published.data["version"] == 1

    item = httpx.get(f"{pipeline.gateway}/v1/items/{uri}").json()
    for field_name in FILTERS:
        assert [e["name"] for e in item[field_name]] == [
            e.name for e in getattr(inline, field_name)
        ]
    assert item["version"] == 1
    assert "updated" not in item
    page = httpx.get(f"{pipeline.gateway}/items/{uri}").text
    assert "(Updated:" not in page
    versions = httpx.get(f"{pipeline.gateway}/v1/items/{uri}/versions").json()
    assert versions["current"]["version"] == 1
    assert versions["previous"] == []  # the refinement is not a version of its own
    in_feed = poll(
        lambda: httpx.get(f"{pipeline.gateway}/v1/feed", params={filter_name: name}).json()["items"]
    )
    assert [i["uri"] for i in in_feed] == [uri]


def test_a_second_pass_killed_mid_flow_loses_and_doubles_no_refinement(
    pipeline: Pipeline,
) -> None:
    """kill -9 of the second pass while items flow, then a restart: every item
    the model changes gets its names once (one refined event on news.published
    per item, the inline names on the item), none is left out."""
    items = [
        as_item(entry).model_copy(update={"uri": f"urn:newsfeed:e2e:kill:{copy}:{entry['id']}"})
        for copy in range(3)
        for entry in labelled()
    ]
    expected = {
        item.uri: run_pipeline(item, INLINE_PASS)
        for item in items
        if second_pass.refine(run_pipeline(item, FIRST_PASS), SECOND_PASS) is not None
    }
    assert len(expected) >= 15
    second = pipeline.services["entity-model"]
    for number, item in enumerate(items):
        if number == len(items) // 2:
            second.signal(signal.SIGKILL)
            second.restart()
        submission = {"uri": item.uri, "headline": item.headline, "body_html": item.body_html}
        assert pipeline.submit(submission).status_code == 202
    second.wait_ready()
    redis = sync_client(pipeline.redis_url)

    def refined() -> list[str]:
        return [
            fields["subject"]
            for stream in pipeline.partitions.keys(PUBLISHED)
            for _, fields in redis.xrange(stream)
            if fields["type"] == EventType.refined.value and ":kill:" in fields["subject"]
        ]

    poll(lambda: len(refined()) >= len(expected), timeout=60)
    assert sorted(refined()) == sorted(expected)  # each once, none missing
    for uri, inline in expected.items():
        item = httpx.get(f"{pipeline.gateway}/v1/items/{uri}").json()
        for field_name in FILTERS:
            names = [e["name"] for e in item[field_name]]
            assert names == [e.name for e in getattr(inline, field_name)], (uri, field_name)
