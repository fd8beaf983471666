"""Enrichment: video iframes, plain text and excerpts, reading time per language."""

from __future__ import annotations

from functools import partial

import pytest
from enrichment.config import EnrichmentConfig
from enrichment.enrichers import reading_time, sanitize, text
from enrichment.enrichers.sanitize import clean, video_src
from enrichment.enrichers.text import excerpt, plain_text
from enrichment.nlp import sentences
from shared.items import STORED_BODY_MAX, TextStats

from tests.support import builders

CONFIG = EnrichmentConfig()
SANITIZE, TEXT, READING_TIME = (m.build(CONFIG) for m in (sanitize, text, reading_time))
YOUTUBE = "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ"
VIMEO = "https://player.vimeo.com/video/76979871"


item = partial(builders.item, headline="Zelensky arrives in Cyprus", uri="urn:newsfeed:test:text")


# -- iframes -----------------------------------------------------------------------


@pytest.mark.parametrize("src", [YOUTUBE, VIMEO, YOUTUBE + "?start=30"])
def test_video_players_from_the_allow_list_are_kept_and_sandboxed(src: str) -> None:
    cleaned = clean(f'<p>Watch:</p><iframe src="{src}" width="560" height="315"></iframe>')
    assert f'src="{src}"' in cleaned
    assert 'sandbox="allow-scripts allow-same-origin allow-presentation"' in cleaned
    assert 'width="560" height="315"' in cleaned
    assert cleaned.endswith("></iframe>")


@pytest.mark.parametrize(
    "src",
    [
        "https://www.youtube.com/embed/dQw4w9WgXcQ",  # not the nocookie domain
        "http://www.youtube-nocookie.com/embed/dQw4w9WgXcQ",  # not https
        "//www.youtube-nocookie.com/embed/dQw4w9WgXcQ",
        "https://www.youtube-nocookie.com.evil.example/embed/dQw4w9WgXcQ",
        "https://user@www.youtube-nocookie.com/embed/dQw4w9WgXcQ",
        "https://www.youtube-nocookie.com:8443/embed/dQw4w9WgXcQ",
        "https://www.youtube-nocookie.com/watch?v=dQw4w9WgXcQ",
        "https://player.vimeo.com/video/not-a-number",
        "https://evil.example/",
        "javascript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
    ],
)
def test_every_other_iframe_is_dropped_whole(src: str) -> None:
    cleaned = clean(f'<p>Kyiv</p><iframe src="{src}">fallback text</iframe>')
    assert cleaned == "<p>Kyiv</p>"


def test_an_allowed_iframe_loses_its_content_and_other_attributes() -> None:
    cleaned = clean(
        f'<iframe src="{YOUTUBE}" onload="steal()" allow="camera; microphone" '
        'srcdoc="x" style="position:fixed">x<script>steal()</script></iframe>'
    )
    for banned in ("onload", "camera", "srcdoc", "style", "<script", "steal", ">x<"):
        assert banned not in cleaned


def test_iframe_attributes_come_out_in_one_order() -> None:
    a = clean(f'<iframe height="315" title="Talk" src="{VIMEO}" width="560" allowfullscreen>')
    b = clean(f'<iframe allowfullscreen width="560" src="{VIMEO}" title="Talk" height="315">')
    assert a == b


def test_video_src_is_the_player_url_or_nothing() -> None:
    assert video_src(f"  {VIMEO}  ") == VIMEO
    assert video_src("https://player.vimeo.com/video/1?autoplay=1&muted=1") is not None
    assert video_src("https://player.vimeo.com/video/1?x=<script>") is None


def test_a_body_that_outgrows_the_stored_limit_fails_loudly() -> None:
    # Not from ingest (it takes 200,000 characters, which stay under the limit
    # even all escaped), but from any producer writing a stored-size body.
    body = "<p>" + "&" * (STORED_BODY_MAX // 4) + "</p>"
    with pytest.raises(ValueError, match="over"):
        SANITIZE.enrich(item(body))


def test_sanitize_is_required() -> None:
    assert sanitize.REQUIRED is True


# -- plain text and excerpts -------------------------------------------------------


def test_table_cells_are_separated_and_rows_are_lines() -> None:
    body = clean(
        "<table><tr><th>City</th><th>Status</th></tr><tr><td>Kyiv</td><td>Odesa</td></tr></table>"
    )
    assert plain_text(body) == "City Status\nKyiv Odesa"
    assert TEXT.enrich(item(body))["text"].word_count == 4


def test_non_breaking_spaces_and_tabs_collapse() -> None:
    assert plain_text("<p>Kyiv\u00a0\u00a0and\tOdesa</p>") == "Kyiv and Odesa"


def test_the_excerpt_ends_on_a_sentence_boundary() -> None:
    lead = (
        "President Volodymyr Zelensky arrived in Nicosia on Jan. 7 to meet Nikos Christodoulides. "
        "The two leaders discussed sanctions against Russia. Cyprus holds the EU presidency."
    )
    assert excerpt(lead, 100) == (
        "President Volodymyr Zelensky arrived in Nicosia on Jan. 7 to meet Nikos Christodoulides."
    )
    assert excerpt(lead, 150).endswith("sanctions against Russia.")
    assert excerpt(lead, 1000) == lead


def test_the_excerpt_takes_the_lead_paragraph_only() -> None:
    assert excerpt("First paragraph.\nSecond paragraph.", 500) == "First paragraph."


def test_a_first_sentence_longer_than_the_limit_is_cut_between_words() -> None:
    long = "Ukraine " + "and its partners " * 40 + "agreed."
    cut = excerpt(long, 60)
    assert cut.endswith("…")
    assert len(cut) <= 60
    assert not cut[:-1].endswith(" ")
    assert long.startswith(cut[:-1])


def test_abbreviations_do_not_end_sentences() -> None:
    assert sentences("The U.S. envoy met Gen. Syrskyi on Jan. 7. Talks went on.") == [
        "The U.S. envoy met Gen. Syrskyi on Jan. 7.",
        "Talks went on.",
    ]
    assert sentences("Президент заявив. Переговори тривають!") == [
        "Президент заявив.",
        "Переговори тривають!",
    ]


def test_text_sets_a_description_only_when_the_item_has_none() -> None:
    body = "<p>Zelensky met Christodoulides. They discussed sanctions.</p>"
    assert TEXT.enrich(item(body))["description_text"] == (
        "Zelensky met Christodoulides. They discussed sanctions."
    )
    assert "description_text" not in TEXT.enrich(item(body, description_text="Given."))
    assert "description_text" not in TEXT.enrich(item(""))


def test_the_excerpt_length_is_a_setting() -> None:
    body = "<p>Zelensky met Christodoulides in Nicosia. They discussed sanctions.</p>"
    short = text.build(EnrichmentConfig(description_max_chars=45)).enrich(item(body))
    assert short["description_text"] == "Zelensky met Christodoulides in Nicosia."


# -- reading time ------------------------------------------------------------------


def stats(body: str, words: int) -> TextStats:
    return TextStats(body_text=body, word_count=words, char_count=len(body))


def test_reading_time_uses_the_item_language() -> None:
    config = EnrichmentConfig(words_per_minute=(("en", 230), ("uk", 184)))
    enricher = reading_time.build(config)
    body = "слово " * 200
    assert enricher.estimate(body, 200, "en") == 1
    assert enricher.estimate(body, 200, "uk") == 2
    assert enricher.estimate(body, 200, "uk-UA") == 2
    assert enricher.estimate(body, 200, None) == 1  # the default: 230


def test_cjk_is_counted_by_characters() -> None:
    enricher = reading_time.build(EnrichmentConfig(chars_per_minute=(("zh", 300),)))
    chinese = "乌克兰总统泽连斯基抵达塞浦路斯。" * 40  # 640 characters, "1 word" for \w+
    assert enricher.estimate(chinese, 40, "zh") == 3
    mixed = "泽连斯基 " * 150 + "Kyiv " * 230  # 600 characters and 230 words
    assert enricher.estimate(mixed, 380, "zh") == 3  # 2 + 1


def test_reading_time_is_at_least_one_minute_for_any_words() -> None:
    enricher = reading_time.build(EnrichmentConfig())
    assert enricher.estimate("Kyiv", 1, "en") == 1
    assert enricher.estimate("", 0, "en") == 0


def test_reading_time_of_an_item() -> None:
    body = "<p>" + "word " * 460 + "</p>"
    enriched = item(body)
    enriched = enriched.model_copy(update=TEXT.enrich(enriched))
    assert READING_TIME.enrich(enriched) == {"reading_time_minutes": 2}
    ukrainian = enriched.model_copy(update={"language": "uk"})
    assert READING_TIME.enrich(ukrainian) == {"reading_time_minutes": 3}
