"""Entity quality on public annotated text, scored as docs/enrichment.md says:
one item per document (its first sentence the headline, the rest the body),
per document the set of distinct names of each kind, names compared case- and
accent-blind without a leading "The"; precision, recall and F1 per kind,
summed over documents.

    .venv/bin/python -m tools.ner.evaluate conll-dev /path/to/eng.testa
    .venv/bin/python -m tools.ner.evaluate conll-test /path/to/eng.testb --misses 30

The corpora are not in the repository (their licences do not allow it, or
they are not ours to ship): `make entity-eval` says where they come from.
"""

from __future__ import annotations

import argparse
import html
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from enrichment import ner
from enrichment.config import EnrichmentConfig
from enrichment.enrichers import entities, text
from enrichment.gazetteer import key_of, load
from enrichment.nlp import fold
from shared.items import NewsItem

from tools.ner.corpus import Document, read_brat, read_conll, spans

AT = datetime(2026, 1, 7, 10, 0, tzinfo=UTC)
KINDS = {"PER": "people", "ORG": "organisations", "LOC": "places"}

_NO_SPACE_BEFORE = re.compile(r" ([,.;:!?%)\]}]|'s\b|’s\b|n't\b|'[dm]\b|'ll\b|'re\b|'ve\b)")
_NO_SPACE_AFTER = re.compile(r"([(\[{$]) ")


def detokenize(tokens: list[str]) -> str:
    """Tokens back to running text ("Smith 's" -> "Smith's", "( 1 )" -> "(1)")."""
    out: list[str] = []
    quote_open = False
    for token in tokens:
        if token in ('"', "``", "''"):
            quote_open = not quote_open
            out.append("\u201c" if quote_open else "\u201d")
        else:
            out.append(token)
    joined = " ".join(out)
    joined = _NO_SPACE_BEFORE.sub(r"\1", joined)
    joined = _NO_SPACE_AFTER.sub(r"\1", joined)
    return joined.replace("\u201c ", "\u201c").replace(" \u201d", "\u201d")


def key(name: str) -> str:
    return fold(name).removeprefix("the ")


@dataclass
class Sample:
    """One document as an item would carry it, and its annotated names."""

    headline: str
    paragraphs: list[str]
    names: list[tuple[str, str]]  # (PER/ORG/LOC, name)


def from_conll(document: Document) -> Sample:
    sentences = [detokenize([w for w, _ in s]) for s in document]
    names = [
        (kind, detokenize(name.split(" ")))
        for sentence in document
        for kind, name in spans(sentence)
    ]
    return Sample(sentences[0], sentences[1:], names)


def from_text(text: str, names: list[tuple[str, str]]) -> Sample:
    lines = [line for line in text.splitlines() if line.strip()]
    return Sample(lines[0] if lines else "", lines[1:], names)


def as_item(number: int, sample: Sample, language: str | None = "en") -> NewsItem:
    body = sample.paragraphs or [""]
    return NewsItem(
        uri=f"urn:newsfeed:eval:{number}",
        version=1,
        firstcreated=AT,
        versioncreated=AT,
        headline=sample.headline[:400],
        language=language,
        body_html="".join(f"<p>{html.escape(s, quote=False)}</p>" for s in body),
    )


_GAZETTEER_KIND = {"people": "person", "organisations": "organisation", "places": "place"}


def canonical(name: str, kind: str) -> str:
    """The gazetteer's name for a name it knows as the same kind ("U.S." ->
    "United States"): the enricher reports canonical names, so the annotated
    names are put in the same form before comparing."""
    keys = load(EnrichmentConfig()).keys
    entry = keys.get(key_of(name))
    if entry is None and name.isupper():
        entry = keys.get(key_of(name.title()))  # as the enricher reads capitals
    if entry is not None and entry.kind == _GAZETTEER_KIND[kind]:
        return entry.name
    return name


def gold(sample: Sample) -> dict[str, set[str]]:
    names: dict[str, set[str]] = {kind: set() for kind in KINDS.values()}
    for kind, name in sample.names:
        field_name = KINDS[kind]
        names[field_name].add(key(canonical(name, field_name)))
    return names


@dataclass
class Score:
    true: Counter[str] = field(default_factory=Counter)
    false_positive: Counter[str] = field(default_factory=Counter)
    false_negative: Counter[str] = field(default_factory=Counter)
    misses: list[str] = field(default_factory=list)

    def figures(self, kind: str | None = None) -> tuple[float, float, float]:
        def total(counter: Counter[str]) -> int:
            return counter[kind] if kind else sum(counter.values())

        tp, fp, fn = total(self.true), total(self.false_positive), total(self.false_negative)
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return precision, recall, f1

    def report(self, title: str) -> str:
        lines = [f"{title}"]
        for kind in (*KINDS.values(), None):
            p, r, f = self.figures(kind)
            label = kind or "all"
            lines.append(f"  {label:<14} P {p:.3f}  R {r:.3f}  F1 {f:.3f}")
        return "\n".join(lines)


def enrich(item: NewsItem, finder: entities.EntityEnricher) -> dict[str, set[str]]:
    item = item.model_copy(update=text.build(finder.config).enrich(item))
    found = finder.enrich(item)
    return {kind: {key(e.name) for e in found[kind]} for kind in KINDS.values()}


class _OtherModel(entities.EntityEnricher):
    """The entities enricher with a model file other than the shipped one
    (a candidate being compared on the development part)."""

    def __init__(self, config: EnrichmentConfig, path: Path) -> None:
        super().__init__(config)
        self.path = path

    def tagger(self) -> ner.Model:
        return ner.Model.load(self.path)


def evaluate(
    documents: list[Sample],
    misses: int = 0,
    language: str | None = "en",
    model: Path | None = None,
) -> tuple[Score, float]:
    finder = (
        entities.build(EnrichmentConfig())
        if model is None
        else _OtherModel(EnrichmentConfig(), path=model)
    )
    score = Score()
    cpu = 0
    for number, document in enumerate(documents):
        item = as_item(number, document, language)
        started = time.thread_time_ns()
        found = enrich(item, finder)
        cpu += time.thread_time_ns() - started if number else 0
        expected = gold(document)
        for kind in KINDS.values():
            score.true[kind] += len(found[kind] & expected[kind])
            wrong = found[kind] - expected[kind]
            missed = expected[kind] - found[kind]
            score.false_positive[kind] += len(wrong)
            score.false_negative[kind] += len(missed)
            if len(score.misses) < misses * 2:
                score.misses += [f"{number} +{kind}: {n}" for n in sorted(wrong)]
                score.misses += [f"{number} -{kind}: {n}" for n in sorted(missed)]
    return score, cpu / max(1, len(documents) - 1) / 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("title")
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--sentences", action="store_true", help="one document per sentence")
    parser.add_argument("--misses", type=int, default=0)
    parser.add_argument("--language", default="en", help="the items' language")
    parser.add_argument("--model", type=Path, help="an exported model other than the shipped one")
    parser.add_argument(
        "--require",
        default="",
        help="fail below these, e.g. all.precision=0.8,all.f1=0.7,people.recall=0.6",
    )
    parser.add_argument(
        "--brat-split", type=Path, help="PATHS are brat folders; the TEST part of this split"
    )
    parser.add_argument(
        "--blank-docs", action="store_true", help="two blank lines end a document (NER-UK)"
    )
    args = parser.parse_args(argv)
    if args.brat_split is not None:
        documents = [
            from_text(text, names)
            for p in args.paths
            for text, names in read_brat(p, args.brat_split)
        ]
    else:
        documents = [
            from_conll(d)
            for p in args.paths
            for d in read_conll(p, docstart=not args.sentences, blank_docs=args.blank_docs)
        ]
    score, micros = evaluate(documents, args.misses, args.language, args.model)
    print(score.report(f"{args.title}: {len(documents)} documents, {micros:.0f} µs CPU each"))
    for line in score.misses[: args.misses * 2]:
        print("  ", line)
    failed = below(score, args.require)
    for line in failed:
        print("  below the threshold:", line)
    return 1 if failed else 0


def below(score: Score, require: str) -> list[str]:
    """The thresholds of `require` ("all.f1=0.7,people.recall=0.6") that
    `score` does not reach."""
    failed: list[str] = []
    measures = ("precision", "recall", "f1")
    for item in filter(None, require.split(",")):
        name, _, value = item.partition("=")
        kind, _, measure = name.strip().partition(".")
        if kind not in (*KINDS.values(), "all") or measure not in measures:
            raise SystemExit(f"--require: no such figure {name!r} (e.g. people.recall)")
        got = score.figures(None if kind == "all" else kind)[measures.index(measure)]
        if got < float(value):
            failed.append(f"{name} {got:.3f} < {float(value)}")
    return failed


if __name__ == "__main__":
    sys.exit(main())
