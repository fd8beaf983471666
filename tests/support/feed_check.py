"""Ingest's reading of a feed against feedparser's reading of the same bytes.

For each feed: does ingest read it when feedparser does, and does every entry
ingest accepts match feedparser's entry field by field — guid, canonical
link, headline, body, summary (as text), date, authors, categories,
language, and one rendition for every enclosure and Media RSS file? Used by
the corpus tests, and on any folder of feeds as
`python -m tests.support.feed_check DIR...` (the figures of docs/ingest.md's
"Real feeds" section).
"""

from __future__ import annotations

import io
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import feedparser
from ingest.feed_items import to_candidate
from ingest.identity import canonical_url
from ingest.media import YOUTUBE_EMBED
from ingest.parse import HostileFeed, ParsedFeed, ParseFailed, author_name, defuse, parse_feed
from ingest.sources import SourceConfig
from pydantic import HttpUrl
from shared.items import BODY_MAX
from shared.text import html_to_text

FETCHED_AT = datetime(2030, 1, 1, tzinfo=UTC)
TOLERANCE = timedelta(days=3650)
MAX_ENTRIES = 500
_HEADER = re.compile(rb"^Header:\s+([^:\r\n]+):(.+)$", re.MULTILINE)


def headers_of(body: bytes) -> dict[str, str]:
    """The HTTP headers a feedparser test file declares in its comment (lower-case names)."""
    return {
        name.decode().strip().lower(): value.decode(errors="replace").strip()
        for name, value in _HEADER.findall(body[:4000])
    }


@dataclass
class Checked:
    """What happened to one feed."""

    name: str
    feedparser_reads: bool
    ingest_reads: bool
    hostile: bool = False
    refusal: str | None = None
    entries: int = 0  # entries ingest turned into submissions
    rejected: int = 0
    mismatches: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    media_entries: int = 0  # entries feedparser saw media on
    media_missing: int = 0  # of those, entries whose item lacks a rendition of each file
    parsed: ParsedFeed | None = None


def _feedparser(body: bytes, headers: dict[str, str]) -> Any:
    return feedparser.parse(
        io.BytesIO(defuse(body)),
        response_headers=headers,
        sanitize_html=True,
        resolve_relative_uris=True,
    )


def _fp_title(entry: Any) -> str:
    title = entry.get("title") or ""
    detail = entry.get("title_detail") or {}
    if "html" in (detail.get("type") or "text/html") or "xml" in (detail.get("type") or ""):
        title = html_to_text(title)
    return " ".join(title.split())


def _fp_date(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = dict.get(entry, key)
        if value:
            try:
                return datetime(*value[:6]).replace(tzinfo=UTC)
            except (TypeError, ValueError):
                return None
    return None


def _has_zone(raw: str | None) -> bool:
    """Whether a date names its zone: else ingest reads it in the source's zone,
    feedparser in UTC, and with no source zone both are UTC."""
    return bool(raw and re.search(r"(?:[+-]\d{2}:?\d{2}|Z|[A-Za-z]{1,5})\s*\)?\s*$", raw))


def _fp_media(entry: Any, base_url: str) -> set[str]:
    hrefs: set[str] = set()
    keys = (("enclosures", "href"), ("media_content", "url"), ("media_thumbnail", "url"))
    for key, url_key in keys:
        for media in entry.get(key) or ():
            href = media.get(url_key) or media.get("url")
            if isinstance(href, str) and href.strip():
                url = urljoin(base_url, href.strip())
                if url.startswith(("http://", "https://")):
                    hrefs.add(url)
    if entry.get("yt_videoid") and any("youtube.com" in h for h in hrefs):
        hrefs = {h for h in hrefs if "youtube.com/" not in h}
        hrefs.add(YOUTUBE_EMBED + entry["yt_videoid"])
    return hrefs


def check(name: str, body: bytes, base_url: str, headers: dict[str, str] | None = None) -> Checked:
    headers = {"content-location": base_url, **(headers or headers_of(body))}
    base_url = headers["content-location"]
    content_type = headers.get("content-type")
    is_json = body.lstrip(b" \t\r\n\xef\xbb\xbf")[:1] in (b"{", b"[")
    try:
        fp = None if is_json else _feedparser(body, headers)
    except HostileFeed:
        fp = None
    except Exception:
        fp = None
    fp_reads = bool(fp is not None and fp.get("version"))  # feedparser 6 reads no JSON
    try:
        parsed = parse_feed(body, content_type, base_url, MAX_ENTRIES)
    except ParseFailed as failed:
        return Checked(
            name, fp_reads, False, hostile=isinstance(failed, HostileFeed), refusal=failed.reason
        )
    checked = Checked(name, fp_reads, True, parsed=parsed, rejected=parsed.skipped)
    source = SourceConfig.model_validate({"id": "corpus", "url": "https://corpus.example/"})
    fp_entries = list(fp.entries) if fp is not None else [None] * len(parsed.entries)
    if fp is not None and len(fp_entries[:MAX_ENTRIES]) != len(parsed.entries) + parsed.skipped:
        checked.mismatches["entry count"] += 1
    for entry, fp_entry in zip(parsed.entries, fp_entries, strict=False):
        try:
            candidate = to_candidate(
                entry,
                source,
                feed_language=parsed.language,
                fetched_at=FETCHED_AT,
                future_tolerance=TOLERANCE,
            )
        except ValueError:
            checked.rejected += 1
            continue
        checked.entries += 1
        if fp_entry is None:
            continue
        _compare(checked, candidate, entry, fp_entry, fp, base_url)
    return checked


def _compare(
    checked: Checked, candidate: Any, entry: Any, fp_entry: Any, fp: Any, base: str
) -> None:
    item = candidate.submission
    expected: dict[str, Any] = {}
    actual: dict[str, Any] = {}
    fp_link = (fp_entry.get("link") or "").strip()
    expected["guid"], actual["guid"] = (fp_entry.get("id") or "").strip() or None, entry.guid
    canonical = canonical_url(fp_link) if fp_link else None
    expected["link"] = _url(canonical) if canonical and len(canonical) <= 2000 else None
    actual["link"] = str(item.link) if item.link else None
    expected["headline"], actual["headline"] = _fp_title(fp_entry)[:500], item.headline
    contents = [c for c in fp_entry.get("content") or () if (c.get("value") or "").strip()]
    summary = fp_entry.get("summary") or ""
    if contents and contents[0].get("type", "text/html") in ("text/html", "application/xhtml+xml"):
        # Full content given: it is the body, and the summary (as text) the description.
        expected["body"], actual["body"] = contents[0]["value"][:BODY_MAX], item.body_html
        if summary.strip() and "html" in (fp_entry.get("summary_detail") or {}).get("type", "html"):
            expected["description"] = html_to_text(summary)[:2000] or None
            actual["description"] = item.description_text
    elif not contents and summary.strip():
        summary_type = (fp_entry.get("summary_detail") or {}).get("type", "text/html")
        if "html" in summary_type:  # the summary alone is the body
            expected["body"], actual["body"] = summary[:BODY_MAX], item.body_html
    fp_date = _fp_date(fp_entry)
    raw = entry.date_raw
    if fp_date is not None and _has_zone(raw) and fp_date <= FETCHED_AT:
        expected["date"], actual["date"] = fp_date, item.firstcreated.replace(microsecond=0)
    names = [author_name(a.get("name")) for a in fp_entry.get("authors") or () if a]
    if not names:
        names = [author_name(fp_entry.get("author"))]
    expected["authors"] = [n[:200] for n in dict.fromkeys(n for n in names if n)][:20]
    actual["authors"] = [a.name for a in item.authors] if expected["authors"] else []
    terms = [
        " ".join(str(t.get("label") or t.get("term") or "").split())
        for t in fp_entry.get("tags") or ()
        if t and (t.get("label") or t.get("term"))
    ]
    expected["categories"] = [t[:300] for t in dict.fromkeys(terms)][:20]
    actual["categories"] = [s.name for s in item.subjects if s.creator == "feed"]
    if expected["categories"] != actual["categories"]:  # duplicates differing only in case
        folded = {t.casefold() for t in expected["categories"]}
        if folded == {t.casefold() for t in actual["categories"]}:
            actual["categories"] = expected["categories"]
    language = (fp.feed.get("language") or "").strip() if fp is not None else ""
    if language and item.language:
        expected["language"] = language.replace("_", "-").casefold()
        actual["language"] = item.language.casefold()
    media = _fp_media(fp_entry, base)
    if media:
        checked.media_entries += 1
        hrefs = {str(r.href) for r in item.renditions.values()}
        media = {_url(href) or href for href in media}
        if not media <= hrefs and len(hrefs) < 20:
            checked.media_missing += 1
            checked.mismatches["renditions"] += 1
            checked.examples.append(f"{checked.name}: renditions {sorted(media - hrefs)}")
    for key, value in expected.items():
        if key != "renditions" and actual.get(key) != value:
            checked.mismatches[key] += 1
            if len(checked.examples) < 5:
                checked.examples.append(f"{checked.name}: {key} {actual.get(key)!r} != {value!r}")


def _expectation(path: Path) -> bool:
    """A parser test suite's expected output beside its input, not a feed."""
    return (
        path.name.endswith((".serde.json", "_expected.json")) or path.with_suffix(".xml").exists()
    )


def _url(value: str | None) -> str | None:
    """A URL as the item model writes it (IRIs percent-encoded, an empty path "/")."""
    if value is None:
        return None
    try:
        return str(HttpUrl(value))
    except ValueError:
        return value


FEED_SUFFIXES = (".xml", ".rss", ".atom", ".rdf", ".json")


def feed_files(folders: list[str]) -> list[Path]:
    """The feeds under `folders`, leaving out test suites' expected outputs."""
    return [
        path
        for folder in folders
        for path in sorted(Path(folder).rglob("*"))
        if path.is_file()
        and path.suffix.lower() in FEED_SUFFIXES
        and not (path.suffix.lower() == ".json" and _expectation(path))
    ]


def main(folders: list[str]) -> int:
    totals: Counter[str] = Counter()
    refused: list[str] = []
    examples: list[str] = []
    for path in feed_files(folders):
        body = path.read_bytes()
        checked = check(str(path), body, "https://feeds.example.org/" + path.name)
        totals["feeds"] += 1
        if path.suffix.lower() == ".json":
            totals["json documents"] += 1
            totals["json documents ingest reads"] += checked.ingest_reads
        totals["feedparser reads"] += checked.feedparser_reads
        totals["ingest reads"] += checked.ingest_reads
        if not checked.ingest_reads and checked.feedparser_reads:
            refused.append(f"{path}: {checked.refusal}")
        totals["items"] += checked.entries
        totals["rejected entries"] += checked.rejected
        totals["media entries"] += checked.media_entries
        totals["media entries missing renditions"] += checked.media_missing
        for key, count in checked.mismatches.items():
            totals[f"mismatch: {key}"] += count
        examples += checked.examples[:3]
    for key, value in sorted(totals.items()):
        print(f"{key:40} {value}")
    print(f"{'refused although feedparser reads it':40} {len(refused)}")
    for line in refused[:50]:
        print("  refused:", line)
    for line in examples[:60]:
        print("  mismatch:", line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
