"""The whole pipeline: four services as processes, on a Redis of the tests' own and
on their Redis Cluster (six redis-server processes), where the services are given
the URL of one node and nothing else about the cluster, and each stage's stream
has several partitions spread over the primaries.

Submit, update, kill, embargo, Show More paging, live updates over SSE, a dead
letter replayed after a fix and `newsfeed status`: each runs on both."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from newsfeed_cli.main import app as cli
from shared.streams import INGESTED, PUBLISHED, ROUTES
from typer.testing import CliRunner

from tests.support.services import TOKEN, Pipeline
from tests.support.sse import SSE, Event, sse
from tests.support.streams import stream_length, sync_client
from tests.support.waiting import poll
from tools.devstack import RedisCluster, RedisServer

# Enrichment fails every entry whose subject matches, as a bug would; the
# dead-letter test restarts it without (the fix deployed).
POISON = {"NEWSFEED_FAULT_POISON_PATTERN": ":poison-"}
QUICK_DEAD_LETTERS = {"NEWSFEED_MAX_DELIVERIES": "2", "NEWSFEED_RETRY_DELAY_MS": "100"}
# On the cluster: 4 partitions, one slot each, spread over the three primaries.
CLUSTER_PARTITIONS = "4"

ARTICLE: dict[str, Any] = {
    "uri": "urn:newsfeed:e2e:galuzin-interview",
    "headline": "Kremlin envoy sets conditions Kyiv has already rejected",
    "body_html": (
        "<p>Russia's deputy foreign minister Mikhail Galuzin told TASS that talks could "
        "begin only if Ukraine dropped its plans to join NATO and the EU.</p>"
        "<p>Andriy Yermak answered on Telegram that Kyiv would not negotiate while Russian "
        "troops remain on Ukrainian land.</p>"
        '<script>alert("x")</script>'
    ),
    "authors": [
        {
            "name": "The Kyiv Independent news desk",
            "role": "desk",
            "biography": "The news team behind the live feed.",
            "avatar_url": "https://example.org/desk.png",
        }
    ],
}


@pytest.fixture(scope="module", params=["one node", "cluster"])
def pipeline(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    """Ingest, enrichment, publication and gateway processes on a redis-server of
    this module's own, or on the tests' cluster (flushed) through one of its nodes."""
    workdir: Path = tmp_path_factory.mktemp("e2e")
    env = dict(QUICK_DEAD_LETTERS)
    server: RedisServer | None = None
    if request.param == "one node":
        server = RedisServer(workdir=workdir / "redis").start()
        url = server.url
    else:
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        cluster.wait_healthy()  # whole again, if a test before killed a node
        cluster.flush()
        url = cluster.nodes[-1].url  # any node will do, a replica as well as a primary
        env["NEWSFEED_PARTITIONS"] = CLUSTER_PARTITIONS
    running = Pipeline(url, workdir / "logs", extra_env=env, service_env={"enrichment": POISON})
    running.start()
    yield running
    running.stop()
    if server is not None:
        server.stop()


def feed_item(pipeline: Pipeline, uri: str) -> dict[str, Any] | None:
    items = httpx.get(f"{pipeline.gateway}/v1/feed", params={"limit": 100}).json()["items"]
    return next((item for item in items if item["uri"] == uri), None)


def test_a_submitted_item_reaches_the_feed_enriched(pipeline: Pipeline) -> None:
    """Submit → 202 with uri and version 1 → in the gateway feed, sanitized and
    with its reading time, author card intact."""
    response = pipeline.submit(ARTICLE)
    assert response.status_code == 202, response.text
    assert response.json()["uri"] == ARTICLE["uri"]
    assert response.json()["version"] == 1
    item = poll(lambda: feed_item(pipeline, ARTICLE["uri"]))
    assert item["version"] == 1
    assert item["reading_time_minutes"] == 1
    assert "<script>" not in item["body_html"]
    assert item["text"]["word_count"] > 30
    assert item["authors"][0]["biography"] == "The news team behind the live feed."
    single = httpx.get(f"{pipeline.gateway}/v1/items/{ARTICLE['uri']}")
    assert single.status_code == 200
    assert single.json()["headline"] == ARTICLE["headline"]


def test_an_update_shows_version_two_and_a_later_updated_time(pipeline: Pipeline) -> None:
    """Resubmitting the uri with a changed body makes version 2 with a newer
    versioncreated, in the same feed position; an identical resubmission changes nothing."""
    first = poll(lambda: feed_item(pipeline, ARTICLE["uri"]))
    updated = {**ARTICLE, "body_html": ARTICLE["body_html"] + "<p>Update: Kyiv responded.</p>"}
    response = pipeline.submit(updated)
    assert response.json()["version"] == 2
    item = poll(lambda: (i := feed_item(pipeline, ARTICLE["uri"])) and i["version"] == 2 and i)
    assert item["versioncreated"] > first["versioncreated"]
    assert item["firstcreated"] == first["firstcreated"]
    again = pipeline.submit(updated)
    assert again.status_code == 202
    assert again.json() | {"traceid": ""} == {
        "uri": ARTICLE["uri"],
        "version": 2,
        "changed": False,
        "traceid": "",
    }


def test_a_killed_item_leaves_the_feed_and_its_page_answers_410(pipeline: Pipeline) -> None:
    """pubstatus canceled removes the item from the feed; its endpoint says Gone
    with the kill note."""
    uri = "urn:newsfeed:e2e:to-be-killed"
    pipeline.submit({"uri": uri, "headline": "A report that will be withdrawn"})
    poll(lambda: feed_item(pipeline, uri))
    kill = pipeline.submit({"uri": uri, "pubstatus": "canceled", "ednote": "Sourcing failed."})
    assert kill.status_code == 202
    poll(lambda: feed_item(pipeline, uri) is None)
    gone = httpx.get(f"{pipeline.gateway}/v1/items/{uri}")
    assert gone.status_code == 410
    assert gone.json()["detail"]["ednote"] == "Sourcing failed."


@pytest.mark.parametrize(
    ("headers", "body", "status", "says"),
    [
        ({}, b'{"headline": "x"}', 401, "bearer"),
        ({"content-type": "text/plain"}, b"headline", 415, "application/json"),
        ({"content-type": "application/json"}, b'{"headline": ', 400, "JSON"),
        (
            {"content-type": "application/json"},
            b'{"headline": "x", "colour": "red"}',
            422,
            "colour",
        ),
        ({"content-type": "application/json"}, b'{"body_html": ""}', 422, "headline"),
        (
            {"content-type": "application/json"},
            b'{"headline": "' + b"x" * 2_000_000 + b'"}',
            413,
            "larger",
        ),
    ],
)
def test_a_bad_submission_gets_a_clear_4xx_and_nothing_enters_the_stream(
    pipeline: Pipeline,
    headers: dict[str, str],
    body: bytes,
    status: int,
    says: str,
) -> None:
    """Every rejection names the problem; the stream does not grow."""
    client = sync_client(pipeline.redis_url)
    before = stream_length(client, INGESTED, pipeline.partitions)
    auth = {} if status == 401 else {"Authorization": f"Bearer {TOKEN}"}
    response = httpx.post(
        f"{pipeline.ingest}/v1/items", content=body, headers={**auth, **headers}, timeout=10
    )
    assert response.status_code == status
    assert says in response.text
    assert stream_length(client, INGESTED, pipeline.partitions) == before
    client.close()


def test_feed_pages_do_not_repeat_or_skip_while_items_arrive(pipeline: Pipeline) -> None:
    """Show More with the cursor walks back in time without repeats or gaps even
    when new items are published at the top between pages."""
    for i in range(12):
        pipeline.submit(
            {
                "uri": f"urn:newsfeed:e2e:page-{i:02d}",
                "headline": f"Brief {i}",
                "firstcreated": f"2026-11-01T10:{i:02d}:00Z",
            }
        )
    poll(lambda: all(feed_item(pipeline, f"urn:newsfeed:e2e:page-{i:02d}") for i in range(12)))
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 5} | ({"cursor": cursor} if cursor else {})
        page = httpx.get(f"{pipeline.gateway}/v1/feed", params=params).json()
        seen += [item["uri"] for item in page["items"]]
        pipeline.submit({"headline": f"Breaking {len(seen)}"})  # lands at the top
        cursor = page["next_cursor"]
        if cursor is None:
            break
    briefs = [uri for uri in seen if ":page-" in uri]
    assert briefs == [f"urn:newsfeed:e2e:page-{i:02d}" for i in reversed(range(12))]
    assert len(seen) == len(set(seen))


def test_a_malformed_cursor_is_a_400_not_a_500(pipeline: Pipeline) -> None:
    response = httpx.get(f"{pipeline.gateway}/v1/feed", params={"cursor": "not-a-cursor!"})
    assert response.status_code == 400
    assert "cursor" in response.json()["error"]
    assert httpx.get(f"{pipeline.gateway}/v1/items/urn:nope").status_code == 404


def test_one_trace_id_follows_an_item_through_every_service_log(pipeline: Pipeline) -> None:
    """A JSON log line per meaningful event, each carrying the item's uri, version
    and the trace id ingest gave it: accepted, enriched, published."""
    uri = "urn:newsfeed:e2e:traced"
    response = pipeline.submit({"uri": uri, "headline": "Followed by its trace id"})
    traceid = response.json()["traceid"]
    poll(lambda: feed_item(pipeline, uri))

    def events_of(service: str) -> list[dict[str, Any]]:
        lines = pipeline.services[service].log_path.read_text().splitlines()
        parsed = [json.loads(line) for line in lines if line.startswith("{")]
        return [line for line in parsed if line.get("traceid") == traceid]

    for service, event in [
        ("ingest", "item accepted"),
        ("enrichment", "item enriched"),
        ("publication", "item published"),
    ]:
        lines = poll(partial(events_of, service))
        assert [line["event"] for line in lines] == [event], service
        assert (lines[0]["uri"], lines[0]["version"]) == (uri, 1), service


def test_an_embargoed_item_stays_hidden_until_its_release_time(pipeline: Pipeline) -> None:
    """An item under embargo is not in the feed, nor at its own address, while a
    plain item submitted after it already is; it appears once the embargo ends."""
    uri = "urn:newsfeed:e2e:embargoed"
    release = datetime.now(UTC) + timedelta(seconds=5)
    embargoed = {"uri": uri, "headline": "Ministers to sign the reconstruction fund"}
    assert pipeline.submit(embargoed | {"embargoed": release.isoformat()}).status_code == 202
    after = "urn:newsfeed:e2e:after-the-embargoed"
    assert pipeline.submit({"uri": after, "headline": "Submitted second"}).status_code == 202
    poll(lambda: feed_item(pipeline, after))
    assert datetime.now(UTC) < release, "the pipeline was too slow for this test to mean much"
    assert feed_item(pipeline, uri) is None
    assert httpx.get(f"{pipeline.gateway}/v1/items/{uri}").status_code == 404
    item = poll(lambda: feed_item(pipeline, uri), timeout=30)
    assert datetime.now(UTC) >= release
    assert item["headline"] == embargoed["headline"]
    assert httpx.get(f"{pipeline.gateway}/v1/items/{uri}").status_code == 200


async def next_about(stream: SSE, uri: str, timeout: float = 20.0) -> Event:
    """The next event about `uri` (others' items may be flowing too)."""
    async with asyncio.timeout(timeout):
        while True:
            event = await stream.next_named(timeout)
            if event.data.get("uri") == uri:
                return event


def test_the_gateway_streams_publish_update_and_kill_live_and_resumes(pipeline: Pipeline) -> None:
    """An open /v1/stream hears an item published, updated and killed as they
    happen; reconnecting with the first event's id as Last-Event-ID gives the
    two that followed it, across the partitions' positions."""
    uri = "urn:newsfeed:e2e:live"
    item = {"uri": uri, "headline": "Live: air defence talks in Kyiv"}
    changes = [item, item | {"headline": "Live: talks end"}, {"uri": uri, "pubstatus": "canceled"}]

    async def watch() -> list[Event]:
        heard = []
        async with sse(pipeline.gateway) as stream:
            for change in changes:
                response = await asyncio.to_thread(pipeline.submit, change)
                assert response.status_code == 202, response.text
                heard.append(await next_about(stream, uri))
        return heard

    async def resume(last_event_id: str) -> list[Event]:
        async with sse(pipeline.gateway, headers={"Last-Event-ID": last_event_id}) as stream:
            return [await next_about(stream, uri), await next_about(stream, uri)]

    heard = asyncio.run(watch())
    assert [event.event for event in heard] == ["published", "updated", "killed"]
    assert heard[1].data["item"]["headline"] == "Live: talks end"
    assert heard[0].id is not None
    resumed = asyncio.run(resume(heard[0].id))
    assert [(event.id, event.event) for event in resumed] == [
        (event.id, event.event) for event in heard[1:]
    ]


def newsfeed(redis_url: str, *args: str) -> tuple[int, str]:
    """The operator command, as run with NEWSFEED_REDIS_URL naming the pipeline's Redis."""
    result = CliRunner().invoke(cli, list(args), env={"NEWSFEED_REDIS_URL": redis_url})
    return result.exit_code, result.output


def test_dead_letters_are_listed_replayed_after_the_fix_and_status_says_so(
    pipeline: Pipeline,
) -> None:
    """Items enrichment always fails are dead-lettered after their deliveries, with
    the error; `newsfeed status` points at them and exits 1; `newsfeed dlq list`
    and ingest's API list them. With the fix deployed, one replayed through the
    API and one with `newsfeed dlq replay` reach the feed, and status is healthy
    again (exit 0), every partition's entries counted."""
    uris = {"api": "urn:newsfeed:e2e:poison-1", "cli": "urn:newsfeed:e2e:poison-2"}
    for uri in uris.values():
        assert pipeline.submit({"uri": uri, "headline": "Fails until fixed"}).status_code == 202
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def letters() -> dict[str, str]:
        """Dead letter ids by the uri of the item they hold, of this test's items."""
        listed = httpx.get(f"{pipeline.ingest}/v1/deadletters", headers=auth, timeout=10)
        found = {}
        for letter in listed.json()["deadletters"]:
            if letter["original"]["subject"] in uris.values():
                assert "injected fault" in letter["error"]
                assert letter["deliveries"] == 2
                found[letter["original"]["subject"]] = letter["id"]
        return found

    ids = poll(lambda: (found := letters()) and len(found) == 2 and found, timeout=30)
    code, output = newsfeed(pipeline.redis_url, "status", "--json")
    assert code == 1, output
    assert "2 dead letter(s): see `newsfeed dlq list`" in json.loads(output)["problems"]
    code, output = newsfeed(pipeline.redis_url, "dlq", "list", "--json")
    assert code == 0, output
    assert sorted(listed["id"] for listed in json.loads(output)) == sorted(ids.values())

    enrichment = pipeline.services["enrichment"]
    enrichment.env = {k: v for k, v in enrichment.env.items() if k not in POISON}
    enrichment.restart()  # the fix deployed
    enrichment.wait_ready()
    replay = httpx.post(
        f"{pipeline.ingest}/v1/deadletters/{ids[uris['api']]}/replay", headers=auth, timeout=10
    )
    assert replay.status_code == 202, replay.text
    code, output = newsfeed(pipeline.redis_url, "dlq", "replay", ids[uris["cli"]])
    assert code == 0, output
    for uri in uris.values():
        assert poll(partial(feed_item, pipeline, uri), timeout=30)["headline"] == (
            "Fails until fixed"
        )
    assert letters() == {}

    code, output = newsfeed(pipeline.redis_url, "status", "--json")
    assert code == 0, output
    shown = {stream["name"]: stream for stream in json.loads(output)["streams"]}
    for route in ROUTES:
        assert route.group in {group["name"] for group in shown[route.stream]["groups"]}
    client = sync_client(pipeline.redis_url)
    assert shown[INGESTED]["length"] == stream_length(client, INGESTED, pipeline.partitions)
    client.close()


def test_newsfeed_tail_prints_what_every_partition_published(pipeline: Pipeline) -> None:
    """`newsfeed tail --since 0` prints each news.published entry of every
    partition once (on a cluster each partition is in another slot)."""
    by_partition: dict[int, str] = {}  # an item in each partition
    for i in range(1000):
        uri = f"urn:newsfeed:e2e:tailed-{i}"
        by_partition.setdefault(pipeline.partitions.of(uri), uri)
    uris = list(by_partition.values())
    assert len(uris) == pipeline.partitions.count
    for uri in uris:
        assert pipeline.submit({"uri": uri, "headline": "Tailed"}).status_code == 202
    poll(lambda: all(feed_item(pipeline, uri) for uri in uris))
    client = sync_client(pipeline.redis_url)
    published = {
        (entry_id, fields["subject"])
        for key in pipeline.partitions.keys(PUBLISHED)
        for entry_id, fields in client.xrange(key)
    }
    client.close()
    assert set(uris) <= {subject for _, subject in published}
    code, output = newsfeed(
        pipeline.redis_url, "tail", "--since", "0", "--json", "--count", str(len(published))
    )
    assert code == 0, output
    printed = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert sorted((line["entry_id"], line["subject"]) for line in printed) == sorted(published)
