"""Enrichment: safe HTML, plain text and counts, reading time, and the pipeline's promises."""

from __future__ import annotations

import types
from functools import partial
from pathlib import Path
from typing import Any, cast

import pytest
from enrichment.config import EnrichmentConfig
from enrichment.enrichers import reading_time, sanitize, text
from enrichment.enrichers.sanitize import clean
from enrichment.enrichers.text import plain_text
from enrichment.handler import SOURCE, make_handler
from enrichment.pipeline import Enricher
from shared.delivery import Done, Failed
from shared.events import EventType, decode, encode, make_event
from shared.items import BODY_MAX, NewsItem

from tests.support import builders
from tests.support.enrichment import PIPELINE, run_pipeline

SEED = Path(__file__).resolve().parents[1] / "fixtures" / "seed_article.txt"
REL = 'rel="noopener noreferrer nofollow"'
CONFIG = EnrichmentConfig()
SANITIZE, TEXT, READING_TIME = (m.build(CONFIG) for m in (sanitize, text, reading_time))


item = partial(
    builders.item,
    headline="Zelensky restates his terms for negotiations",
    uri="urn:newsfeed:item:zelensky-terms",
)


def seed_body_html() -> str:
    return builders.paragraphs(SEED.read_text(encoding="utf-8"))


# -- sanitize --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dirty", "banned"),
    [
        ("<p>Kyiv<script>alert(document.cookie)</script></p>", ["<script", "alert"]),
        ("<p>Kyiv<SCRIPT SRC=https://evil.example/x.js></SCRIPT></p>", ["script", "evil"]),
        ('<p onclick="steal()">Kyiv</p>', ["onclick", "steal"]),
        ('<img src="x" onerror="steal()">', ["onerror", "<img"]),
        ('<a href="https://example.org" onmouseover="steal()">Kyiv</a>', ["onmouseover"]),
        ('<a href="javascript:steal()">Kyiv</a>', ["javascript", "steal"]),
        ('<a href="JaVaScRiPt:steal()">Kyiv</a>', ["steal"]),
        ('<a href="  javascript:steal()">Kyiv</a>', ["steal"]),
        ('<a href="data:text/html;base64,PHNjcmlwdD4=">Kyiv</a>', ["data:", "base64"]),
        ('<iframe srcdoc="<script>steal()</script>">Kyiv</iframe>', ["iframe", "srcdoc", "steal"]),
        ('<iframe src="https://evil.example/">Kyiv</iframe>', ["iframe", "evil"]),
        ("<svg><script>steal()</script><circle r=1 /></svg>", ["svg", "script", "steal"]),
        ('<svg onload="steal()"><circle /></svg>', ["svg", "onload", "steal"]),
        ("<style>body{display:none}</style><p>Kyiv</p>", ["style", "display"]),
        ('<p style="position:fixed">Kyiv</p>', ["style", "fixed"]),
        ('<object data="https://evil.example/x.swf"></object>', ["object", "evil"]),
        ('<form action="https://evil.example"><input name="pw"></form>', ["form", "input"]),
        ("<p>Kyiv<!-- internal: source is X --></p>", ["internal", "<!--"]),
    ],
)
def test_sanitize_removes_what_could_run_or_restyle(dirty: str, banned: list[str]) -> None:
    cleaned = clean(dirty)
    for word in banned:
        assert word.lower() not in cleaned.lower(), cleaned


def test_sanitize_keeps_the_text_around_removed_markup() -> None:
    assert clean('<p onclick="x()">Kyiv</p>') == "<p>Kyiv</p>"
    assert "Kyiv" in clean('<a href="javascript:x()">Kyiv</a>')


def test_sanitize_adds_rel_to_every_link() -> None:
    cleaned = clean(
        '<p><a href="https://kyivindependent.com/">KI</a> and <a href="mailto:d@e.org">desk</a></p>'
    )
    assert cleaned.count(REL) == 2


def test_sanitize_replaces_a_submitted_rel() -> None:
    cleaned = clean('<a href="https://example.org/" rel="opener">x</a>')
    assert REL in cleaned
    assert 'rel="opener"' not in cleaned


def test_sanitize_keeps_ordinary_article_markup() -> None:
    body = (
        '<p>Galuzin spoke to <strong>TASS</strong> on <em>Dec. 30</em>; see <a href="'
        'https://kyivindependent.com/galuzin" title="Earlier">our report</a>.</p>'
        "<blockquote><p>“Restoration of territorial integrity”</p></blockquote>"
        "<ul><li>NATO</li><li>EU</li></ul><h2>Reaction</h2>"
    )
    cleaned = clean(body)
    for kept in [
        "<p>",
        "<strong>TASS</strong>",
        "<em>Dec. 30</em>",
        'href="https://kyivindependent.com/galuzin"',
        'title="Earlier"',
        "<blockquote>",
        "<li>NATO</li>",
        "<h2>Reaction</h2>",
        "“Restoration of territorial integrity”",
    ]:
        assert kept in cleaned


def test_sanitize_enricher_sets_only_body_html() -> None:
    fields = SANITIZE.enrich(item("<p>Kyiv<script>x()</script></p>"))
    assert fields == {"body_html": "<p>Kyiv</p>"}


# -- plain text and counts -------------------------------------------------------


def test_plain_text_turns_blocks_into_lines() -> None:
    body = (
        "<h2>Terms</h2><p>Zelensky outlined   his terms.</p>"
        "<ul><li>Territorial integrity</li><li>Compensation</li></ul>"
        "<p>First line<br>second line<br/>third</p><blockquote>Quote</blockquote>"
    )
    assert plain_text(body) == (
        "Terms\nZelensky outlined his terms.\nTerritorial integrity\nCompensation\n"
        "First line\nsecond line\nthird\nQuote"
    )


def test_plain_text_unescapes_entities_and_drops_inline_tags() -> None:
    body = "<p>Tom &amp; Jerry &lt;3 &quot;peace&quot; &#8212; <strong>now</strong></p>"
    assert plain_text(body) == 'Tom & Jerry <3 "peace" — now'


def test_plain_text_of_an_empty_body_is_empty() -> None:
    assert plain_text("") == ""
    assert plain_text("<p> </p><p></p>") == ""


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("", 0),
        ("<p>Kyiv</p>", 1),
        ("<p>Zelensky met Christodoulides in Nicosia.</p>", 5),
        ("<p>Ukraine’s leadership won't yield</p>", 4),
        ("<p>state-controlled TASS</p>", 2),
        ("<p>One</p><p>two</p>", 2),
        ("<p>On Jan. 7, 2026</p>", 4),
        ("<p>Україна не вступить</p>", 3),
        ("<p>a &amp; b</p>", 2),
    ],
)
def test_word_count(body: str, words: int) -> None:
    stats = TEXT.enrich(item(body))["text"]
    assert stats.word_count == words


def test_text_stats_count_characters_of_the_plain_text() -> None:
    stats = TEXT.enrich(item("<p>Kyiv</p><p>Odesa</p>"))["text"]
    assert stats.body_text == "Kyiv\nOdesa"
    assert stats.char_count == len("Kyiv\nOdesa")


def test_table_cells_do_not_run_together() -> None:
    sanitized = clean(
        "<table><tr><th>City</th><th>Status</th></tr><tr><td>Kyiv</td><td>Odesa</td></tr></table>"
    )
    stats = TEXT.enrich(item(sanitized))["text"]
    assert "KyivOdesa" not in stats.body_text
    assert stats.word_count == 4


# -- reading time ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "minutes"),
    [(0, 0), (-3, 0), (1, 1), (229, 1), (230, 1), (231, 2), (460, 2), (461, 3), (2300, 10)],
)
def test_reading_time_rounds_up_to_whole_minutes(words: int, minutes: int) -> None:
    assert reading_time.minutes(words) == minutes


def test_reading_time_of_an_item_without_text_stats_is_zero() -> None:
    assert READING_TIME.enrich(item("<p>not counted yet</p>")) == {"reading_time_minutes": 0}


# -- the pipeline ----------------------------------------------------------------


def test_pipeline_on_the_seed_article() -> None:
    """The seed page says "1 min read"; about 180 words of seven paragraphs."""
    enriched = run_pipeline(item(seed_body_html()))
    assert enriched.reading_time_minutes == 1
    assert enriched.text is not None
    assert 150 <= enriched.text.word_count <= 220
    assert enriched.text.body_text.startswith("Mikhail Galuzin, Russian deputy foreign minister")
    assert enriched.text.body_text.endswith("other than Vladimir Putin.")
    assert enriched.text.body_text.count("\n") == 6
    # Every enricher of the pipeline recorded its version (provenance).
    assert set(enriched.enrichment) == {enricher.NAME for enricher in PIPELINE}
    assert enriched.enrichment_failures == ()


def test_pipeline_sanitizes_before_counting() -> None:
    enriched = run_pipeline(item("<p>Kyiv</p><script>var a = 1; var b = 2;</script>"))
    assert enriched.body_html == "<p>Kyiv</p>"
    assert enriched.text is not None
    assert enriched.text.word_count == 1


def test_pipeline_leaves_other_fields_alone() -> None:
    before = item("<p>Kyiv</p>", language="en", ednote="Updated")
    after = run_pipeline(before)
    # What enrichment derives; everything else (identity, times, status, authors,
    # the stated language, the editor's note) must come out as it went in.
    unchanged = set(NewsItem.model_fields) - {
        "body_html",
        "text",
        "reading_time_minutes",
        "description_text",
        "language_confidence",
        "people",
        "organisations",
        "places",
        "subjects",
        "quotes",
        "type",
        "cluster",
        "enrichment",
        "enrichment_failures",
    }
    for name in unchanged:
        assert getattr(after, name) == getattr(before, name), name


def _broken_enricher() -> Enricher:
    module = types.ModuleType("broken")
    module.NAME = "broken"  # type: ignore[attr-defined]
    module.VERSION = "9"  # type: ignore[attr-defined]

    def enrich(_: NewsItem) -> dict[str, Any]:
        raise RuntimeError("model server unreachable")

    module.enrich = enrich  # type: ignore[attr-defined]
    return cast(Enricher, module)


def test_a_failing_enricher_is_recorded_and_the_item_goes_on() -> None:
    pipeline = (PIPELINE[0], _broken_enricher(), *PIPELINE[1:])
    enriched = run_pipeline(
        item("<p>Zelensky outlined his main terms.</p><script>x()</script>"), pipeline
    )
    assert enriched.enrichment_failures == ("broken",)
    assert set(enriched.enrichment) == {enricher.NAME for enricher in PIPELINE}
    assert enriched.body_html == "<p>Zelensky outlined his main terms.</p>"
    assert enriched.text is not None
    assert enriched.text.word_count == 5
    assert enriched.reading_time_minutes == 1


def test_a_failing_first_enricher_does_not_stop_the_others() -> None:
    enriched = run_pipeline(item("<p>Kyiv</p>"), (_broken_enricher(), *PIPELINE))
    assert enriched.enrichment_failures == ("broken",)
    assert "broken" not in enriched.enrichment
    assert enriched.reading_time_minutes == 1


def test_pipeline_is_deterministic() -> None:
    source = item(seed_body_html() + '<p><a href="https://kyivindependent.com">KI</a></p>')
    first, second = run_pipeline(source), run_pipeline(source)
    assert first == second
    assert first.model_dump_json() == second.model_dump_json()


def test_pipeline_is_idempotent_on_its_own_output() -> None:
    once = run_pipeline(
        item(seed_body_html() + '<p onclick="x()"><a href="https://e.org">e</a></p>')
    )
    twice = run_pipeline(once)
    assert twice.body_html == once.body_html
    assert twice.text == once.text
    assert twice.reading_time_minutes == once.reading_time_minutes


def test_enriched_item_of_an_accepted_body_stays_decodable() -> None:
    body = "<p>" + "R&D " * ((BODY_MAX - 7) // 4) + "</p>"
    assert len(body) <= BODY_MAX
    enriched = run_pipeline(item(body))
    decode(encode(make_event(EventType.enriched, SOURCE, enriched, "ab" * 16)))


# -- the handler -----------------------------------------------------------------


async def test_handler_fails_only_the_item_whose_enrichment_raises() -> None:
    def enrich(news: NewsItem) -> NewsItem:
        if news.uri.endswith("poison"):
            raise ValueError("cannot enrich this one")
        return run_pipeline(news)

    traces = ["1" * 32, "2" * 32, "3" * 32]
    uris = ["urn:newsfeed:item:a", "urn:newsfeed:item:poison", "urn:newsfeed:item:c"]
    events = [
        make_event(EventType.ingested, "/newsfeed/ingest", item("<p>Kyiv</p>", uri=uri), trace)
        for uri, trace in zip(uris, traces, strict=True)
    ]
    results = await make_handler(enrich)(events)
    assert len(results) == 3
    assert isinstance(results[1], Failed)
    assert "ValueError" in results[1].reason
    assert "cannot enrich this one" in results[1].reason
    for index in (0, 2):
        done = results[index]
        assert isinstance(done, Done)
        assert len(done.emit) == 1
        out = done.emit[0]
        assert out.type is EventType.enriched
        assert out.source == SOURCE
        assert out.traceid == traces[index]
        assert out.subject == uris[index]
        assert out.data.uri == uris[index]
        assert out.data.reading_time_minutes == 1
        assert out.id != events[index].id


async def test_default_handler_runs_the_pipeline() -> None:
    event = make_event(EventType.ingested, "/newsfeed/ingest", item(seed_body_html()), "a" * 32)
    (result,) = await make_handler(run_pipeline)([event])
    assert isinstance(result, Done)
    assert result.emit[0].data == run_pipeline(event.data)
