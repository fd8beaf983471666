"""Readers for the public NER corpora used to train and to measure the
entity finder: CoNLL-2003 style files (IOB1, IOB2 or IOBES tags in the last
column, documents split by -DOCSTART-) and UNER's iob2 files.

A document is a list of sentences; a sentence is a list of (token, tag) with
tags normalised to IOB2 over PER, ORG, LOC (MISC and anything else is O: the
newsroom files people, organisations and places only).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

Sentence = list[tuple[str, str]]
Document = list[Sentence]

TYPES = {
    "PER": "PER",
    "PERSON": "PER",
    "PERS": "PER",
    "ORG": "ORG",
    "ORGANIZATION": "ORG",
    "ORGANISATION": "ORG",
    "LOC": "LOC",
    "LOCATION": "LOC",
    "GPE": "LOC",
    "GEO-LOC": "LOC",
    "FACILITY": "O",
    "CORPORATION": "ORG",
    "GROUP": "ORG",
}


def _type(tag: str) -> str:
    if tag in ("O", "") or "-" not in tag:
        return "O"
    return TYPES.get(tag.split("-", 1)[1].upper(), "O")


def _iob2(tags: list[str]) -> list[str]:
    """IOB1/IOB2/IOBES tags -> IOB2 over the kept types."""
    out: list[str] = []
    previous = "O"
    for tag in tags:
        kind = _type(tag)
        if kind == "O":
            out.append("O")
            previous = "O"
            continue
        prefix = tag.split("-", 1)[0].upper()
        begins = prefix in ("B", "S") or previous != kind
        out.append(("B-" if begins else "I-") + kind)
        # after an E or an S, an I starts a new entity
        previous = "#" if prefix in ("E", "S") else kind
    return out


def read_conll(path: Path, docstart: bool = True, blank_docs: bool = False) -> list[Document]:
    """Token in the first column, tag in the last; blank lines end sentences
    (and, with `blank_docs`, two or more blank lines in a row end documents,
    as in NER-UK's iob files)."""
    documents: list[Document] = []
    document: Document = []
    sentence: list[tuple[str, str]] = []

    def end_sentence() -> None:
        nonlocal sentence
        if sentence:
            tags = _iob2([t for _, t in sentence])
            document.append([(w, t) for (w, _), t in zip(sentence, tags, strict=True)])
            sentence = []

    blanks = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        blanks = blanks + 1 if not line.strip() else 0
        if blank_docs and blanks == 2 and document:
            end_sentence()
            documents.append(document)
            document = []
        if line.startswith("#"):
            if line.startswith("# newdoc") and document:
                end_sentence()
                documents.append(document)
                document = []
            continue
        parts = line.split()
        if not parts:
            end_sentence()
            continue
        if parts[0] == "-DOCSTART-":
            end_sentence()
            if document:
                documents.append(document)
            document = []
            continue
        if len(parts) >= 5 and parts[0].isdigit():  # UNER: id token tag - -
            sentence.append((parts[1], parts[2]))
        else:
            sentence.append((parts[0], parts[-1]))
    end_sentence()
    if document:
        documents.append(document)
    if not docstart:
        return [[s] for d in documents for s in d]
    return documents


def spans(sentence: Sentence) -> Iterator[tuple[str, str]]:
    """(type, name as tokens joined by spaces) of each entity of a sentence."""
    current: list[str] = []
    kind = "O"
    for token, tag in [*sentence, ("", "O")]:
        if tag.startswith("I-") and current and tag[2:] == kind:
            current.append(token)
            continue
        if current:
            yield kind, " ".join(current)
        current, kind = ([token], tag[2:]) if tag != "O" else ([], "O")


def read_brat(
    folder: Path, split: Path, part: str = "TEST"
) -> list[tuple[str, list[tuple[str, str]]]]:
    """NER-UK 2.0: brat standoff files (`<id>.txt`, `<id>.ann`) under
    `folder`, the documents of one part of `split` (dev-test-split.txt).
    Each document is its text and its (type, name) annotations of the kept
    types."""
    wanted: set[str] = set()
    current = ""
    for line in split.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line in ("DEV", "TEST"):
            current = line
        elif line and current == part:
            wanted.add(line)
    out: list[tuple[str, list[tuple[str, str]]]] = []
    for txt in sorted(folder.rglob("*.txt")):
        if txt.stem not in wanted:
            continue
        names: list[tuple[str, str]] = []
        for row in txt.with_suffix(".ann").read_text(encoding="utf-8").splitlines():
            fields = row.split("\t")
            if len(fields) < 3 or not fields[0].startswith("T"):
                continue
            kind = TYPES.get(fields[1].split(" ", 1)[0].upper(), "O")
            if kind != "O":
                names.append((kind, fields[-1]))
        out.append((txt.read_text(encoding="utf-8"), names))
    return out
