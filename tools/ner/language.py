"""Language detection on single sentences of public treebanks, per language.

    .venv/bin/python -m tools.ner.language en=/path/en.txt uk=/path/uk.txt ru=/path/ru.txt

Each file has one sentence a line; the first `--limit` (1,000) lines of each
are used. Every sentence is one item's body (no headline), as the service
would see a one-sentence item. Reports accuracy, no answer and what else was
answered, per language and per length (under 40 characters, 40-80, longer).
docs/enrichment.md says which treebanks and how to get them.
"""

from __future__ import annotations

import argparse
import html
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from enrichment.config import EnrichmentConfig
from enrichment.enrichers import language, text
from enrichment.pipeline import Enricher
from shared.items import NewsItem

AT = datetime(2026, 1, 7, 10, 0, tzinfo=UTC)
BUCKETS = ((0, 40, "<40"), (40, 80, "40-80"), (80, 10**9, ">=80"))


def detect(sentence: str, enrichers: tuple[Enricher, Enricher]) -> str | None:
    """The language `enrichers` (text, then language) give a one-sentence item."""
    item = NewsItem(
        uri="urn:newsfeed:eval:language",
        version=1,
        firstcreated=AT,
        versioncreated=AT,
        body_html=f"<p>{html.escape(sentence, quote=False)}</p>",
    )
    for enricher in enrichers:
        item = item.model_copy(update=enricher.enrich(item))
    return item.language


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sets", nargs="+", help="code=path")
    parser.add_argument("--limit", type=int, default=1000)
    args = parser.parse_args(argv)
    config = EnrichmentConfig()
    enrichers = (text.build(config), language.build(config))
    for spec in args.sets:
        code, path = spec.split("=", 1)
        lines = [s.strip() for s in Path(path).read_text(encoding="utf-8").splitlines()]
        # lines without a letter ("8.1.", "13:32") have no language
        sentences = [s for s in lines if any(c.isalpha() for c in s)][: args.limit]
        answers: Counter[str] = Counter()
        by_length: dict[str, list[int]] = {label: [0, 0] for *_, label in BUCKETS}
        for sentence in sentences:
            got = detect(sentence, enrichers) or "none"
            answers[got] += 1
            for low, high, label in BUCKETS:
                if low <= len(sentence) < high:
                    by_length[label][0] += got == code
                    by_length[label][1] += 1
        right = answers[code]
        others = ", ".join(f"{k} {v}" for k, v in answers.most_common() if k != code)
        lengths = "; ".join(
            f"{label}: {r / n:.3f} of {n}" for label, (r, n) in by_length.items() if n
        )
        print(f"{code}: {right / len(sentences):.3f} of {len(sentences)} ({others}) [{lengths}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
