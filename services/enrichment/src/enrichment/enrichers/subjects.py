"""Topic tags (ninjs `subjects`) from a rules file and the source's defaults.

A tag applies when its keywords (whole words, case-insensitive, `word*` for
any ending) and its entities (names the entities enricher found) are hit at
least `min_hits` times in the headline and body. Its relevance grows with the
hits and with a hit in the headline: `min(100, 25 + 15 * hits (+ 30 if in
the headline))`. Tags the item's source always gets are added with the
relevance the rules give them. `creator` says which: "rules" or
"source-default". Subjects an upstream source supplied are kept first.

Matching works on the set of the text's words (C-speed set and dict
operations), not a regex per keyword, so the cost does not grow with the
number of rules.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from shared.items import Entity, NewsItem

from enrichment.config import EnrichmentConfig
from enrichment.nlp import fold, slug, word_list

NAME = "subjects"
VERSION = "1"

RULES = "rules"
SOURCE_DEFAULT = "source-default"
CREATORS = frozenset({RULES, SOURCE_DEFAULT})
REL = "about"

_PREFIX = 3  # wildcard stems are looked up by their first letters


@dataclass(frozen=True)
class Tag:
    name: str
    uri: str | None
    min_hits: int


Phrase = tuple[tuple[str, ...], tuple[bool, ...], tuple[int, ...]]  # words, wildcards, tags


@dataclass(frozen=True)
class Rules:
    tags: tuple[Tag, ...]
    # single word -> tags it counts for
    words: dict[str, tuple[int, ...]]
    # first letters -> (stem, tags) of wildcard words ("negotiat*")
    stems: dict[str, tuple[tuple[str, tuple[int, ...]], ...]]
    # phrases of several words by their first word, or by the first letters
    # of a wildcard first word
    phrases: dict[str, tuple[Phrase, ...]]
    wildcard_phrases: dict[str, tuple[Phrase, ...]]
    # folded entity name -> tags
    entities: dict[str, tuple[int, ...]]
    sources: dict[str, tuple[tuple[str, float], ...]]
    fingerprint: str
    # Filled as words are met: every word looked at, and those that count
    # (word -> tags, phrases starting with it).
    seen: set[str] = field(default_factory=set, compare=False, repr=False)
    relevant: dict[str, tuple[tuple[int, ...], tuple[Phrase, ...]]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def learn(self, words: Iterable[str]) -> None:
        """Look new words up once; afterwards set operations find the ones that count."""
        if len(self.seen) > 500_000:
            self.seen.clear()
        for word in words:
            self.seen.add(word)
            tags = set(self.words.get(word, ()))
            prefix = word[:_PREFIX]
            for stem, stem_tags in self.stems.get(prefix, ()):
                if word.startswith(stem):
                    tags.update(stem_tags)
            phrases = self.phrases.get(word, ()) + tuple(
                p for p in self.wildcard_phrases.get(prefix, ()) if word.startswith(p[0][0])
            )
            if tags or phrases:
                self.relevant[word] = (tuple(sorted(tags)), phrases)


def _tags_by(mapping: dict[str, set[int]]) -> dict[str, tuple[int, ...]]:
    return {key: tuple(sorted(value)) for key, value in mapping.items()}


def _source_default(raw: Any) -> tuple[str, float]:
    if isinstance(raw, dict):
        return str(raw["name"]), float(raw.get("relevance", 50))
    return str(raw), 50.0


def parse(data: dict[str, Any], fingerprint: str = "") -> Rules:
    tags: list[Tag] = []
    words: dict[str, set[int]] = {}
    stems: dict[str, set[int]] = {}
    phrases: dict[tuple[str, ...], set[int]] = {}
    entities: dict[str, set[int]] = {}
    for index, raw in enumerate(data.get("tags") or ()):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise ValueError(f"tag rules: every tag needs a name: {raw!r}")
        tags.append(Tag(raw["name"], raw.get("uri"), int(raw.get("min_hits", 1))))
        for keyword in raw.get("keywords") or ():
            parts = tuple(str(keyword).lower().split())
            if any(len(p) <= _PREFIX and p.endswith("*") for p in parts):
                raise ValueError(f"tag {raw['name']!r}: {keyword!r} has too short a stem")
            if len(parts) > 1:
                phrases.setdefault(parts, set()).add(index)
            elif parts[0].endswith("*"):
                stems.setdefault(parts[0][:-1], set()).add(index)
            else:
                words.setdefault(parts[0], set()).add(index)
        for name in raw.get("entities") or ():
            entities.setdefault(fold(str(name)), set()).add(index)
    by_prefix: dict[str, list[tuple[str, tuple[int, ...]]]] = {}
    for stem, indices in sorted(stems.items()):
        by_prefix.setdefault(stem[:_PREFIX], []).append((stem, tuple(sorted(indices))))
    exact_first: dict[str, list[Phrase]] = {}
    wildcard_first: dict[str, list[Phrase]] = {}
    for parts, indices in sorted(phrases.items()):
        phrase: Phrase = (
            tuple(w.rstrip("*") for w in parts),
            tuple(w.endswith("*") for w in parts),
            tuple(sorted(indices)),
        )
        if phrase[1][0]:
            wildcard_first.setdefault(phrase[0][0][:_PREFIX], []).append(phrase)
        else:
            exact_first.setdefault(phrase[0][0], []).append(phrase)
    sources = {
        str(source): tuple(_source_default(d) for d in defaults or ())
        for source, defaults in (data.get("sources") or {}).items()
    }
    return Rules(
        tuple(tags),
        _tags_by(words),
        {prefix: tuple(values) for prefix, values in by_prefix.items()},
        {word: tuple(values) for word, values in exact_first.items()},
        {prefix: tuple(values) for prefix, values in wildcard_first.items()},
        _tags_by(entities),
        sources,
        fingerprint,
    )


@lru_cache(maxsize=4)
def load(path: Path) -> Rules:
    raw = path.read_bytes()
    data = yaml.safe_load(raw) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return parse(data, hashlib.sha256(raw).hexdigest()[:8])


def _word_matches(word: str, part: str, wildcard: bool) -> bool:
    return word.startswith(part) if wildcard else word == part


@lru_cache(maxsize=4096)
def _needle(parts: tuple[str, ...], open_end: bool) -> str:
    """What an exact phrase looks like in the padded text: " peace talks "
    (" war crime" when its last word takes any ending)."""
    return f" {' '.join(parts)}" + ("" if open_end else " ")


def _phrase_hits(tokens: list[str], word: str, phrase: Phrase, padded: str) -> int:
    """How often `phrase`, which starts with `word`, is in the text: exact
    phrases are counted in the text (in C), wildcard ones word by word."""
    parts, wildcards, _ = phrase
    if not any(wildcards[:-1]):  # "peace talks", "war crime*": one count in C
        return padded.count(_needle(parts, wildcards[-1]))
    count = 0
    at = -1
    while True:
        try:
            at = tokens.index(word, at + 1)
        except ValueError:
            return count
        if at + len(parts) <= len(tokens) and all(
            _word_matches(tokens[at + k], parts[k], wildcards[k]) for k in range(1, len(parts))
        ):
            count += 1


def hits(rules: Rules, text: str) -> Counter[int]:
    """How many keyword hits each tag (by index) has in `text`."""
    found: Counter[int] = Counter()
    if not text:
        return found
    # The text enricher has just split the same body into words (cached).
    # Lowercased one by one: most words are ASCII, which str.lower does
    # quickly; lowercasing the whole text (with its typographic quotes and
    # accented names) goes character by character.
    tokens = list(map(str.lower, word_list(text)))
    counts = Counter(tokens)
    words = counts.keys()
    # Not `words - rules.seen`: a dict view minus a set walks the set of seen
    # words when it is up to 8 times the text's; this walks the text's only.
    unseen = set(words).difference(rules.seen)
    if unseen:
        rules.learn(sorted(unseen))
    relevant = rules.relevant
    padded = ""  # the words joined, spaces around: made when a phrase is looked for
    for word in words & relevant.keys():
        tags, starting = relevant[word]
        for tag in tags:
            found[tag] = found.get(tag, 0) + counts[word]  # no __missing__ call
        for phrase in starting:
            parts, wildcards, _ = phrase
            if not wildcards[1] and parts[1] not in counts:
                continue  # "peace deal" needs "deal" somewhere
            if not padded:
                padded = f" {' '.join(tokens)} "
            matched = _phrase_hits(tokens, word, phrase, padded)
            if matched:
                for tag in phrase[2]:
                    found[tag] += matched
    return found


@lru_cache(maxsize=1024)
def _subject(name: str, uri: str | None, relevance: float, creator: str) -> Entity:
    # Frozen, so items can share them.
    return Entity(
        name=name,
        rel=REL,
        uri=uri,
        literal=None if uri else slug(name),
        relevance=relevance,
        creator=creator,
    )


@dataclass(frozen=True)
class SubjectTagger:
    rules: Rules
    analysis_max_chars: int
    NAME: str = NAME

    @property
    def VERSION(self) -> str:
        return f"{VERSION}+{self.rules.fingerprint}"

    def enrich(self, item: NewsItem) -> dict[str, Any]:
        rules = self.rules
        body = item.text.body_text[: self.analysis_max_chars] if item.text else ""
        in_body = hits(rules, body)
        in_headline = hits(rules, item.headline)
        # Plain dict arithmetic: Counter's + and += run Python code per key.
        total = dict(in_body)
        for index, count in in_headline.items():
            total[index] = total.get(index, 0) + count
        if rules.entities:
            for entity in (*item.people, *item.organisations, *item.places):
                for index in rules.entities.get(fold(entity.name), ()):
                    total[index] = total.get(index, 0) + 1
        ours: dict[str, Entity] = {}
        for index in sorted(total):  # the rules' order
            tag, count = rules.tags[index], total[index]
            if count < tag.min_hits or count == 0:
                continue
            relevance = min(100, 25 + 15 * count + (30 if in_headline.get(index) else 0))
            ours[fold(tag.name)] = _subject(tag.name, tag.uri, float(relevance), RULES)
        for name, default_relevance in rules.sources.get(item.source or "", ()):
            key = fold(name)
            if key not in ours:
                ours[key] = _subject(name, None, default_relevance, SOURCE_DEFAULT)
        upstream = [s for s in item.subjects if s.creator not in CREATORS]
        taken = {fold(s.name) for s in upstream}
        added = [s for k, s in ours.items() if k not in taken]
        added.sort(key=lambda s: -(s.relevance or 0))  # stable: rules order among equals
        return {"subjects": tuple(upstream + added)}


def build(config: EnrichmentConfig) -> SubjectTagger:
    return SubjectTagger(load(config.tag_rules_path), config.analysis_max_chars)
