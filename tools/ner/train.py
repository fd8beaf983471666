"""Train the English CRF that `enrichment.ner` ships (data/ner-en.json.gz).

    .venv/bin/python -m tools.ner.train --out /tmp/ner-en.crfsuite \\
        --export services/enrichment/src/enrichment/data/ner-en.json.gz FILE [FILE ...]

FILEs are CoNLL-style or UNER iob2 files (see tools/ner/corpus.py). The
shipped model is trained on openly licensed corpora only; docs/enrichment.md
lists them with their licences and the commits they were read at. Tuning is
done on the CoNLL-2003 development part, never its test part.

Training is deterministic for given files and settings (L-BFGS from zero
weights; the capitalised copies are picked by a fixed-seed generator).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import time
from pathlib import Path

import pycrfsuite
from enrichment.ner import features

from tools.ner.corpus import read_conll


def export(path: Path, bias: dict[str, float], out: Path) -> Path:
    """The CRFsuite model as the service reads it (`enrichment.ner.Model`):
    gzipped JSON of the labels, the weight of each label pair, and each
    feature's weights per label (features CRFsuite's L1 left at zero are
    not there)."""
    tagger = pycrfsuite.Tagger()
    tagger.open(str(path))
    info = tagger.info()
    labels = sorted(info.labels, key=lambda label: (label != "O", label))
    index = {label: k for k, label in enumerate(labels)}
    weights: dict[str, list[float]] = {}
    for (attribute, label), weight in sorted(info.state_features.items()):
        weights.setdefault(attribute, [0.0] * len(labels))[index[label]] = round(weight, 5)
    transitions = [[0.0] * len(labels) for _ in labels]
    for (before, after), weight in info.transitions.items():
        transitions[index[before]][index[after]] = round(weight, 5)
    raw = json.dumps(
        {"labels": labels, "transitions": transitions, "bias": bias, "weights": weights}
    )
    out.write_bytes(gzip.compress(raw.encode(), mtime=0))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--export", type=Path, required=True, help="the model for the service")
    parser.add_argument("--export-only", action="store_true", help="re-export --out")
    parser.add_argument(
        "--bias",
        default="ORG=1,LOC=0.5",
        help="decoding bias towards O per kind (tuned on the CoNLL-2003 development part)",
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--c1", type=float, default=0.1, help="L1 (keeps the model small)")
    parser.add_argument("--c2", type=float, default=0.01)
    parser.add_argument("--iterations", type=int, default=150)
    parser.add_argument(
        "--shout", type=float, default=0.08, help="share of sentences also added in capitals"
    )
    args = parser.parse_args(argv)
    bias = {k: float(v) for k, v in (pair.split("=") for pair in args.bias.split(",") if pair)}
    if args.export_only:
        print(export(args.out, bias, args.export))
        return 0
    chooser = random.Random(15)
    trainer = pycrfsuite.Trainer(verbose=False)
    sentences = 0
    tokens = 0
    for path in args.files:
        documents = read_conll(path, docstart=False)
        names = sum(t.startswith("B-") for d in documents for s in d for _, t in s)
        if not names:
            # A tag column the reader does not understand reads as all O and
            # would teach the model that names are not names (a copy of
            # WikiGold with a backslash after each tag once did).
            parser.error(f"no PER, ORG or LOC names read from {path}")
        print(f"{path}: {names} names", file=sys.stderr)
        for document in documents:
            for sentence in document:
                words = [w for w, _ in sentence]
                tags = [t for _, t in sentence]
                trainer.append(features(words), tags)
                sentences += 1
                tokens += len(words)
                if chooser.random() < args.shout:
                    trainer.append(features([w.upper() for w in words]), tags)
    trainer.set_params(
        {
            "c1": args.c1,
            "c2": args.c2,
            "max_iterations": args.iterations,
            "feature.possible_transitions": True,
        }
    )
    started = time.monotonic()
    trainer.train(str(args.out))
    export(args.out, bias, args.export)
    print(
        f"{sentences} sentences, {tokens} tokens, {time.monotonic() - started:.0f} s, "
        f"{args.out.stat().st_size} bytes -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
