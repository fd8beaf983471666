"""An XSS corpus through the whole pipeline: nothing that could run reaches the
page or any feed format, and the XML feeds stay well-formed. Tokens never reach
a log. (tests/e2e/test_gateway_browser.py shows a hostile item running nothing
in a real browser.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import lxml.etree
import lxml.html
import pytest

from tests.support.services import TOKEN, Pipeline
from tests.support.waiting import poll
from tools.devstack import RedisServer

CORPUS = [
    "<script>alert('script')</script>",
    "<img src=x onerror=alert('img')>",
    "<a href=\"javascript:alert('href')\">click</a>",
    "<a href=\"JaVaScRiPt:alert('case')\">case</a>",
    "<a href=\"&#106;avascript:alert('entity')\">entity</a>",
    "<iframe srcdoc=\"<script>alert('srcdoc')</script>\"></iframe>",
    '<iframe src="https://evil.example/"></iframe>',
    "<svg><script>alert('svg')</script></svg>",
    "<svg onload=alert('onload')></svg>",
    "<math><mi xlink:href=\"javascript:alert('math')\">x</mi></math>",
    "<object data=\"javascript:alert('object')\"></object>",
    "<embed src=\"javascript:alert('embed')\">",
    "<form action=\"javascript:alert('form')\"><button>go</button></form>",
    "<style>body{background:url(javascript:alert('css'))}</style>",
    "<p style=\"background:url(javascript:alert('style'))\">styled</p>",
    "<base href=\"javascript:alert('base')//\">",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(\'meta\')">',
    "<img src=\"data:image/svg+xml,<svg onload=alert('data')>\">",
    "]]><script>alert('cdata')</script>",
    "<!--<script>alert('comment')</script>-->",
    "<details open ontoggle=alert('toggle')>x</details>",
    "<video><source onerror=alert('source')></video>",
]
HOSTILE_HEADLINES = [
    "</title><script>alert('title')</script>",
    "\"><img src=x onerror=alert('attr')>",
    "Bell \u0007 and escape \u001b in a headline",
    "]]> breaks CDATA & <b>tags</b>",
]
WRONG_TOKEN = "wrong-token-do-not-log-0123456789"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """The four services with the corpus submitted through ingest and published."""
    workdir: Path = tmp_path_factory.mktemp("hostile")
    server = RedisServer(workdir=workdir / "redis").start()
    running = Pipeline(server.url, workdir / "logs").start()
    uris = []
    for i, payload in enumerate(CORPUS):
        uris.append(f"urn:xss:body:{i}")
        assert (
            running.submit(
                {
                    "uri": uris[-1],
                    "headline": f"Body case {i}",
                    "body_html": f"<p>Before</p>{payload}<p>After</p>",
                }
            ).status_code
            == 202
        )
    for i, headline in enumerate(HOSTILE_HEADLINES):
        uris.append(f"urn:xss:headline:{i}")
        response = running.submit(
            {
                "uri": uris[-1],
                "headline": headline,
                "authors": [
                    {
                        "name": "<script>alert('author')</script>",
                        "biography": "<img src=x onerror=alert(1)>",
                    }
                ],
            }
        )
        assert response.status_code == 202, response.text
    assert running.submit({"headline": "x"}, token=WRONG_TOKEN).status_code == 401

    def all_shown() -> bool:
        feed = httpx.get(f"{running.gateway}/v1/feed", params={"limit": 100}).json()["items"]
        return {item["uri"] for item in feed} >= set(uris)

    poll(all_shown, timeout=30, interval=0.2, failure="the corpus did not reach the feed")
    yield running
    running.stop()
    server.stop()


def assert_inert(html: str, where: str, own_scripts: bool = False) -> None:
    """No element or attribute in this HTML can run script."""
    if not html.strip():
        return
    tree = lxml.html.fromstring(f"<div>{html}</div>")
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        tag = element.tag.lower()
        if tag == "script":
            assert own_scripts, (where, html)
            assert element.get("src", "").startswith("/static/"), (where, html)
            assert not (element.text or "").strip(), (where, "inline script")
        assert tag not in {"iframe", "object", "embed", "base", "meta", "style", "form"} or (
            own_scripts and tag in {"meta", "base"} and "javascript" not in str(element.attrib)
        ), (where, tag)
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), (where, name, value)
            assert "javascript:" not in value.lower().replace(" ", ""), (where, name, value)
            assert not value.lower().startswith("data:text"), (where, name, value)


def test_the_page_runs_nothing_from_the_corpus(pipeline: Pipeline) -> None:
    page = httpx.get(f"{pipeline.gateway}/", params={"limit": 100})
    assert page.status_code == 200
    # The corpus shows up as text (escaped), never as markup.
    assert "&lt;script&gt;alert(" in page.text
    assert_inert(page.text.split("<body", 1)[1].split(">", 1)[1], "page", own_scripts=True)
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy


@pytest.mark.parametrize("path", ["/feed.rss", "/feed.atom"])
def test_xml_feeds_stay_well_formed_and_inert(pipeline: Pipeline, path: str) -> None:
    response = httpx.get(f"{pipeline.gateway}{path}")
    assert response.status_code == 200
    root = lxml.etree.fromstring(response.content, lxml.etree.XMLParser(recover=False))
    texts = [el.text or "" for el in root.iter() if isinstance(el.tag, str)]
    assert any("Body case" in text for text in texts)
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.split("}")[-1] in {
            "description",
            "content",
            "summary",
        }:
            assert_inert(el.text or "", f"{path} {el.tag}")


def test_json_feed_and_ninjs_are_inert(pipeline: Pipeline) -> None:
    feed = httpx.get(f"{pipeline.gateway}/feed.json").json()
    for item in feed["items"]:
        assert_inert(item.get("content_html", ""), f"feed.json {item['id']}")
    for i in range(len(CORPUS)):
        uri = quote(f"urn:xss:body:{i}", safe=":")
        ninjs = httpx.get(f"{pipeline.gateway}/v1/items/{uri}", params={"format": "ninjs"})
        assert ninjs.status_code == 200
        body = ninjs.json()
        html = body.get("body_html") or json.dumps(body.get("bodies", ""))
        assert_inert(html if isinstance(html, str) else "", f"ninjs {uri}")


def test_no_token_reaches_a_log(pipeline: Pipeline) -> None:
    for service in pipeline.services.values():
        text = service.log_path.read_text(errors="replace")
        assert TOKEN not in text, service.name
        assert WRONG_TOKEN not in text, service.name
