"""The feed page in a real browser: headless Chromium driven by Playwright, against the
four services as processes on a test Redis, with items submitted through ingest.

Skipped only when no Chromium is installed (`make test` as root installs Debian's)."""

from __future__ import annotations

import json
import shutil
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway.render.links import item_path

from tests.support.services import TOKEN, Pipeline
from tests.support.waiting import poll
from tools.devstack import REPO, RedisServer

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PAGE_SIZE = 4
OUTPUT = REPO / "test-output" / "gateway"


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


CHROMIUM = chromium()
if CHROMIUM is None:
    pytest.skip(
        "no Chromium found: install Debian's `chromium` (make test does, as root)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api")


def feed_uris(pipeline: Pipeline) -> list[str]:
    response = httpx.get(f"{pipeline.gateway}/v1/feed", params={"limit": 100}, timeout=5)
    return [item["uri"] for item in response.json()["items"]]


DEMO: list[dict[str, Any]] = json.loads((REPO / "demo" / "items.json").read_text())
FILLERS = [
    {
        "uri": f"urn:newsfeed:e2e:browser-filler-{i}",
        "headline": f"Earlier brief number {i}",
        "body_html": f"<p>An earlier short update, number {i}.</p>",
        "firstcreated": f"2026-01-06T1{i}:00:00Z",
        "authors": [{"name": "Newsfeed news desk", "biography": "The desk."}],
    }
    for i in range(4)
]
HOSTILE_BODY = (
    "<p>Injection attempt <img src=x onerror=\"alert('img')\"> ends here.</p>"
    "<script>alert('script')</script>"
    '<p><a id="js-link" href="javascript:alert(\'link\')">a javascript: link</a></p>'
    "<iframe srcdoc=\"<script>alert('srcdoc')</script>\"></iframe>"
    "<svg><script>alert('svg')</script><circle onload=\"alert('svg-onload')\"/></svg>"
    "<p><a href=\"data:text/html,<script>alert('data')</script>\">data link</a></p>"
    '<iframe src="https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ" title="A clip"></iframe>'
)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    workdir = tmp_path_factory.mktemp("browser")
    server = RedisServer(workdir=workdir / "redis").start()
    running = Pipeline(
        server.url, workdir / "logs", extra_env={"NEWSFEED_PAGE_SIZE": str(PAGE_SIZE)}
    ).start()
    try:
        for item in [*DEMO, *FILLERS]:
            response = running.submit(item)
            assert response.status_code == 202, response.text
        wanted = {item["uri"] for item in [*DEMO, *FILLERS]}
        poll(lambda: wanted <= set(feed_uris(running)), timeout=30)
        yield running
    finally:
        running.stop()
        server.stop()


@dataclass
class Watched:
    """What a page did that a test may want to deny: dialogs, errors, requests."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def open_page(browser: Any, url: str, *, javascript: bool = True) -> tuple[Any, Watched]:
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    page.set_default_timeout(15_000)
    watched = Watched()

    def on_dialog(dialog: Any) -> None:
        watched.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("console", lambda m: watched.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: watched.errors.append(str(e)))
    page.on("request", lambda r: watched.requests.append(r.url))
    page.goto(url)
    return page, watched


def items_on(page: Any) -> list[str]:
    return list(page.eval_on_selector_all("#feed > li", "els => els.map(e => e.dataset.uri)"))


def test_the_page_shows_the_feed_live_and_runs_nothing_it_is_sent(
    pipeline: Pipeline, browser: Any, tmp_path: Path
) -> None:
    page, watched = open_page(browser, pipeline.gateway + "/")
    page.wait_for_selector("html[data-live=open]")  # the live stream is connected

    # Newest first, the demo items on top, each as the seed page shows an item.
    shown = items_on(page)
    assert shown[:3] == [DEMO[2]["uri"], DEMO[1]["uri"], DEMO[0]["uri"]]
    assert len(shown) == PAGE_SIZE
    positions = page.eval_on_selector_all(
        "#feed > li", "els => els.map(e => Number(e.dataset.position))"
    )
    assert positions == sorted(positions, reverse=True)
    cyprus = page.locator(f'li[data-uri="{DEMO[1]["uri"]}"]')
    assert cyprus.locator("h2.headline").inner_text() == DEMO[1]["headline"]
    assert cyprus.locator(".reading-time").inner_text() == "1 min read"
    assert cyprus.locator("time.published").get_attribute("datetime") == "2026-01-07T10:40:00Z"
    card = cyprus.locator("aside.author-card")
    assert card.locator(".author-name").inner_text().startswith("Newsfeed news desk")
    assert card.locator(".author-bio").inner_text() == DEMO[1]["authors"][0]["biography"]
    assert card.locator(".avatar-initials").inner_text() == "NN"  # no third-party avatar
    long_read = page.locator(f'li[data-uri="{DEMO[0]["uri"]}"]')
    assert long_read.locator(".read-more a").inner_text().startswith("Read more")
    video_item = page.locator(f'li[data-uri="{DEMO[2]["uri"]}"]')
    assert video_item.locator(".item-kind").inner_text().lower() == "video"
    video = video_item.locator("video")
    assert video.get_attribute("preload") == "none"
    assert video.locator("source").get_attribute("src") == (DEMO[2]["renditions"]["video"]["href"])
    # Issue 14.7: never an empty black box: the page's own poster, and a link to the file.
    assert (video.get_attribute("poster") or "").startswith("/static/poster.svg")
    assert (
        video_item.locator("a.media-link").get_attribute("href")
        == (DEMO[2]["renditions"]["video"]["href"])
    )
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for target in (tmp_path / "feed.png", OUTPUT / "feed.png"):
        page.screenshot(path=str(target), full_page=True)

    # "Show More" adds the next page in place, without leaving the page.
    page.evaluate("window.__stayed = true")
    page.click("a.show-more")
    page.locator("#feed > li").nth(PAGE_SIZE).wait_for()
    more = items_on(page)
    assert more[:PAGE_SIZE] == shown
    assert len(more) == len(set(more)) == len(DEMO) + len(FILLERS)
    assert page.locator("a.show-more").count() == 0  # that was the last page
    assert page.evaluate("window.__stayed") is True

    # An item submitted now appears at the top without a reload.
    fresh = {
        "uri": "urn:newsfeed:e2e:browser-breaking",
        "headline": "Breaking: air raid alert across eastern regions",
        "body_html": "<p>Air raid alerts sounded across the east on Tuesday morning.</p>",
        "authors": [{"name": "Newsfeed news desk", "biography": "The desk."}],
    }
    assert pipeline.submit(fresh).status_code == 202
    # (Locators, not wait_for_function: the page's CSP forbids evaluating strings.)
    sync_api.expect(page.locator("#feed > li").first).to_have_attribute(
        "data-uri", fresh["uri"], timeout=15_000
    )
    top = page.locator("#feed > li").first
    assert top.locator("h2.headline").inner_text() == fresh["headline"]
    assert top.locator(".reading-time").inner_text() == "1 min read"

    # An updated item is refreshed in place and says so.
    video_uri = DEMO[2]["uri"]
    update = {**DEMO[2], "body_html": DEMO[2]["body_html"] + "<p>Update: subtitles added.</p>"}
    assert pipeline.submit(update).status_code == 202
    updated = page.locator(f'li[data-uri="{video_uri}"] .updated')
    updated.wait_for()
    assert updated.inner_text().startswith("(Updated: ")
    assert "subtitles added" in page.locator(f'li[data-uri="{video_uri}"]').inner_text()

    # A killed item disappears.
    kill = {"uri": DEMO[1]["uri"], "pubstatus": "canceled", "ednote": "Withdrawn for review."}
    assert pipeline.submit(kill).status_code == 202
    page.wait_for_selector(f'li[data-uri="{DEMO[1]["uri"]}"]', state="detached")

    # An item whose body and fields try to run script runs nothing.
    hostile = {
        "uri": "urn:newsfeed:e2e:browser-hostile",
        "headline": "Hostile <img src=x onerror=alert('headline')> headline",
        "body_html": HOSTILE_BODY,
        "authors": [
            {
                "name": "<script>alert('author')</script>",
                "biography": "<svg onload=alert('bio')>",
                "avatar_url": "https://tracker.example.net/pixel.png",
            }
        ],
    }
    assert pipeline.submit(hostile).status_code == 202
    selector = f'li[data-uri="{hostile["uri"]}"]'
    page.wait_for_selector(selector)
    item = page.locator(selector)
    assert "<img src=x onerror=alert('headline')>" in item.locator("h2.headline").inner_text()
    assert item.locator("script, svg, img, iframe").count() == 0
    assert item.locator("figure.embed a.embed-load").count() == 1  # loads on click only
    item.get_by_text("a javascript: link").click()
    page.wait_for_timeout(300)
    page.reload()
    page.wait_for_selector(selector)
    page.wait_for_selector("html[data-live=open]")
    page.wait_for_timeout(300)
    assert watched.dialogs == []
    assert watched.errors == []
    # Nothing but the gateway was contacted: no avatar, video, embed or tracker.
    assert all(url.startswith(pipeline.gateway) for url in watched.requests), watched.requests
    page.screenshot(path=str(tmp_path / "after.png"), full_page=True)
    page.context.close()


def test_a_burst_is_fetched_in_a_few_requests_and_the_page_stays_live(
    pipeline: Pipeline, browser: Any
) -> None:
    """Issue 18.10: the page fetched one fragment per event and, in a burst, Chromium
    failed thousands of them and stopped updating. Now one request fetches what
    arrived since the last one, at most one every 400 ms."""
    page, watched = open_page(browser, pipeline.gateway + "/")
    page.wait_for_selector("html[data-live=open]")
    start = datetime.now(UTC) + timedelta(minutes=5)
    burst = [
        {
            "uri": f"urn:newsfeed:e2e:burst-{i:04d}",
            "headline": f"Burst item {i}",
            "body_html": f"<p>Update number {i} of a busy morning.</p>",
            "firstcreated": (start + timedelta(seconds=i)).isoformat(),
            "authors": [{"name": "Newsfeed news desk"}],
        }
        for i in range(600)
    ]
    started = time.monotonic()
    for offset in range(0, len(burst), 200):
        response = httpx.post(
            f"{pipeline.ingest}/v1/items:batch",
            json={"items": burst[offset : offset + 200]},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=30,
        )
        assert response.status_code == 202
    sync_api.expect(page.locator("#feed > li").first).to_have_attribute(
        "data-uri", burst[-1]["uri"], timeout=60_000
    )
    elapsed = time.monotonic() - started
    fetches = [url for url in watched.requests if "/fragments/" in url]
    assert 1 <= len(fetches) <= elapsed / 0.4 + 2, (len(fetches), elapsed)
    assert items_on(page)[:PAGE_SIZE] == [item["uri"] for item in reversed(burst[-PAGE_SIZE:])]
    # Still live after the burst.
    after = {
        **burst[0],
        "uri": "urn:newsfeed:e2e:burst-after",
        "headline": "After the burst",
        "firstcreated": (start + timedelta(hours=1)).isoformat(),
    }
    assert pipeline.submit(after).status_code == 202
    sync_api.expect(page.locator("#feed > li").first).to_have_attribute(
        "data-uri", after["uri"], timeout=15_000
    )
    assert watched.errors == []
    page.context.close()


def test_without_javascript_show_more_is_a_link_to_the_next_page(
    pipeline: Pipeline, browser: Any
) -> None:
    page, watched = open_page(browser, pipeline.gateway + "/", javascript=False)
    first = items_on(page)
    assert len(first) == PAGE_SIZE
    page.click("a.show-more")
    page.wait_for_url("**/?cursor=*")
    second = items_on(page)
    assert second
    assert not set(first) & set(second)
    assert page.locator("text=Back to the latest").count() == 1
    assert watched.errors == []
    page.context.close()


def test_without_javascript_a_video_shows_its_poster_and_loads_nothing(
    pipeline: Pipeline, browser: Any
) -> None:
    """Issue 14.7: the demo video was an endless spinner without JavaScript."""
    # Its own page: other tests of this module push it off the first page of the feed.
    url = pipeline.gateway + item_path(DEMO[2]["uri"])
    page, watched = open_page(browser, url, javascript=False)
    video = page.locator("article video")
    video.wait_for()
    page.wait_for_timeout(1000)
    # NETWORK_IDLE (1) or NETWORK_EMPTY (0): not loading, so no spinner; the poster is shown.
    assert video.evaluate("v => v.networkState") in (0, 1)
    assert "/static/poster.svg" in video.evaluate("v => v.poster")
    page.screenshot(path=str(OUTPUT / "video-no-js.png"))
    assert all(url.startswith(pipeline.gateway) for url in watched.requests), watched.requests
    page.context.close()


def test_a_stopping_gateway_ends_its_streams_and_exits_cleanly(pipeline: Pipeline) -> None:
    """Runs last in this module: it stops the gateway."""
    gateway = pipeline.services["gateway"]
    with (
        httpx.Client(timeout=10) as client,
        client.stream("GET", f"{gateway.url}/v1/stream") as stream,
    ):
        assert stream.status_code == 200
        started = time.monotonic()
        gateway.signal(signal.SIGTERM)
        assert gateway.process is not None
        assert gateway.process.wait(10) == 0
        assert time.monotonic() - started < 5
