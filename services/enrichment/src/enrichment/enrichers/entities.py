"""People, organisations and places mentioned in the item, in ninjs shape.

Three passes over the capitalized words of the headline and the plain body:

1. **Gazetteer** (`creator: "gazetteer"`): the longest name found in the
   newsroom's gazetteer (people, organisations, places; with aliases and
   Ukrainian and Russian forms) or the world's (countries and major cities
   with their alternative names). A world name must also look like a place
   where it stands: not glued to other capitalized words ("Washington Post",
   "Andrew Jackson"), and for names that are also common words ("Reading",
   "Nice") only after "in", "from", "near"...
2. **Heuristics** (`creator: "heuristic"`, body only): capitalized name
   sequences that the text itself marks as a person's — a title before
   ("President", "foreign policy analyst", "міністр") or after
   ("Mikhail Galuzin, Russian deputy foreign minister,"), or a speech verb
   ("... said", "said ..."); and sequences ending in an organisation word
   ("Ministry", "Council", "Forces").
3. **Coreference**: a surname alone ("Galuzin also said", "Following
   Galuzin’s claim") is the person the heuristics found named in full.

Every entity gets `rel: "mentioned"`, a `uri` where the gazetteer has one
(geonames for places) or else a `literal` slug, a `confidence` (how sure the
pass that found it is) and a `relevance` (0-100: in the headline, and how
often it is mentioned). Entities an upstream source supplied (any other
creator) are kept as they are.

Only capitalized words (found by one regex scan) start any work, so the cost
per item grows with the number of names, not of words.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from itertools import accumulate, pairwise
from operator import itemgetter
from typing import Any, NamedTuple

from shared.items import Entity, NewsItem

from enrichment import lexicon, ner
from enrichment.config import EnrichmentConfig
from enrichment.gazetteer import (
    CITY,
    Entry,
    Gazetteer,
    Kind,
    cached_key_of,
    fingerprint_of,
    load,
)
from enrichment.nlp import UPPER, fold, is_cyrillic, norm, slug, words

NAME = "entities"
VERSION = "1"
# NEWSFEED_ENRICH_DISABLED=["entity_model"] keeps the gazetteers and rules and
# sheds the statistical model's cost (about half of the pipeline's).
MODEL_SWITCH = "entity_model"
SWITCHES = (MODEL_SWITCH,)

GAZETTEER = "gazetteer"
HEURISTIC = "heuristic"
MODEL = "model"
CREATORS = frozenset({GAZETTEER, HEURISTIC, MODEL})
_MODEL_KINDS: dict[str, Kind] = {"PER": "person", "ORG": "organisation", "LOC": "place"}
REL = "mentioned"
FIELDS: dict[Kind, str] = {"person": "people", "organisation": "organisations", "place": "places"}

# A capitalized word, or an acronym with dots ("U.S.").
_CAPITALIZED = re.compile(rf"[{UPPER}](?:(?:\.[A-Z])+\.|[\w'’\-]*)")
_CAPITALIZED_SPLIT = re.compile(f"({_CAPITALIZED.pattern})")
# Any word, for looking around a capitalized one.
_WORD = re.compile(r"(?:[A-ZА-Я]\.){2,}|\w+(?:['’\-]\w+)*")
_SENTENCE_BREAK = frozenset('.!?:;\n"“”«»()')
_WORD_INSIDE = frozenset("'’-")
_POSSESSIVE = ("'s", "’s")
_ADVERBS = words("also has had have later then previously earlier reportedly")
MAX_NAME = 300
_GEONAMES = "https://sws.geonames.org/"
# The model's organisation named like a place: a team or a body ("Essex").
_TEAM = ("organisation", "place")
# Endings of demonyms ("Bosnian", "Danish", "Welsh", "Iraqi"); a word the
# gazetteer knows as a place ("Bangladesh", "Helsinki") is not one.
_DEMONYM_ENDINGS = ("ian", "ish", "ese", "ean", "can", "ench", "sh", "i")

# A capitalized name followed by a score, twice in a line: results or a table.
_SCORE = re.compile(r"[A-Z][\w.'’\-]*(?: [A-Z][\w.'’\-]*)* \d")
# The same, found faster: a capitalized word and a number after it.
_SCORE_ANYWHERE = re.compile(r"[A-Z][\w.'’\-]* \d")
_AFTER_NAME = re.compile(r"[A-Z][\w.'’\-]*(?: [A-Z][\w.'’\-]*)*")
_SCORE_AFTER = re.compile(r" \d")
_LOWER_LETTERS = re.compile("[a-z]+")
# What follows the place of a dateline: "LONDON 1996-08-30", "Kyiv, Jan. 7",
# "NEW YORK (Reuters)".
_DATELINE = re.compile(r",? (?:\d{4}-\d\d-\d\d|[A-Z][a-z]{2}\.? \d|\()")
_THE = frozenset(("the",))
# A competitor and their country: "Michelle Freeman (Jamaica)".
_COMPETITOR = re.compile(r"([A-Z][a-z][\w'’\-]*(?: [A-Z][\w'’\-]*){1,3}) \(([A-Z][\w. ]+)\)")
# Last words of names written with a dot.
_ABBREVIATED_ENDINGS = tuple(
    f" {w}" for a in ["Corp", "Inc", "Co", "Cos", "Ltd", "Bros", "Jr", "Sr"] for w in (a, a.upper())
)
# Words that describe the name after them: "Brazilian-born", "Ohio-based".
_DESCRIBED = ("-born", "-based")
# Initials and a surname: "A. Dale", "T.O'Gorman", "J.J. Kenny".
_INITIALED = re.compile(r"[A-Z]\.(?: ?[A-Z]\.)? ?([A-Z](?:['’][A-Z])?[a-z][\w'’\-]*[a-z])\b")
_SCORE_BETWEEN = re.compile(r"\d+(?:-\d+)? ")
# A row of a table: a name, maybe a note in brackets, then two numbers or more.
_ROW = re.compile(
    r"([A-Z][\w.'’\-]*(?: [A-Z][\w.'’\-]*)*)(?: \([^)]*\))? \d+(?:[-.]\d+)?(?: [-+\d.]+)+"
)


def _team_name(name: str) -> bool:
    """Could name a team: not a table's head, a weekday or an opener ("W L
    PCT", "FRIDAY", "Total"), not a single letter."""
    parts = name.split(" ")
    if len(parts[0]) == 2 and parts[0][1] == ".":
        return False  # an initial: a player ("A. Dale 4-36")
    return len(name) > 2 and not any(
        lexicon.classify(w) & (lexicon.NOT_A_NAME | lexicon.TITLE) for w in parts
    )


def _locative_in_sports(word: str) -> bool:
    """ "at", "At" ("At Bristol: Gloucestershire 183"), not "AT" (a fixture
    in capitals: "KANSAS CITY AT DETROIT")."""
    return word.lower() in lexicon.SPORTS_LOCATIVES and not word.isupper()


# How far back `word_ending` looks for the space before a word in C.
_WALK = 40

# How sure each way of finding a name is.
CONFIDENCE_NEWSROOM = 0.95
CONFIDENCE_WORLD = 0.9
CONFIDENCE_WORLD_AMBIGUOUS = 0.75
CONFIDENCE_TITLED = 0.8
CONFIDENCE_SPEAKER = 0.7
CONFIDENCE_BOTH = 0.85
CONFIDENCE_SINGLE_TITLED = 0.6
CONFIDENCE_ORGANISATION = 0.7
CONFIDENCE_MODEL = 0.7

Word = tuple[str, int, int]  # text, start, end


class Found(NamedTuple):
    kind: Kind
    name: str
    uri: str | None
    literal: str | None
    start: int
    confidence: float
    creator: str


_START = itemgetter(4)  # Found.start, read in C when sorting
# Builds a Found from a tuple of its fields in C; calling Found(...) goes
# through the Python-level __new__ NamedTuple generates (4 times slower).
_new_found = tuple.__new__


def _strip_possessive(word: str) -> str:
    for suffix in _POSSESSIVE:
        if word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _plain_word(word: str) -> bool:
    """A matched word that `_Text.word_ending` at its end would give back
    unchanged: it ends in a letter or digit and holds nothing the walk stops
    at ("_", the dots of "U.S.")."""
    return word[-1].isalnum() and "_" not in word and "." not in word


class _Text:
    """One text and its capitalized words, with what the passes have used."""

    def __init__(self, text: str) -> None:
        self.text = text
        # Split into [between, capitalized, between, ...] and offsets, both in
        # C (match objects cost more than the words). What is between ends
        # with the character before the word; a capitalized word right after
        # another one (empty between) follows the dot of an acronym ("U.S.A").
        parts = _CAPITALIZED_SPLIT.split(text)
        offsets = list(accumulate(map(len, parts)))
        self.caps: list[Word] = [
            (parts[k], offsets[k - 1], offsets[k])
            for k in range(1, len(parts), 2)
            if not ((before := parts[k - 1][-1:]).isalnum() or before in _WORD_INSIDE)
        ]  # not "iPhone", "McDonald"
        self.used: set[int] = set()  # start offsets of words already claimed

    def inside_word(self, start: int) -> bool:
        before = self.text[start - 1]
        return before.isalnum() or before in _WORD_INSIDE

    def next_word(self, end: int) -> Word | None:
        """The word right after `end` if only one space separates them."""
        text = self.text
        if text[end : end + 1] != " " or not text[end + 1 : end + 2].isalnum():
            return None
        match = _WORD.match(text, end + 1)
        return (match.group(), match.start(), match.end()) if match else None

    def prev_word(self, start: int) -> Word | None:
        """The word right before `start` if only one space separates them."""
        if start < 2 or self.text[start - 1] != " ":
            return None
        return self.word_ending(start - 1)

    def word_ending(self, end: int) -> Word | None:
        """The word whose last character is just before `end`."""
        text = self.text
        if end < 1 or not text[end - 1].isalnum():
            return None
        # Most words are letters after a space: found in C. Anything else
        # (hyphens, apostrophes, brackets, a line start) takes the walk below.
        space = text.rfind(" ", max(0, end - _WALK), end)
        if space >= 0:
            candidate = text[space + 1 : end]
            if candidate.isalnum():
                return candidate, space + 1, end
        begin = end - 1
        while begin > 0 and (text[begin - 1].isalnum() or text[begin - 1] in _WORD_INSIDE):
            begin -= 1
        return text[begin:end], begin, end

    def sentence_initial(self, start: int) -> bool:
        k = start - 1
        while k >= 0 and self.text[k] == " ":
            k -= 1
        return k < 0 or self.text[k] in _SENTENCE_BREAK

    def after(self, end: int, count: int) -> list[Word]:
        """Up to `count` words following `end`, each one space after the last."""
        words: list[Word] = []
        while len(words) < count:
            word = self.next_word(end)
            if word is None:
                break
            words.append(word)
            end = word[2]
        return words


@dataclass(frozen=True)
class EntityFinder:
    gazetteer: Gazetteer
    tagger: ner.Model | None = None
    _memo: dict[str, tuple[str, Entry | None, frozenset[str] | None]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @cached_property
    def lower_first(self) -> tuple[str, ...]:
        """Names that start with a lowercase word ("von der Leyen"): those words.
        Only the newsroom's own: the world's lowercase names are noise ("the ...")."""
        keys = self.gazetteer.keys.items()
        firsts = {key.split(" ", 1)[0] for key, entry in keys if not entry.world}
        return tuple(sorted(w for w in firsts if not w[:1].isupper()))

    # -- pass 1: gazetteers --------------------------------------------------

    def _candidates(self, t: _Text) -> list[Word]:
        lower: list[Word] = []
        text = t.text
        for word in self.lower_first:
            at = text.find(word + " ")
            while at >= 0:
                if at == 0 or not t.inside_word(at):
                    lower.append((word, at, at + len(word)))
                at = text.find(word + " ", at + 1)
        return sorted(t.caps + lower, key=lambda w: w[1]) if lower else t.caps

    def _lookup(self, word: str) -> tuple[str, Entry | None, frozenset[str] | None]:
        """A word's key, the entry it names alone, and the first letters of the
        words that can follow it in a longer name. Memoized per word."""
        known = self._memo.get(word)
        if known is None:
            key = norm(word)
            known = (key, self.gazetteer.keys.get(key), self.gazetteer.prefixes.get(key))
            if len(self._memo) > 100_000:
                self._memo.clear()
            self._memo[word] = known
        return known

    def _gazetteer_pass(self, t: _Text, found: list[Found]) -> None:
        keys = self.gazetteer.keys
        prefixes = self.gazetteer.prefixes
        used = t.used
        text = t.text
        memo = self._memo
        for word, start, end in self._candidates(t):
            if start in used:
                continue
            key, entry, firsts = memo.get(word) or self._lookup(word)
            if firsts is None:  # no longer name starts here: the common case
                if entry is None:
                    continue
                length, last, matched = 1, (word, start, end), None
            else:
                # "New" -> "New York" -> "New York City"; the next word's
                # first letter rules most continuations out before any work
                length, last = (1 if entry is not None else 0), (word, start, end)
                matched = [(word, start, end, key)]
                after = end
                while firsts is not None and text[after + 1 : after + 2] in firsts:
                    following = t.next_word(after)
                    if following is None:
                        break
                    key = f"{key} {norm(following[0])}"
                    matched.append((*following, key))
                    longer = keys.get(key)
                    if longer is not None:
                        entry, length, last = longer, len(matched), following
                    firsts = prefixes.get(key)
                    after = following[2]
                if entry is None:
                    continue
                key = matched[length - 1][3]
            if entry.kind == "place":
                confidence = self._place_confidence(t, start, last, key, entry.world)
                if not confidence:
                    continue
            elif entry.kind == "person" and length == 1 and self._other_first_name(t, start):
                continue  # "Oleksii Kuleba" is not the gazetteer's Dmytro Kuleba
            else:
                confidence = CONFIDENCE_NEWSROOM
            found.append(
                _new_found(
                    Found,
                    (
                        entry.kind,
                        entry.name,
                        entry.uri,
                        entry.literal,
                        start,
                        confidence,
                        GAZETTEER,
                    ),
                )
            )
            if matched is None or length == 1:
                used.add(start)
                continue
            used.update(w[1] for w in matched[:length])
            if word.endswith(_POSSESSIVE):
                # "Ukraine's General Staff" names Ukraine too
                owner = keys.get(norm(word))
                if owner is not None and owner.kind == "place":
                    found.append(
                        Found(
                            "place",
                            owner.name,
                            owner.uri,
                            owner.literal,
                            start,
                            CONFIDENCE_WORLD,
                            GAZETTEER,
                        )
                    )

    def _other_first_name(self, t: _Text, start: int) -> bool:
        """A capitalized unknown word right before a surname: someone else's first name."""
        previous = t.prev_word(start)
        return (
            previous is not None
            and previous[1] not in t.used
            and not t.sentence_initial(previous[1])
            and lexicon.is_name_word(previous[0])
        )

    def _place_confidence(self, t: _Text, start: int, last: Word, key: str, world: bool) -> float:
        """How sure we are that a gazetteer place name, ending with the word
        `last`, is a place here (0: it is not)."""
        text = t.text
        end = last[2]
        previous = t.prev_word(start) if text[start - 2 : start - 1].isalnum() else None
        if key in self.gazetteer.ambiguous:
            if previous is not None and previous[0] in lexicon.LOCATIVES:
                return CONFIDENCE_WORLD_AMBIGUOUS
            return 0.0
        if previous is not None and previous[0][0].isupper() and previous[1] not in t.used:
            word = previous[0]
            opener = t.sentence_initial(previous[1]) and word.lower().endswith(("ing", "ed", "ly"))
            if not (
                opener
                or word.endswith(_POSSESSIVE)
                or lexicon.classify(word) & (lexicon.NOT_A_NAME | lexicon.TITLE)
            ):
                return 0.0  # "Andrew Jackson", "Alexander Pushkin"
        confident = CONFIDENCE_WORLD if world else CONFIDENCE_NEWSROOM
        ending = last if _plain_word(last[0]) else t.word_ending(end)
        if ending is not None and (
            ending[0].endswith(_POSSESSIVE)  # "Ukraine's Khortytsia group"
            or (
                "\u0400" <= ending[0][0] <= "\u04ff"
                and (norm(ending[0]) != ending[0] or ending[0].isupper())
            )
        ):
            # "міністр закордонних справ Росії Михайло Галузін", "посланник США
            # Кит Келлог": a place in a case form (or an abbreviation, which
            # does not decline) is often followed by a name, not part of it.
            return confident
        if text[end : end + 1] == " " and text[end + 1 : end + 2].isupper():
            following = t.next_word(end)
            if (
                following is not None
                and not lexicon.is_title(following[0])
                and following[0].lower() not in lexicon.TIME_WORDS
            ):
                # "Washington Post", "Kyiv City Council", "Sofia Ivanova",
                # "Александр Стубб"
                return 0.0
        return confident

    # -- pass 2: heuristics --------------------------------------------------

    def _runs(self, t: _Text, body_from: int) -> list[list[Word]]:
        """Runs of unclaimed capitalized words one space apart, with particles
        ("von der") and, once an organisation word is in, joiners inside
        ("Coordination Headquarters for the Treatment of Prisoners of War")."""
        runs: list[list[Word]] = []
        run: list[Word] = []
        has_head = False
        for word in t.caps:
            if word[1] in t.used or word[1] < body_from:
                continue
            if run and self._continues(t, run[-1], word, has_head):
                run.append(word)
                has_head = has_head or lexicon.is_org_head(word[0])
                continue
            if run:
                runs.append(run)
            run = [word]
            has_head = lexicon.is_org_head(word[0])
        if run:
            runs.append(run)
        return runs

    def _continues(self, t: _Text, last: Word, word: Word, has_head: bool) -> bool:
        if last[0].endswith(_POSSESSIVE):
            return False  # "Zelensky's Chief of Staff": a name ends at the possessive
        gap = t.text[last[2] : word[1]]
        if gap == " ":
            return True
        # At most two words between, spaces around: ruled out before splitting.
        if gap[:1] != " " or gap[-1:] != " " or gap.count(" ") > 3:
            return False
        inner = gap[1:-1].split(" ")
        if all(w in lexicon.NAME_PARTICLES for w in inner):
            return True
        return has_head and all(w in lexicon.ORG_JOINERS for w in inner)

    def _heuristic_pass(self, t: _Text, body_from: int, found: list[Found]) -> None:
        for run in self._runs(t, body_from):
            if len(run) == 1:
                # One word alone (most runs: "Tuesday", "Telegram") is neither:
                # an organisation needs a head and a word before it, a person a
                # title in the run.
                continue
            rest = self._organisation(t, run, found)
            if rest < len(run):  # "Kyiv City Council Secretary Volodymyr Bondarenko"
                self._person(t, run[rest:], found)

    def _organisation(self, t: _Text, run: list[Word], found: list[Found]) -> int:
        """An organisation's name at the start of the run; returns how many of
        the run's words it took (0 if there is none)."""
        words = [w[0] for w in run]
        heads = [k for k, w in enumerate(words) if lexicon.is_org_head(w)]
        if not heads:
            return 0
        first = 0
        while first < len(run) - 1 and words[first].lower() in lexicon.OPENERS:
            first += 1
        # "Ministry of Foreign Affairs" runs to the end; otherwise end at the head.
        joined = any(
            t.text[run[k - 1][2] : run[k][1]] != " " for k in range(heads[0] + 1, len(run))
        )
        last = len(run) - 1 if joined else heads[-1]
        if last - first < 1 or any(lexicon.is_title(w) for w in words[first : last + 1]):
            return 0
        start, end = run[first][1], run[last][2]
        end = self._of_place(t, end, found)  # "National Union of Journalists of Ukraine"
        name = _strip_possessive(t.text[start:end])[:MAX_NAME]
        t.used.update(w[1] for w in run[first : last + 1])
        found.append(
            _new_found(
                Found,
                ("organisation", name, None, slug(name), start, CONFIDENCE_ORGANISATION, HEURISTIC),
            )
        )
        return last + 1

    def _of_place(self, t: _Text, end: int, found: list[Found]) -> int:
        """Where an organisation's name ends if "of <place>" follows it: the
        place found there becomes part of the name."""
        if t.text[end : end + 4] != " of ":
            return end
        for index, mention in enumerate(found):
            if mention.start == end + 4 and mention.kind == "place":
                place = t.next_word(end + 3)
                if place is None:
                    return end
                del found[index]
                return place[2]
        return end

    def _person(self, t: _Text, run: list[Word], found: list[Found]) -> bool:
        words = [w[0] for w in run]
        # Leading titles and openers: "President", "Following", "Foreign Minister".
        first = 0
        titled = False
        while first < len(run) and not lexicon.is_name_word(words[first]):
            titled = lexicon.is_title(words[first])
            first += 1
        if first == len(run):
            return False
        last = first
        while last + 1 < len(run) and lexicon.is_name_word(words[last + 1]):
            last += 1
        count = last - first + 1
        if count == 1 and first == 0:
            # One name word is a person only after a title in the run
            # ("Governor Syniehubov"); this is the common case ("Tuesday",
            # "Telegram"), decided before any look around.
            return False
        if count > 4 or any(w.lower() in self.gazetteer.not_names for w in words[first : last + 1]):
            return False
        start, end = run[first][1], run[last][2]
        if not titled:
            titled = self._title_before(t, run[0][1])
        if count == 1:
            if not titled:
                return False
            confidence = CONFIDENCE_SINGLE_TITLED
        else:
            described = self._title_after(t, end)
            speaking = self._speech_after(t, end) or self._speech_before(t, start)
            if (titled or described) and speaking:
                confidence = CONFIDENCE_BOTH
            elif titled or described:
                confidence = CONFIDENCE_TITLED
            elif speaking and (self.tagger is None or is_cyrillic(words[first])):
                # Without a title, "X said" says little ("Salomon Brothers
                # said"): the model decides English names.
                confidence = CONFIDENCE_SPEAKER
            else:
                return False
        name = _strip_possessive(t.text[start:end])[:MAX_NAME]
        t.used.update(w[1] for w in run[first : last + 1])
        found.append(
            _new_found(Found, ("person", name, None, slug(name), start, confidence, HEURISTIC))
        )
        return True

    def _title_before(self, t: _Text, start: int) -> bool:
        """A title just before the name: "analyst Ivan Fechko", "Chief of Staff,
        Andriy Yermak", "міністр закордонних справ Андрій Сибіга", "очільник
        Одеської обласної військової адміністрації Олег Кіпер"."""
        text = t.text
        if text[start - 2 : start] == ", ":
            previous = t.word_ending(start - 2)
            return previous is not None and lexicon.is_title(previous[0])
        position = start
        inside_organisation = False
        for _ in range(8):  # the title, and the words that qualify it
            previous = t.prev_word(position)
            if previous is None:
                return False
            word = previous[0]
            if lexicon.is_title(word):
                return True
            if lexicon.is_org_head(word):
                inside_organisation = True  # "... of the Regional Administration Name"
            elif word[0].isupper() and not inside_organisation and previous[1] not in t.used:
                return False  # (a place may stand between: "голова Львова Андрій Садовий")
            position = previous[1]
        return False

    def _title_after(self, t: _Text, end: int) -> bool:
        """An apposition with a title: "Mikhail Galuzin, Russian deputy foreign minister,"."""
        if t.text[end : end + 2] != ", ":
            return False
        first = _WORD.match(t.text, end + 2)
        if first is None:
            return False
        words = [first.group(), *(w[0] for w in t.after(first.end(), 5))]
        return any(lexicon.is_title(w) for w in words)

    def _speech_after(self, t: _Text, end: int) -> bool:
        following = t.after(end, 2)
        if not following:
            return False
        if following[0][0].lower() in _ADVERBS and len(following) > 1:
            return lexicon.is_speech_verb(following[1][0])
        return lexicon.is_speech_verb(following[0][0])

    def _speech_before(self, t: _Text, start: int) -> bool:
        previous = t.prev_word(start)
        if previous is None:
            return False
        if lexicon.is_speech_verb(previous[0]):
            return True
        if previous[0] == "to":
            before = t.prev_word(previous[1])
            return before is not None and before[0].lower() == "according"
        return False

    def _initialed(self, t: _Text, found: list[Found]) -> None:
        """A surname after one or two initials is a person's ("A. Dale",
        "T.O'Gorman", "J.J. Kenny"): lists of players, scorecards, bylines.
        Not a place's abbreviation ("U.S. Open", "S. Korea")."""
        if not any(len(word[0]) == 1 for word in t.caps):
            return  # no capital letter alone: no initial
        keys = self.gazetteer.keys
        text = t.text
        for match in _INITIALED.finditer(text):
            surname = match.group(1)
            start = match.start(1)
            before = text[match.start() - 1 : match.start()]
            if (
                before.isalnum()
                or before == "."
                or match.start() in t.used
                or not lexicon.is_name_word(surname)
            ):
                continue  # inside a word or an acronym ("AT&T.", "U.S.A. Today")
            alone = None
            if start in t.used:
                # the model's "Dale" of "A. Dale" is A. Dale
                alone = next((m for m in found if m.start == start and m.name == surname), None)
                if alone is None or alone.kind != "person":
                    continue
            initials = match.group()[: start - match.start()].strip()
            if keys.get(cached_key_of(initials)) is not None or (
                keys.get(cached_key_of(surname)) is not None or surname.endswith(_DEMONYM_ENDINGS)
            ):
                continue
            name = match.group()
            t.used.update((match.start(), start))
            if alone is not None:
                found.remove(alone)
            found.append(
                _new_found(
                    Found,
                    (
                        "person",
                        name,
                        None,
                        slug(name),
                        match.start(),
                        CONFIDENCE_SPEAKER,
                        HEURISTIC,
                    ),
                )
            )

    # -- pass 3: surnames ----------------------------------------------------

    def _coreference_pass(self, t: _Text, found: list[Found]) -> None:
        surnames: dict[str, Found] = {}
        for mention in found:
            if mention.kind == "person" and mention.creator != GAZETTEER and " " in mention.name:
                surnames.setdefault(norm(mention.name.rsplit(" ", 1)[1]), mention)
        if not surnames:
            return
        # The model's one-word people who are someone's surname are that one.
        for index, mention in enumerate(found):
            if mention.kind == "person" and mention.creator == MODEL and " " not in mention.name:
                person = surnames.get(norm(mention.name))
                if person is not None and person is not mention:
                    found[index] = mention._replace(
                        name=person.name, literal=person.literal, uri=person.uri
                    )
        for word, start, _ in t.caps:
            if start in t.used:
                continue
            person = surnames.get(norm(word))
            if person is not None:
                t.used.add(start)
                found.append(
                    Found(
                        "person",
                        person.name,
                        None,
                        person.literal,
                        start,
                        person.confidence,
                        HEURISTIC,
                    )
                )

    # -- pass 2a: the statistical model ---------------------------------------

    def _model_pass(self, t: _Text, tagger: ner.Model, found: list[Found]) -> None:
        """Names the CRF tags that the gazetteer did not claim. A name the
        gazetteer knows is linked to its entry; a longer name around a world
        place ("Bank of England") replaces the place. Titles before a name
        are not part of it ("Prime Minister Benjamin Netanyahu"), and one
        word that is a demonym or an opener is no name ("Israeli")."""
        keys = self.gazetteer.keys
        caps = t.caps
        starts = [w[1] for w in caps]
        text = t.text
        for tag, start, end in tagger.spans(text):
            kind = _MODEL_KINDS.get(tag)
            if kind is None:
                continue
            inside = caps[bisect_left(starts, start) : bisect_left(starts, end)]
            strip = lexicon.TITLE | lexicon.NOT_A_NAME if kind == "person" else lexicon.TITLE
            while inside and (
                lexicon.classify(inside[0][0]) & strip
                or inside[0][0].endswith(_DESCRIBED)
                or (kind == "person" and len(inside) > 2 and self._describes(inside[0][0]))
            ):
                inside.pop(0)  # "Jamaican rival Merlene Ottey", "Ohio-based KeyCorp"
            if not inside:
                continue  # no capital left: "the euro zone", "President"
            start = inside[0][1]
            if len(inside) == 1 and end == inside[0][2]:
                word = _strip_possessive(inside[0][0])
                if (
                    kind != "person"
                    and word.lower().endswith(_DEMONYM_ENDINGS)
                    and keys.get(cached_key_of(word)) is None
                ):
                    continue  # "Iraqi", "Welsh", "Bosnian": not places
            if kind == "person" and all(len(w[0]) <= 3 for w in inside):
                continue  # "W L PCT": the head of a table
            taken = [w[1] for w in inside if w[1] in t.used]
            if taken:
                if len(inside) == 1:
                    continue
                owners = [m for m in found if start <= m.start < end]
                if len(owners) != len(taken) or not all(
                    m.creator == GAZETTEER and m.uri is not None and m.uri.startswith(_GEONAMES)
                    for m in owners
                ):
                    continue
                for m in owners:
                    found.remove(m)
            name = _strip_possessive(text[start:end])[:MAX_NAME]
            entry = keys.get(cached_key_of(name))
            if entry is None and name.isupper():
                # A wire headline or dateline in capitals: "PAKISTAN", "NEW YORK".
                entry = keys.get(cached_key_of(name.title()))
            if (
                entry is not None
                and entry.kind != kind
                and ((kind, entry.kind) != _TEAM or entry.rank[0] != CITY)
            ):
                # The gazetteer knows better, but for teams named after a city
                # or a county ("Essex"); national sides are their country.
                kind = entry.kind
            if entry is not None and entry.kind == kind:
                mention = (
                    kind,
                    entry.name,
                    entry.uri,
                    entry.literal,
                    start,
                    CONFIDENCE_MODEL,
                    GAZETTEER,
                )
            else:
                mention = (kind, name, None, slug(name), start, CONFIDENCE_MODEL, MODEL)
            found.append(_new_found(Found, mention))
            t.used.update(w[1] for w in inside)

    def _describes(self, word: str) -> bool:
        """A word before a person's name that says where they are from
        ("Jamaican", "Chicago"), not a first name."""
        return word.endswith(_DEMONYM_ENDINGS) or (
            (entry := self.gazetteer.keys.get(cached_key_of(word))) is not None
            and entry.kind == "place"
        )

    @staticmethod
    def _teams(t: _Text, found: list[Found]) -> None:
        """In a line of results or a standings table ("Boston 5 Detroit 3",
        "Essex 532-8", "Atlanta 54 38 .587"), a place name followed by a
        score is a team: an organisation, not the place."""
        text = t.text
        if not _SCORE_ANYWHERE.search(text):
            return
        lines: dict[int, bool] = {}
        for index, mention in enumerate(found):
            if mention.kind != "place":
                continue
            end = mention.start + len(mention.name)
            begin = text.rfind("\n", 0, mention.start) + 1
            line_end = text.find("\n", mention.start)
            line = text[begin : line_end if line_end >= 0 else len(text)]
            results = lines.get(begin)
            if results is None:
                results = lines[begin] = len(_SCORE.findall(line)) >= 2
            if not results:
                continue
            match = _AFTER_NAME.match(text, mention.start)
            if match is None or not _SCORE_AFTER.match(text, match.end()):
                continue
            del end
            name = match.group().strip()
            found[index] = _new_found(
                Found,
                ("organisation", name, None, slug(name), mention.start, CONFIDENCE_MODEL, MODEL),
            )

    def _sports(self, t: _Text, body_from: int, found: list[Found]) -> None:
        """In a sports item (a sport named in its headline), a city, county or
        region is the team named after it ("Leicestershire beat Somerset",
        "BALTIMORE 70 63 .526", "KANSAS CITY AT DETROIT"): an organisation.
        Not a country (national sides are filed under their country), a place
        after a locative ("the match in Leeds", "at Headingley") or the
        dateline at the start of the body."""
        if lexicon.SPORTS.isdisjoint(_LOWER_LETTERS.findall(t.text[:body_from].lower())):
            return
        keys = self.gazetteer.keys
        text = t.text
        for index, mention in enumerate(found):
            if mention.kind != "place":
                continue
            written = _AFTER_NAME.match(text, mention.start)
            if written is not None and _DATELINE.match(text, written.end()):
                continue
            name = mention.name
            entry = keys.get(cached_key_of(name.title() if name.isupper() else name))
            if entry is not None and entry.rank[0] != CITY:
                continue
            if entry is not None and written is not None:
                # The team is named as written ("New York"), not as the
                # gazetteer names the city ("New York City").
                name = self._as_written(written.group(), entry) or name
            if name.isupper():
                name = name.title()
            previous = t.prev_word(mention.start)
            if previous is not None and previous[0].lower() in _THE:
                previous = t.prev_word(previous[1])  # "at The Oval"
            if previous is not None and _locative_in_sports(previous[0]):
                continue
            found[index] = mention._replace(
                kind="organisation", name=name, uri=None, literal=slug(name), creator=HEURISTIC
            )
        self._results(t, body_from, found)
        self._competitors(t, body_from, found)

    def _place_word(self, word: str) -> bool:
        """A word that names a place alone, and is not also a person's name
        ("Belgrade", not "Jackson")."""
        key = cached_key_of(word)
        entry = self.gazetteer.keys.get(key)
        return entry is not None and entry.kind == "place" and key not in self.gazetteer.ambiguous

    def _competitors(self, t: _Text, body_from: int, found: list[Found]) -> None:
        """In a sports item, two to four capitalized words followed by a
        country in brackets are a competitor: "1. Michelle Freeman (Jamaica)
        12.71", "Monica Seles (U.S.) beat Irina Spirlea (Romania)". A name the
        gazetteer knows, with a place in it ("Red Star Belgrade (Yugoslavia)")
        or an organisation word, is not one."""
        keys = self.gazetteer.keys
        text = t.text
        starts = {m.start: m for m in found}
        for match in _COMPETITOR.finditer(text, body_from):
            country = keys.get(cached_key_of(match.group(2)))
            if country is None or country.kind != "place" or country.rank[0] == CITY:
                continue
            name = match.group(1)
            start = match.start(1)
            words = name.split(" ")
            if keys.get(cached_key_of(name)) is not None or any(
                lexicon.classify(w) & (lexicon.ORG_HEAD | lexicon.NOT_A_NAME | lexicon.TITLE)
                or self._place_word(w)
                for w in words
            ):
                continue
            there = starts.get(start)
            if there is not None:
                if there.kind == "person" or there.creator == GAZETTEER:
                    continue
                found.remove(there)
            elif any(start <= w[1] < match.end(1) and w[1] in t.used for w in t.caps):
                continue
            found.append(
                _new_found(
                    Found,
                    ("person", name, None, slug(name), start, CONFIDENCE_MODEL, HEURISTIC),
                )
            )

    @staticmethod
    def _results(t: _Text, body_from: int, found: list[Found]) -> None:
        """Lines of results and standings in a sports item name teams that
        neither the gazetteer nor the model knew: each name followed by a score
        in a line with two ("Barnsley 1 Bournemouth 0"), and the name that
        starts a row of numbers ("Crystal Palace 10 6 3 1 20 11 21"). A name
        found as a person at the start of a row stays one ("Tiger Woods 70 68
        72"); the two sides of a result are teams whatever the model said."""
        text = t.text
        starts = {m.start: m for m in found}
        at = body_from
        for line in text[body_from:].split("\n"):
            spans: list[tuple[int, int]] = []
            pairs = list(_SCORE.finditer(line))
            # Two sides and their scores, side by side: "Fulham 1 Carlisle 2",
            # not a list of scorers ("Zidane 23, Gomez 45").
            sides = len(pairs) >= 2 and all(
                _SCORE_BETWEEN.fullmatch(line, a.end() - 1, b.start()) for a, b in pairwise(pairs)
            )
            if sides:
                spans = [(p.start(), p.end() - 2) for p in pairs]
            else:
                row = _ROW.match(line)
                if row is not None:
                    spans = [row.span(1)]
            for begin, end in spans:
                name = line[begin:end]
                if not _team_name(name):
                    continue
                there = starts.get(at + begin)
                if there is not None:
                    if not (sides and there.creator == MODEL and there.kind == "person"):
                        continue
                    found.remove(there)
                name = name.title() if name.isupper() else name
                found.append(
                    _new_found(
                        Found,
                        (
                            "organisation",
                            name,
                            None,
                            slug(name),
                            at + begin,
                            CONFIDENCE_MODEL,
                            HEURISTIC,
                        ),
                    )
                )
            at += len(line) + 1

    def _as_written(self, run: str, entry: Entry) -> str | None:
        """The first words of `run` that name `entry` ("NEW YORK" of "NEW
        YORK 74 59"), as written."""
        keys = self.gazetteer.keys
        parts = run.split(" ")
        for count in range(len(parts), 0, -1):
            name = " ".join(parts[:count])
            if keys.get(cached_key_of(name.title() if name.isupper() else name)) is entry:
                return name
        return None

    # -- all together --------------------------------------------------------

    def find(self, text: str, body_from: int = 0) -> list[Found]:
        """Every mention; `body_from` is where the headline ends (the
        heuristics look at the body only: headlines capitalize everything)."""
        t = _Text(text)
        found: list[Found] = []
        self._gazetteer_pass(t, found)
        self._heuristic_pass(t, body_from, found)
        if self.tagger is not None:
            self._model_pass(t, self.tagger, found)
        self._initialed(t, found)
        self._coreference_pass(t, found)
        self._teams(t, found)
        self._sports(t, body_from, found)
        _abbreviated(text, found)
        _one_kind(found)
        return found


def _one_kind(found: list[Found]) -> None:
    """A name the model tagged as one kind here and another there is one
    thing in one item ("Essex" the team, not also a person): the kind the
    gazetteer or the rules gave it, or else the model's most frequent (the
    first on a tie)."""
    kinds: dict[str, list[Found]] = {}
    for mention in found:
        kinds.setdefault(mention.name.casefold(), []).append(mention)
    for name, mentions in kinds.items():
        if len(mentions) < 2 or len({m.kind for m in mentions}) < 2:
            continue
        if all(m.creator != MODEL for m in mentions):
            continue  # "New York" the dateline and the team: both stand
        sure = {m.kind for m in mentions if m.creator != MODEL}
        if len(sure) > 1:
            continue
        if sure:
            kind = sure.pop()
        else:
            counts: dict[Kind, int] = {}
            for m in mentions:
                counts[m.kind] = counts.get(m.kind, 0) + 1
            kind = max(counts, key=counts.__getitem__)  # the first on a tie
        for index, mention in enumerate(found):
            if (
                mention.creator == MODEL
                and mention.kind != kind
                and mention.name.casefold() == name
            ):
                found[index] = mention._replace(kind=kind)


def _abbreviated(text: str, found: list[Found]) -> None:
    """A name that ends in an abbreviation keeps its dot, as written ("Banc One
    Corp.", "Salomon Bros.", "Al Unser Jr."); the passes stop words before it."""
    for index, mention in enumerate(found):
        name = mention.name
        if not name.endswith(_ABBREVIATED_ENDINGS):
            continue
        end = mention.start + len(name)
        if text[end : end + 1] == "." and text.startswith(name, mention.start):
            found[index] = mention._replace(name=name + ".")


@lru_cache(maxsize=4096)
def _entity(
    name: str,
    uri: str | None,
    literal: str | None,
    confidence: float,
    relevance: float,
    creator: str,
) -> Entity:
    # Every field is valid by construction: skip validation. Entities are
    # frozen, so items can share them.
    return Entity.model_construct(
        name=name,
        rel=REL,
        uri=uri,
        literal=literal,
        confidence=confidence,
        relevance=relevance,
        creator=creator,
    )


def to_entities(found: Sequence[Found], body_from: int) -> dict[Kind, list[Entity]]:
    """Mentions grouped into one entity per (kind, name), in order of first mention."""
    # One pass; a group is [mentions, best mention, highest confidence,
    # relevance from the headline]. The best is the first of the highest by
    # (from the gazetteer, confidence).
    groups: dict[tuple[Kind, str], list[Any]] = {}
    for mention in sorted(found, key=_START):
        kind_name = mention[:2]
        group = groups.get(kind_name)
        if group is None:
            headline = 40 if mention.start < body_from else 0
            groups[kind_name] = [1, mention, mention.confidence, headline]
            continue
        group[0] += 1
        confidence = mention.confidence
        if confidence > group[2]:
            group[2] = confidence
        best = group[1]
        if (mention.creator == GAZETTEER, confidence) > (
            best.creator == GAZETTEER,
            best.confidence,
        ):
            group[1] = mention
    out: dict[Kind, list[Entity]] = {"person": [], "organisation": [], "place": []}
    for (kind, name), (count, best, confidence, headline) in groups.items():
        out[kind].append(
            _entity(
                name,
                best.uri,
                best.literal if best.uri is None else None,
                confidence,
                float(min(100, headline + 20 * count)),
                best.creator,
            )
        )
    return out


def merged(upstream: Sequence[Entity], ours: list[Entity]) -> tuple[Entity, ...]:
    """Entities from the source first, then ours that the source did not name."""
    kept = [e for e in upstream if e.creator not in CREATORS]
    if not kept:
        return tuple(ours)
    names = {fold(e.name) for e in kept}
    return tuple(kept + [e for e in ours if fold(e.name) not in names])


class EntityEnricher:
    """The three passes with the gazetteer for `config` (the world's too,
    unless `world` is off) and the statistical model (unless `statistical`
    is off); both load on the first item, not at start."""

    NAME = NAME

    def __init__(
        self, config: EnrichmentConfig, world: bool = True, statistical: bool = True
    ) -> None:
        self.config = config
        self.world = world
        self.statistical = statistical
        version = f"{VERSION}+{fingerprint_of(config, world)}"
        self.VERSION = f"{version}.{ner.fingerprint()}" if statistical else version

    def tagger(self) -> ner.Model | None:
        return ner.model() if self.statistical else None

    @cached_property
    def finder(self) -> EntityFinder:
        return EntityFinder(load(self.config, self.world), self.tagger())

    def enrich(self, item: NewsItem) -> dict[str, Any]:
        body = item.text.body_text[: self.config.analysis_max_chars] if item.text else ""
        headline = item.headline.strip()
        text = f"{headline}\n{body}" if headline else body
        body_from = len(headline) + 1 if headline else 0
        entities = to_entities(self.finder.find(text, body_from), body_from)
        return {
            field_name: merged(getattr(item, field_name), entities[kind])
            for kind, field_name in FIELDS.items()
        }


def build(config: EnrichmentConfig) -> EntityEnricher:
    return EntityEnricher(config, statistical=MODEL_SWITCH not in config.disabled)
