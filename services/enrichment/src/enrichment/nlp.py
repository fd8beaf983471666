"""Small text tools the enrichers share: tokens, sentences, a light stemmer.

Everything here is a pure function with its regexes compiled once. Nothing
here knows about items.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# A word: letters and digits with inner hyphens or apostrophes
# ("state-controlled", "Ukraine’s", "O'Brien", "G7"), or an acronym written
# with dots ("U.S.").
_TOKEN = re.compile(r"(?:[A-ZА-Я]\.){2,}|\w+(?:['’\-]\w+)*")

# Capital letters of the Latin and Cyrillic scripts, for regex classes.
UPPER = "A-Z" + "".join(
    re.escape(c) for c in map(chr, [*range(0xC0, 0x250), *range(0x400, 0x530)]) if c.isupper()
)
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_APOSTROPHES = ("'s", "’s", "'", "’")


def words(text: str) -> frozenset[str]:
    """The whitespace-separated words of `text` (keeps word lists readable)."""
    return frozenset(text.split())


# Case endings of Ukrainian and Russian nouns and adjectives, longest first.
# Stripping them lets "Україною", "України" and "Україні" all meet "Україна".
# Not the plural genitive "-ів"/"-ов": Харків and Лавров end so in the nominative.
_ENDINGS = tuple(
    sorted(
        words(
            """
            ами ями ого ому ему ими ыми ої ою ею єю ий ій ой ей ый им ым ом ем ах ях ам ям ая
            яя ое ее ые ие ую юю ых их а я у ю і ї и ы е є о й ь
            """
        ),
        key=lambda ending: (-len(ending), ending),
    )
)
_MIN_STEM = 3


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    start: int
    end: int


# Possessive quantifiers: the same words as `\w+(?:['’\-]\w+)*` (a shorter
# run of letters is never followed by a hyphen), found without backtracking.
_WORDS = re.compile(r"\w++(?:['’\-]\w++)*+")


@lru_cache(maxsize=16)
def word_list(text: str) -> tuple[str, ...]:
    """The words of `text`, as counted for word counts and matched by tag
    rules. Cached: several enrichers read the words of the same body.

    The same words as `_WORDS.findall(text)`, found a third quicker: no word
    spans whitespace, so the text splits on it in C first, and most pieces
    are one plain word (`isalnum` is exactly the `\\w+` of a piece without
    "_"); the regex only sees pieces with punctuation or joiners in them.
    """
    found: list[str] = []
    keep = found.append
    add = found.extend
    split_words = _WORDS.findall
    for piece in text.split():
        if piece.isalnum():
            keep(piece)
        else:
            add(split_words(piece))
    return tuple(found)


def name_words(text: str) -> list[str]:
    """The words of a name, acronyms with dots kept whole ("U.S.")."""
    return _TOKEN.findall(text)


def tokens(text: str) -> list[Token]:
    return [Token(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def is_cyrillic(word: str) -> bool:
    return _CYRILLIC.match(word) is not None


def stem(word: str) -> str:
    """Strip one case ending from a Cyrillic word, keeping at least three letters."""
    if not is_cyrillic(word):
        return word
    lower = word.lower()
    for ending in _ENDINGS:
        if lower.endswith(ending) and len(word) - len(ending) >= _MIN_STEM:
            return word[: -len(ending)]
    return word


def norm_uncached(word: str) -> str:
    """The form gazetteer keys and text tokens are compared in: no possessive
    ending, no Cyrillic case ending; case is kept (names are capitalized)."""
    for suffix in _APOSTROPHES:
        if word.endswith(suffix) and len(word) > len(suffix):
            word = word[: -len(suffix)]
            break
    return stem(word)


# Words of running text repeat a lot; names built into gazetteers do not, and
# go through `norm_uncached` so they do not fill the cache.
norm = lru_cache(maxsize=8192)(norm_uncached)


@lru_cache(maxsize=16384)
def fold(text: str) -> str:
    """Case- and accent-insensitive form, for comparing names."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("’", "'")


def slug(text: str) -> str:
    return re.sub(r"[^\w]+", "-", fold(text)).strip("-")


# -- sentences ---------------------------------------------------------------------

# Words after which a full stop does not end a sentence.
ABBREVIATIONS = frozenset(
    {
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "gen",
        "lt",
        "col",
        "maj",
        "capt",
        "sgt",
        "adm",
        "sen",
        "rep",
        "gov",
        "st",
        "no",
        "vs",
        "etc",
        "inc",
        "ltd",
        "co",
        "corp",
        "jr",
        "sr",
        "e.g",
        "i.e",
        "u.s",
        "u.k",
        "u.n",
        "e.u",
        "approx",
        "est",
        "fig",
        "vol",
        "pp",
        "ім",
        "вул",
        "р",
        "рр",
        "т",
        "тис",
        "млн",
        "млрд",
        "ул",
        "г",
        "гг",
        "им",
        "ст",
    }
)
# A run of sentence-final marks (and closing quotes) before the capital of the
# next sentence, or of line breaks. Written to start with one character class,
# which the regex engine scans for in C (an alternation at the start it tries
# at every position, about 3 times slower).
_SENTENCE_END = re.compile(
    r"[.!?…\n](?:(?<=[.!?…])[.!?…]*[\"”»’)]*(?=\s+[\"“«‘(]?[^\W_a-zа-яіїєґ])|(?<=\n)\n*)"
)
_WORD_BEFORE = re.compile(r"([\w.]+)\.$")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence; a line break always ends one."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        if match.group().startswith("."):
            before = _WORD_BEFORE.search(text, max(0, match.start() - 12), match.start() + 1)
            if before:
                word = before.group(1).lower()
                # "Jan. 7", "U.S. officials", "J. Smith": not an end.
                if word in ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
                    continue
        if text[start:end].strip():
            spans.append((start, end))
        start = end
    if text[start:].strip():
        spans.append((start, len(text)))
    return [(s + len(text[s:e]) - len(text[s:e].lstrip()), e) for s, e in spans]


def sentences(text: str) -> list[str]:
    return [text[s:e].strip() for s, e in sentence_spans(text)]


# -- scripts -----------------------------------------------------------------------

_CJK = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f]")


# Every CJK character is at or above U+2E80: one range is quicker to rule
# out than the five of `_CJK` (typographic quotes and accents are below it).
_FROM_CJK = re.compile("[^\x00-\u2e7f]")


def has_cjk(text: str) -> bool:
    return (
        not text.isascii() and _FROM_CJK.search(text) is not None and _CJK.search(text) is not None
    )


def cjk_count(text: str) -> int:
    return len(_CJK.findall(text))


def without_cjk(text: str) -> str:
    return _CJK.sub(" ", text)
