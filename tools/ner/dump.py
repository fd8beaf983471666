"""What the enrichment makes of a fixed set of items, one line per item: run
it before and after a change that must not change any output, and compare.

    .venv/bin/python -m tools.ner.dump /tmp/before.txt DATA/eng.testa DATA/eng.testb
    ... change ...
    .venv/bin/python -m tools.ner.dump /tmp/after.txt DATA/eng.testa DATA/eng.testb
    cmp /tmp/before.txt /tmp/after.txt

The items: the labelled set (tests/fixtures/enrichment/labelled.yaml), the
300 bench items (`bench.items.corpus`, as `bench/costs.py` makes them), the
typical item of `enrichment.bench`, and one item per document of each
CoNLL-style file given (docs/enrichment.md says where the CoNLL-2003 parts
come from), each through the whole pure pipeline; then, for each sentence of
those files alone, the English model's spans and tags.
"""

from __future__ import annotations

import argparse
import html
import sys
from collections.abc import Iterator
from pathlib import Path

import yaml
from enrichment import ner
from enrichment.config import DEFAULT_CONFIG
from enrichment.pipeline import build_pipeline, run_pipeline
from enrichment.typical import typical_item
from shared.items import NewsItem

from bench.items import corpus, news_item
from tools.ner.corpus import read_conll
from tools.ner.evaluate import AT, as_item, detokenize, from_conll

LABELLED = Path(__file__).resolve().parents[2] / "tests/fixtures/enrichment/labelled.yaml"


def labelled() -> Iterator[NewsItem]:
    for entry in yaml.safe_load(LABELLED.read_text(encoding="utf-8")):
        paragraphs = [p.strip() for p in entry["body"].split("\n\n") if p.strip()]
        yield NewsItem(
            uri=f"urn:newsfeed:labelled:{entry['id']}",
            version=1,
            firstcreated=AT,
            versioncreated=AT,
            headline=entry["headline"],
            body_html="".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs),
        )


def lines(conll: list[Path]) -> Iterator[str]:
    pipeline = build_pipeline(DEFAULT_CONFIG)
    items: list[NewsItem] = [*labelled(), *(news_item(s, AT) for s in corpus(300))]
    items.append(typical_item())
    for path in conll:
        documents = read_conll(path)
        items += [as_item(n, from_conll(d)) for n, d in enumerate(documents)]
    for item in items:
        yield run_pipeline(item, pipeline).model_dump_json()
    model = ner.model()
    for path in conll:
        for document in read_conll(path, docstart=False):
            for sentence in document:
                tokens = [w for w, _ in sentence]
                text = detokenize(tokens)
                yield f"{text}\t{model.spans(text)}\t{model.tag(tokens)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("conll", nargs="*", type=Path, help="CoNLL-style files (eng.testa...)")
    args = parser.parse_args(argv)
    with args.out.open("w", encoding="utf-8") as out:
        count = 0
        for line in lines(args.conll):
            out.write(line + "\n")
            count += 1
    print(f"{count} lines in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
