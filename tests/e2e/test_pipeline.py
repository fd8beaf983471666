"""The whole pipeline: four services as processes on a test Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as sync_redis
from shared.streams import INGESTED

from tests.support.redis_server import RedisServer
from tests.support.services import Pipeline
from tests.support.streams import stream
from tests.support.waiting import poll

ARTICLE = {
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


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """Redis of the test's own plus ingest, enrichment, publication and gateway processes."""
    workdir: Path = tmp_path_factory.mktemp("e2e")
    server = RedisServer(workdir=workdir / "redis").start()
    running = Pipeline(server.url, workdir / "logs").start()
    yield running
    running.stop()
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
    redis_url_of: Callable[[Pipeline], str],
    headers: dict[str, str],
    body: bytes,
    status: int,
    says: str,
) -> None:
    """Every rejection names the problem; the stream does not grow."""
    client = sync_redis.Redis.from_url(redis_url_of(pipeline))
    before = client.xlen(stream(INGESTED))
    auth = {} if status == 401 else {"Authorization": "Bearer e2e-token-0123456789abcdef"}
    response = httpx.post(
        f"{pipeline.ingest}/v1/items", content=body, headers={**auth, **headers}, timeout=10
    )
    assert response.status_code == status
    assert says in response.text
    assert client.xlen(stream(INGESTED)) == before


@pytest.fixture
def redis_url_of() -> Callable[[Pipeline], str]:
    return lambda running: running.redis_url


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
    import json

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
        lines = poll(lambda service=service: events_of(service))
        assert [line["event"] for line in lines] == [event], service
        assert (lines[0]["uri"], lines[0]["version"]) == (uri, 1), service
