"""Enrichment quality on a labelled set: entity precision and recall, language
and reading-time accuracy. Thresholds and their reasons: docs/enrichment.md.

Run with `-s` to see the figures:
    .venv/bin/pytest -s tests/unit/test_enrich_quality.py
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from enrichment.enrichers import language
from enrichment.nlp import fold, sentences

from tests.support.enrichment import CONFIG, as_item, labelled, run_pipeline

KINDS = ("people", "organisations", "places")

MIN_ENTITY_PRECISION = 0.90
MIN_ENTITY_RECALL = 0.80
MIN_LANGUAGE_ACCURACY = 0.95
MIN_READING_TIME_ACCURACY = 0.95


def key(name: str) -> str:
    """Names compare case- and accent-blind, with a leading "The" dropped
    ("The Kyiv Independent" is "Kyiv Independent")."""
    return fold(name).removeprefix("the ")


@dataclass
class Score:
    items: int = 0
    languages_right: int = 0
    reading_times_right: int = 0
    true: Counter[str] = field(default_factory=Counter)
    false_positive: Counter[str] = field(default_factory=Counter)
    false_negative: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def precision(self, kind: str | None = None) -> float:
        tp = self.true[kind] if kind else sum(self.true.values())
        fp = self.false_positive[kind] if kind else sum(self.false_positive.values())
        return tp / (tp + fp) if tp + fp else 1.0

    def recall(self, kind: str | None = None) -> float:
        tp = self.true[kind] if kind else sum(self.true.values())
        fn = self.false_negative[kind] if kind else sum(self.false_negative.values())
        return tp / (tp + fn) if tp + fn else 1.0

    def report(self, title: str) -> str:
        lines = [
            f"{title}: {self.items} items",
            f"  entities  precision {self.precision():.3f}  recall {self.recall():.3f}",
        ]
        for kind in KINDS:
            lines.append(
                f"    {kind:<14}precision {self.precision(kind):.3f}  "
                f"recall {self.recall(kind):.3f}"
            )
        lines.append(f"  language accuracy     {self.languages_right / self.items:.3f}")
        lines.append(f"  reading time accuracy {self.reading_times_right / self.items:.3f}")
        return "\n".join(lines)


def score(entries: list[dict[str, Any]]) -> Score:
    result = Score()
    for entry in entries:
        enriched = run_pipeline(as_item(entry))
        expected = entry["expected"]
        result.items += 1
        result.languages_right += enriched.language == entry["language"]
        result.reading_times_right += enriched.reading_time_minutes == expected["reading_time"]
        for kind in KINDS:
            want = {key(n) for n in expected[kind]}
            got = {key(e.name) for e in getattr(enriched, kind)}
            result.true[kind] += len(want & got)
            result.false_positive[kind] += len(got - want)
            result.false_negative[kind] += len(want - got)
            if got != want:
                result.errors.append(
                    f"{entry['id']} {kind}: extra {sorted(got - want)} missing {sorted(want - got)}"
                )
    return result


@pytest.fixture(scope="module")
def scores() -> dict[str, Score]:
    entries = labelled()
    held_out = [e for e in entries if e.get("split") == "held-out"]
    figures = {"all": score(entries), "held-out": score(held_out)}
    print()
    print(figures["all"].report("labelled set"))
    print(figures["held-out"].report("of which held out"))
    print("  differences:\n    " + "\n    ".join(figures["all"].errors))
    return figures


def test_the_labelled_set_is_big_enough_and_mixed() -> None:
    entries = labelled()
    assert len(entries) >= 30
    languages = Counter(e["language"] for e in entries)
    assert languages["en"] >= 20
    assert languages["uk"] >= 5
    assert languages["ru"] >= 5
    assert len({e["id"] for e in entries}) == len(entries)


def test_entity_precision_and_recall(scores: dict[str, Score]) -> None:
    for name, figures in scores.items():
        assert figures.precision() >= MIN_ENTITY_PRECISION, name
        assert figures.recall() >= MIN_ENTITY_RECALL, name


def test_language_accuracy(scores: dict[str, Score]) -> None:
    figures = scores["all"]
    assert figures.languages_right / figures.items >= MIN_LANGUAGE_ACCURACY


def test_reading_time_accuracy(scores: dict[str, Score]) -> None:
    figures = scores["all"]
    assert figures.reading_times_right / figures.items >= MIN_READING_TIME_ACCURACY


def test_language_accuracy_on_single_sentences() -> None:
    """Harder than whole items: each sentence of the bodies alone."""
    right = total = 0
    detector = language.build(CONFIG)
    for entry in labelled():
        for sentence in sentences(entry["body"]):
            if len(sentence) < 40:
                continue
            total += 1
            found = detector.enrich(as_item({**entry, "headline": "", "body": sentence}))
            right += found.get("language") == entry["language"]
    print(f"\nlanguage accuracy on {total} single sentences: {right / total:.3f}")
    assert right / total >= MIN_LANGUAGE_ACCURACY
