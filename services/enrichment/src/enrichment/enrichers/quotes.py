"""Quoted statements, with their speaker where the text says who said it.

A quote is text between double quotation marks (“…”, "…", «…», „…“) within a
paragraph, of at least `quote_min_words` words: shorter ones are scare quotes
or terms ("new territorial realities"), not statements.

The speaker, in order of preference:

1. right after the quote: `…,” said Andrii Sybiha` / `…,” Sybiha said` /
   `…,” he said` / `«…», — заявив Зеленський` / `…, — сказав він`;
2. before it in the same sentence: `Galuzin said … that “…”`,
   `Зеленський заявив: «…»` — the person named before the speech verb, or
   the last person named if a pronoun stands there.

A pronoun is the last person named before the quote. Names are resolved to
the item's people (as the entities enricher named them) or the gazetteer's,
so "Zelensky", "Зеленський" and "he" all come out as "Volodymyr Zelensky".
If nobody can be named, the quote is kept with no speaker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from shared.items import NewsItem, Quote

from enrichment import lexicon
from enrichment.config import EnrichmentConfig
from enrichment.gazetteer import cached_key_of as key_of
from enrichment.gazetteer import load
from enrichment.nlp import UPPER, norm

NAME = "quotes"
VERSION = "1"

_OPENERS = ('"', "“", "«", "„")
# opening mark -> the quote starting there
_QUOTES = {
    "“": re.compile(r"“([^”“\n]+)”"),
    '"': re.compile(r'"([^"\n]+)"'),
    "«": re.compile(r"«([^»«\n]+)»"),
    "„": re.compile(r"„([^“”„\n]+)[“”]"),
}
_NAME = rf"[{UPPER}][\w'’\-]+(?: (?:[{UPPER}][\w'’\-]+|von|van|der|de|al|bin)){{0,4}}"
_VERBS_AFTER = (
    r"said|says|added|wrote|told|stated|continued|explained|noted|stressed|insisted|warned|"
    r"сказав|сказала|заявив|заявила|написав|написала|додав|додала|наголосив|наголосила|"
    r"зазначив|зазначила|підкреслив|підкреслила|сказал|сказала|заявил|заявила|написал|"
    r"написала|добавил|добавила|отметил|отметила|подчеркнул|подчеркнула"
)
_PRONOUN = r"he|she|they|він|вона|вони|он|она|они"
_TAIL = r"^[\s,.!?]*(?:[—–-]\s*)?"
_AFTER_PRONOUN = re.compile(
    rf"{_TAIL}(?:(?:{_PRONOUN}) (?:{_VERBS_AFTER})|(?:{_VERBS_AFTER}) (?:{_PRONOUN}))\b"
)
_AFTER_VERB_NAME = re.compile(rf"{_TAIL}(?:{_VERBS_AFTER}) (?:the )?({_NAME})")
_AFTER_NAME_VERB = re.compile(rf"{_TAIL}({_NAME}),? (?:also )?(?:{_VERBS_AFTER})\b")
_CAPITALIZED = re.compile(rf"[{UPPER}][\w'’\-]*")
_NEXT_CAPITALIZED = re.compile(rf" ([{UPPER}][\w'’\-]*)")
_SENTENCE_START = re.compile(r"(?:^|[.!?…]\s+|\n)(?=[^.!?…\n]*$)")
_PRONOUN_WORDS = frozenset(_PRONOUN.split("|"))
_TRIM = " ,;:—–-"


@dataclass(frozen=True)
class QuoteFinder:
    config: EnrichmentConfig
    NAME: str = NAME
    VERSION: str = VERSION

    def enrich(self, item: NewsItem) -> dict[str, Any]:
        body = item.text.body_text[: self.config.analysis_max_chars] if item.text else ""
        if not any(opener in body for opener in _OPENERS):
            return {"quotes": ()}
        return {"quotes": tuple(self.find(body, [p.name for p in item.people]))}

    def find(self, text: str, people: list[str]) -> list[Quote]:
        resolver = _Resolver(self.config, people, text)
        quotes: list[Quote] = []
        for match in _quotes(text):
            inner = match.group(1)
            if len(inner.split()) < self.config.quote_min_words:
                continue
            speaker = self._after(text, match.end(), match.start(), resolver) or self._before(
                text, match.start(), resolver
            )
            quotes.append(Quote(text=inner.strip().rstrip(_TRIM).strip(), speaker=speaker))
        return quotes

    def _after(self, text: str, end: int, start: int, resolver: _Resolver) -> str | None:
        tail = text[end : end + 120].split("\n", 1)[0]
        if _AFTER_PRONOUN.match(tail):
            return resolver.last_person_before(start)
        for pattern in (_AFTER_VERB_NAME, _AFTER_NAME_VERB):
            found = pattern.match(tail)
            if found:
                name = resolver.resolve(found.group(1))
                if name:
                    return name
        return None

    def _before(self, text: str, start: int, resolver: _Resolver) -> str | None:
        line_start = text.rfind("\n", 0, start) + 1
        prefix = text[line_start:start]
        sentence = _SENTENCE_START.search(prefix)
        offset = line_start + (sentence.end() if sentence else 0)
        words = list(re.finditer(r"\w+(?:['’\-]\w+)*", text[offset:start]))
        verbs = [w for w in words if lexicon.is_speech_verb(w.group())]
        if not verbs:
            return None
        verb_at = offset + verbs[0].start()
        named = resolver.last_person_before(verb_at, since=offset)
        if named:
            return named
        if any(w.group().lower() in _PRONOUN_WORDS for w in words if w.start() < verbs[0].start()):
            return resolver.last_person_before(offset)
        return None


def _quotes(text: str) -> list[re.Match[str]]:
    """Every quotation in `text`, in order (opening marks found by str.find, in C)."""
    found: list[re.Match[str]] = []
    for mark, pattern in _QUOTES.items():
        at = text.find(mark)
        while at >= 0:
            match = pattern.match(text, at)
            if match:
                found.append(match)
                at = text.find(mark, match.end())
            else:
                at = text.find(mark, at + 1)
    found.sort(key=lambda m: m.start())
    return found


class _Resolver:
    """Turns names in the text into the names of the item's people."""

    def __init__(self, config: EnrichmentConfig, people: list[str], text: str) -> None:
        self.gazetteer = load(config)
        self.text = text
        self.people = people
        self.by_word: dict[str, str] = {}
        for person in people:
            self.by_word.setdefault(norm(person), person)
            self.by_word.setdefault(norm(person.rsplit(" ", 1)[-1]), person)
        self._mentions: list[tuple[int, str]] | None = None

    def resolve(self, name: str) -> str | None:
        """The person `name` refers to, or the name itself if it looks like a full name."""
        words = name.split()
        # the longest run of words that the people or the gazetteer know
        for size in range(len(words), 0, -1):
            for first in range(len(words) - size + 1):
                candidate = " ".join(words[first : first + size])
                known = self._known(candidate)
                if known:
                    return known
        names = [w for w in words if lexicon.is_name_word(w)]
        return " ".join(names) if len(names) >= 2 else None

    def _known(self, candidate: str) -> str | None:
        person = self._lookup(candidate)
        if person is None and " " not in candidate and self._mentions is None:
            # a surname as the text wrote it ("Терехов" after "Ігор Терехов")
            self.mentions()
            person = self.by_word.get(norm(candidate))
        return person

    def _lookup(self, candidate: str) -> str | None:
        key = key_of(candidate)
        person = self.by_word.get(norm(candidate)) or self.by_word.get(key)
        if person:
            return person
        entry = self.gazetteer.keys.get(key)
        if entry is not None and entry.kind == "person":
            return entry.name
        return None

    def mentions(self) -> list[tuple[int, str]]:
        """Where people are named in the text (full names first, then single words)."""
        if self._mentions is None:
            found: list[tuple[int, str]] = []
            skip_to = -1
            for match in _CAPITALIZED.finditer(self.text):
                if match.start() < skip_to:
                    continue
                word = match.group()
                person = None
                following = _NEXT_CAPITALIZED.match(self.text, match.end())
                if following:
                    person = self._lookup(f"{word} {following.group(1)}")
                    if person:
                        self.by_word.setdefault(norm(following.group(1)), person)
                        skip_to = following.end()
                if person is None:
                    person = self._lookup(word)
                if person:
                    found.append((match.start(), person))
            self._mentions = found
        return self._mentions

    def last_person_before(self, position: int, since: int = 0) -> str | None:
        last = None
        for at, person in self.mentions():
            if at >= position:
                break
            if at >= since:
                last = person
        return last


def build(config: EnrichmentConfig) -> QuoteFinder:
    return QuoteFinder(config)
