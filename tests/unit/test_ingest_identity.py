"""Item identity rules: canonical links, identity keys and the uris they mint."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ingest.identity import (
    canonical_url,
    entry_identity,
    fallback_uri,
    guid_uri,
    link_identity,
    link_uri,
)
from shared.items import URI_MAX


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        (
            "https://Wire.Example.org/news/a?utm_source=rss&utm_medium=feed#top",
            "https://wire.example.org/news/a",
        ),
        ("https://wire.example.org:443/news/a", "https://wire.example.org/news/a"),
        ("http://wire.example.org:80/news/a", "http://wire.example.org/news/a"),
        ("http://wire.example.org:8080/news/a", "http://wire.example.org:8080/news/a"),
        ("https://wire.example.org", "https://wire.example.org/"),
        (
            "https://wire.example.org/a?b=2&a=1&fbclid=x&gclid=y",
            "https://wire.example.org/a?a=1&b=2",
        ),
        ("https://wire.example.org/a?id=7&UTM_Campaign=z", "https://wire.example.org/a?id=7"),
        ("https://user:pw@wire.example.org/a", "https://wire.example.org/a"),
        ("  https://wire.example.org/a  ", "https://wire.example.org/a"),
        ("https://пример.укр/новини", "https://xn--e1afmkfd.xn--j1amh/новини"),
    ],
)
def test_canonical_url_drops_tracking_fragment_default_port_and_case(
    raw: str, canonical: str
) -> None:
    assert canonical_url(raw) == canonical


@pytest.mark.parametrize(
    "raw",
    [
        "ftp://wire.example.org/a",
        "file:///etc/passwd",
        "/news/a",
        "javascript:alert(1)",
        "",
        "http://",
    ],
)
def test_only_absolute_http_urls_have_a_canonical_form(raw: str) -> None:
    assert canonical_url(raw) is None


def test_http_and_https_of_one_page_are_one_story() -> None:
    assert link_uri("http://wire.example.org/a") == link_uri("https://wire.example.org/a")
    assert link_uri("https://wire.example.org/a") != link_uri("https://wire.example.org/b")


def test_an_entry_with_guid_and_link_is_known_by_both_and_minted_from_the_link() -> None:
    identity = entry_identity("wire", "g-1", "https://wire.example.org/a", "Title", None)
    assert len(identity.keys) == 2
    assert identity.keys[0].startswith("guid:wire:")
    assert identity.keys[1].startswith("link:")
    assert identity.minted == link_uri("https://wire.example.org/a")


def test_the_same_link_in_an_api_submission_has_the_same_key_and_uri() -> None:
    feed = entry_identity("wire", "g-1", "https://wire.example.org/a", "Title", None)
    api = link_identity("https://wire.example.org/a")
    assert api.keys == feed.keys[1:]
    assert api.minted == feed.minted


def test_a_guid_alone_is_scoped_to_its_source() -> None:
    one = entry_identity("wire", "12345", None, "Title", None)
    other = entry_identity("partner", "12345", None, "Title", None)
    assert one.minted == guid_uri("wire", "12345")
    assert one.keys != other.keys
    assert one.minted != other.minted


def test_the_title_matters_only_without_guid_and_link() -> None:
    with_guid = [entry_identity("wire", "g", None, title, None) for title in ("A", "B")]
    assert with_guid[0] == with_guid[1]
    with_link = [entry_identity("wire", None, "https://x.example/a", t, None) for t in ("A", "B")]
    assert with_link[0] == with_link[1]
    bare = [entry_identity("wire", None, None, t, "2026-01-07T08:00:00Z") for t in ("A", "B")]
    assert bare[0] != bare[1]
    assert bare[0].minted == fallback_uri("wire", "A", "2026-01-07T08:00:00Z")


def test_the_fallback_ignores_whitespace_and_case_in_the_title() -> None:
    one = entry_identity("wire", None, None, "Air raid  alert", "2026-01-07T08:00:00Z")
    two = entry_identity("wire", None, None, " air raid alert ", "2026-01-07T08:00:00Z")
    assert one == two


@given(
    st.text(min_size=1, max_size=2000), st.from_regex(r"[a-z0-9][a-z0-9._-]{0,63}", fullmatch=True)
)
def test_minted_uris_are_valid_item_uris_for_any_guid(guid: str, source: str) -> None:
    uri = entry_identity(source, guid, None, "t", None).minted
    assert len(uri) <= URI_MAX
    assert not any(c.isspace() or ord(c) < 32 for c in uri)
