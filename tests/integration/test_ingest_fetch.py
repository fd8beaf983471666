"""Fetching against a real local HTTP server: polite, bounded, and refusing unsafe addresses."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator, Iterator

import brotli
import pytest
from ingest.fetch import Fetcher, FetchFailed, FetchPolicy
from ingest.netguard import AddressPolicy, Resolver

from tests.support.feed_fixtures import fixture
from tools.devstack import free_port
from tools.devstack.feed_server import FeedServer, Route

LOCAL = "127.0.0.1,localhost"
POLICY = FetchPolicy(
    max_bytes=1_000_000, timeout_s=2.0, connect_timeout_s=1.0, max_redirects=3, per_host=2
)
RSS = fixture("wire.rss.xml")
BOMB_SIZE = 50_000_000


@pytest.fixture(scope="module")
def server() -> Iterator[FeedServer]:
    running = FeedServer().start()
    yield running
    running.stop()


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    made = Fetcher(POLICY, AddressPolicy.from_setting(LOCAL))
    yield made
    await made.aclose()


def resolver_of(table: dict[str, list[str]]) -> Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        return table[host]

    return resolve


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    return gzip.compress(b"\0" * BOMB_SIZE, compresslevel=9)


# -- polite --------------------------------------------------------------------------


async def test_a_feed_is_fetched_with_an_honest_user_agent_offering_compression(
    server: FeedServer, fetcher: Fetcher
) -> None:
    url = server.serve("/polite", Route(body=RSS))
    fetched = await fetcher.fetch(url)
    assert fetched.status == 200
    assert fetched.body == RSS
    headers = {k.lower(): v for k, v in server.seen("/polite")[0].headers.items()}
    assert headers["user-agent"].startswith("newsfeed-ingest/")
    assert {"gzip", "br"} <= {e.strip() for e in headers["accept-encoding"].split(",")}
    assert "if-none-match" not in headers


async def test_conditional_get_with_etag_gives_304_and_no_body(
    server: FeedServer, fetcher: Fetcher
) -> None:
    url = server.serve("/etag", Route(body=RSS, etag='"v1"'))
    first = await fetcher.fetch(url)
    assert first.validators.etag == '"v1"'
    second = await fetcher.fetch(url, first.validators)
    assert second.not_modified
    assert second.status == 304
    assert second.body is None
    assert server.seen("/etag")[1].headers["If-None-Match"] == '"v1"'


async def test_conditional_get_with_last_modified_gives_304(
    server: FeedServer, fetcher: Fetcher
) -> None:
    stamp = "Wed, 07 Jan 2026 10:00:00 GMT"
    url = server.serve("/lm", Route(body=RSS, last_modified=stamp))
    first = await fetcher.fetch(url)
    second = await fetcher.fetch(url, first.validators)
    assert second.not_modified
    assert server.seen("/lm")[1].headers["If-Modified-Since"] == stamp


async def test_gzip_and_brotli_bodies_are_decoded(server: FeedServer, fetcher: Fetcher) -> None:
    gz = server.serve("/gz", Route(body=RSS, gzip=True))
    br = server.serve("/br", Route(body=brotli.compress(RSS), headers={"Content-Encoding": "br"}))
    assert (await fetcher.fetch(gz)).body == RSS
    assert (await fetcher.fetch(br)).body == RSS


async def test_cache_control_is_handed_back_as_a_floor(
    server: FeedServer, fetcher: Fetcher
) -> None:
    url = server.serve("/cached", Route(body=RSS, headers={"Cache-Control": "max-age=900"}))
    assert (await fetcher.fetch(url)).cache_floor_s == 900


@pytest.mark.parametrize(
    ("status", "retry_after", "seconds"), [(429, "120", 120.0), (503, "3", 3.0), (429, None, None)]
)
async def test_429_and_503_carry_retry_after(
    server: FeedServer,
    fetcher: Fetcher,
    status: int,
    retry_after: str | None,
    seconds: float | None,
) -> None:
    headers = {"Retry-After": retry_after} if retry_after else {}
    url = server.serve(f"/busy{status}{retry_after}", Route(status=status, headers=headers))
    with pytest.raises(FetchFailed) as failed:
        await fetcher.fetch(url)
    assert failed.value.status == status
    assert failed.value.retry_after_s == seconds
    assert f"HTTP {status}" in failed.value.reason


async def test_at_most_two_fetches_to_one_host_at_a_time(
    server: FeedServer, fetcher: Fetcher
) -> None:
    url = server.serve("/slowish", Route(body=RSS, delay_s=0.25))
    results = await asyncio.gather(*(fetcher.fetch(url) for _ in range(6)))
    assert all(r.body == RSS for r in results)
    assert server.max_inflight["/slowish"] == 2


# -- redirects --------------------------------------------------------------------------


async def test_redirects_are_followed_hop_by_hop(server: FeedServer, fetcher: Fetcher) -> None:
    server.serve("/moved-feed", Route(body=RSS))
    server.redirect("/hop2", "/moved-feed", 307)
    url = server.redirect("/hop1", server.url("/hop2"), 302)
    fetched = await fetcher.fetch(url)
    assert fetched.body == RSS
    assert fetched.url.endswith("/moved-feed")
    assert len(fetched.hops) == 2
    assert fetched.permanent_redirect is None


async def test_a_permanent_redirect_is_reported(server: FeedServer, fetcher: Fetcher) -> None:
    server.serve("/new-home", Route(body=RSS))
    url = server.redirect("/old-home", "/new-home", 301)
    assert (await fetcher.fetch(url)).permanent_redirect == server.url("/new-home")


async def test_too_many_redirects_fail(server: FeedServer, fetcher: Fetcher) -> None:
    url = server.redirect("/loop", "/loop")
    with pytest.raises(FetchFailed, match="more than 3 redirects"):
        await fetcher.fetch(url)
    assert server.count("/loop") == 4


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://10.0.0.1/feed", "private"),
        ("http://[::1]:9/feed", "private"),
        ("http://0.0.0.0:9/feed", "private"),
        ("file:///etc/passwd", "only http and https"),
        ("ftp://wire.example.org/feed", "only http and https"),
        ("http://[broken/feed", "invalid URL"),
        ("http://wire.example.org:99999/feed", "invalid URL"),
    ],
)
async def test_a_redirect_to_a_disallowed_address_is_refused_at_that_hop(
    server: FeedServer, fetcher: Fetcher, target: str, says: str
) -> None:
    path = f"/evil-{abs(hash(target))}"
    url = server.redirect(path, target)
    started = time.monotonic()
    with pytest.raises(FetchFailed, match=says):
        await fetcher.fetch(url)
    assert time.monotonic() - started < 1.0  # refused, not attempted and timed out


# -- addresses ---------------------------------------------------------------------------


async def test_loopback_is_refused_without_the_allow_setting(server: FeedServer) -> None:
    url = server.serve("/private", Route(body=RSS))
    strict = Fetcher(POLICY, AddressPolicy())
    try:
        with pytest.raises(FetchFailed, match=r"refused: 127\.0\.0\.1 is a private"):
            await strict.fetch(url)
        with pytest.raises(FetchFailed, match=r"localhost resolves to (127\.0\.0\.1|::1)"):
            await strict.fetch(server.url("/private", host="localhost"))
    finally:
        await strict.aclose()
    assert server.count("/private") == 0


async def test_a_name_that_resolves_to_a_private_address_is_refused(server: FeedServer) -> None:
    url = f"http://wire.example.test:{server.port}/dns"
    server.serve("/dns", Route(body=RSS))
    for answer in (["10.9.8.7"], ["127.0.0.1"], ["93.184.215.14", "127.0.0.1"]):
        fetcher = Fetcher(POLICY, AddressPolicy(), resolver_of({"wire.example.test": answer}))
        try:
            with pytest.raises(FetchFailed, match=r"wire\.example\.test resolves to"):
                await fetcher.fetch(url)
        finally:
            await fetcher.aclose()
    assert server.count("/dns") == 0


async def test_an_allowed_internal_name_connects_to_the_checked_address_with_its_host_header(
    server: FeedServer,
) -> None:
    server.serve("/internal", Route(body=RSS))
    fetcher = Fetcher(
        POLICY,
        AddressPolicy.from_setting("wire.internal"),
        resolver_of({"wire.internal": ["127.0.0.1"]}),
    )
    try:
        fetched = await fetcher.fetch(f"http://wire.internal:{server.port}/internal")
    finally:
        await fetcher.aclose()
    assert fetched.body == RSS
    assert server.seen("/internal")[0].headers["Host"] == f"wire.internal:{server.port}"


# -- caps -----------------------------------------------------------------------------


async def test_a_gzip_bomb_stops_at_the_cap(
    server: FeedServer, fetcher: Fetcher, gzip_bomb: bytes
) -> None:
    url = server.serve("/bomb.gz", Route(body=gzip_bomb, headers={"Content-Encoding": "gzip"}))
    started = time.monotonic()
    with pytest.raises(FetchFailed, match="over the 1000000-byte cap after decompression"):
        await fetcher.fetch(url)
    assert time.monotonic() - started < 1.5
    assert len(gzip_bomb) < 100_000  # what came over the wire


async def test_a_brotli_bomb_stops_at_the_cap(server: FeedServer, fetcher: Fetcher) -> None:
    bomb = brotli.compress(b"\0" * BOMB_SIZE, quality=5)
    url = server.serve("/bomb.br", Route(body=bomb, headers={"Content-Encoding": "br"}))
    with pytest.raises(FetchFailed, match="after decompression"):
        await fetcher.fetch(url)


async def test_a_declared_length_over_the_cap_fails_before_reading(
    server: FeedServer, fetcher: Fetcher
) -> None:
    url = server.serve("/huge", Route(body=b"x" * 1_000_001))
    with pytest.raises(FetchFailed, match="1000001 bytes is over the 1000000-byte cap"):
        await fetcher.fetch(url)


async def test_a_slow_trickle_stops_at_the_total_time(server: FeedServer, fetcher: Fetcher) -> None:
    url = server.serve("/trickle", Route(body=RSS, trickle_s=0.05))
    started = time.monotonic()
    with pytest.raises(FetchFailed, match="longer than 2 s"):
        await fetcher.fetch(url)
    assert time.monotonic() - started < 2.5


async def test_an_unknown_content_encoding_fails(server: FeedServer, fetcher: Fetcher) -> None:
    url = server.serve("/zstd", Route(body=RSS, headers={"Content-Encoding": "zstd"}))
    with pytest.raises(FetchFailed, match="unsupported Content-Encoding 'zstd'"):
        await fetcher.fetch(url)


async def test_corrupt_gzip_fails_with_a_reason(server: FeedServer, fetcher: Fetcher) -> None:
    url = server.serve(
        "/corrupt", Route(body=b"not gzip at all", headers={"Content-Encoding": "gzip"})
    )
    with pytest.raises(FetchFailed, match="does not decompress"):
        await fetcher.fetch(url)


async def test_http_errors_and_refused_connections_fail_with_a_reason(
    server: FeedServer, fetcher: Fetcher
) -> None:
    with pytest.raises(FetchFailed, match="HTTP 404"):
        await fetcher.fetch(server.url("/nothing-here"))
    with pytest.raises(FetchFailed, match="ConnectError"):
        await fetcher.fetch(f"http://127.0.0.1:{free_port()}/closed")
