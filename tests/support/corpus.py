"""The feed corpus: real feeds nobody here wrote.

feedparser's source distribution carries its own test suite: about 2,200
small feeds (RSS 0.9x–2.0, RSS 1.0, Atom 0.3/1.0, CDF; many encodings,
entities, relative links, malformed documents) by feedparser's authors,
under feedparser's BSD-2-Clause licence. `make setup` (target `corpus`)
downloads the pinned sdist by name with pip, checks its SHA-256 and unpacks
its `tests/` into `.cache/corpus/`. Nothing of it is committed here.

A test that needs the corpus fails — never skips — when it is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / ".cache" / "corpus"
# The folders of feedparser's tests that hold feeds (http/ and compression/ hold
# responses with headers, which a fetch test would need, not a parser test).
FEED_FOLDERS = ("wellformed", "illformed", "encoding", "entities")


@dataclass(frozen=True)
class CorpusFeed:
    path: Path
    name: str  # relative to the corpus' tests folder

    @property
    def body(self) -> bytes:
        return self.path.read_bytes()


def corpus_root() -> Path:
    found = sorted(CORPUS.glob("feedparser-*/tests"))
    if len(found) != 1:
        pytest.fail(
            f"the feed corpus is missing from {CORPUS} (found {len(found)} copies): "
            "run `make corpus` (part of `make setup`)",
            pytrace=False,
        )
    return found[0]


def corpus_feeds() -> Iterator[CorpusFeed]:
    root = corpus_root()
    for folder in FEED_FOLDERS:
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and path.suffix in (".xml", ".rdf", ".rss", ".atom", ".cdf"):
                yield CorpusFeed(path, str(path.relative_to(root)))
