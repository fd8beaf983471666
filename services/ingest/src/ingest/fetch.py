"""Polite, bounded fetching of one feed URL.

Polite: the stored ETag and Last-Modified go back as If-None-Match and
If-Modified-Since (a 304 costs a round trip and nothing more); an honest
User-Agent with the operator's contact; gzip, deflate and brotli accepted;
at most `per_host` fetches to one host at a time from this replica; the
server's caching hints (Cache-Control max-age, Expires) and Retry-After on
429/503 are handed back for scheduling.

Bounded: redirects are followed by hand, hop by hop (each hop's connection
is checked by `netguard`, each hop's scheme must be http or https), up to
`max_redirects`; the body is decompressed here, chunk by chunk, each step
allowed to produce only what is left under `max_bytes`, so a gzip or brotli
bomb stops at the cap; the whole fetch (every hop, headers and body) runs
under one deadline. Any breach is a `FetchFailed` whose reason goes into the
source's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import brotli
import httpx

from ingest.netguard import AddressPolicy, AddressRefused, GuardedTransport, Resolver
from ingest.netguard import system_resolver as default_resolver

REDIRECTS = frozenset({301, 302, 303, 307, 308})
PERMANENT = frozenset({301, 308})
THROTTLED = frozenset({429, 503})
VERSION = "0.1"


@dataclass(frozen=True)
class FetchPolicy:
    max_bytes: int = 5_000_000
    timeout_s: float = 20.0
    connect_timeout_s: float = 5.0
    max_redirects: int = 5
    per_host: int = 2
    contact: str | None = None

    @property
    def user_agent(self) -> str:
        base = f"newsfeed-ingest/{VERSION} (feed fetcher"
        return f"{base}; +{self.contact})" if self.contact else f"{base})"


@dataclass(frozen=True)
class Validators:
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class Fetched:
    """A 200 with its body, or a 304 (`body` None)."""

    url: str
    status: int
    body: bytes | None
    content_type: str | None
    validators: Validators
    cache_floor_s: float | None  # Cache-Control max-age, or Expires
    permanent_redirect: str | None = None
    hops: tuple[str, ...] = ()

    @property
    def not_modified(self) -> bool:
        return self.body is None


class FetchFailed(Exception):
    """A fetch that gave no feed: the reason is meant for the source's state."""

    def __init__(
        self, reason: str, *, status: int | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after_s = retry_after_s


# -- header parsing ---------------------------------------------------------------


def _http_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    when = _http_date(value)
    return max(0.0, (when - now).total_seconds()) if when else None


def cache_floor_seconds(headers: httpx.Headers, now: datetime) -> float | None:
    """How long the response says it stays fresh: max-age, else Expires."""
    directives = {
        part.strip().split("=", 1)[0].lower(): part.strip().partition("=")[2].strip('" ')
        for part in headers.get("cache-control", "").split(",")
        if part.strip()
    }
    if "no-store" in directives or "no-cache" in directives:
        return None
    if directives.get("max-age", "").isdigit():
        return float(directives["max-age"])
    expires = _http_date(headers.get("expires", "")) if headers.get("expires") else None
    if expires is None:
        return None
    reference = _http_date(headers.get("date", "")) or now
    return max(0.0, (expires - reference).total_seconds())


# -- bounded decompression --------------------------------------------------------


class TooLarge(Exception):
    pass


class _Decoder:
    def decode(self, data: bytes, room: int) -> bytes:  # pragma: no cover - interface
        raise NotImplementedError

    def flush(self, room: int) -> bytes:
        return b""


class _Identity(_Decoder):
    def decode(self, data: bytes, room: int) -> bytes:
        if len(data) > room:
            raise TooLarge
        return data


class _Zlib(_Decoder):
    """gzip (possibly several members) or deflate, never more than `room` + 1 out."""

    def __init__(self, wbits: int) -> None:
        self._wbits = wbits
        self._d = zlib.decompressobj(wbits)

    def decode(self, data: bytes, room: int) -> bytes:
        out = bytearray()
        while data:
            chunk = self._d.decompress(data, room - len(out) + 1)
            out += chunk
            if len(out) > room:
                raise TooLarge
            data = self._d.unconsumed_tail
            if self._d.eof:
                data = self._d.unused_data
                self._d = zlib.decompressobj(self._wbits)
        return bytes(out)

    def flush(self, room: int) -> bytes:
        out = self._d.flush()
        if len(out) > room:
            raise TooLarge
        return out


class _Brotli(_Decoder):
    def __init__(self) -> None:
        self._d = brotli.Decompressor()

    def decode(self, data: bytes, room: int) -> bytes:
        out = self._d.process(data, output_buffer_limit=room + 1)
        if len(out) > room or not self._d.can_accept_more_data():
            raise TooLarge
        return bytes(out)


def _decoders(content_encoding: str) -> list[_Decoder]:
    names = [n.strip().lower() for n in content_encoding.split(",") if n.strip()]
    made: list[_Decoder] = []
    for name in reversed(names):  # the last applied is undone first
        if name in ("gzip", "x-gzip"):
            made.append(_Zlib(16 + zlib.MAX_WBITS))
        elif name == "deflate":
            made.append(_Zlib(zlib.MAX_WBITS))
        elif name == "br":
            made.append(_Brotli())
        elif name != "identity":
            raise FetchFailed(f"unsupported Content-Encoding {name!r}")
    return made or [_Identity()]


async def read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    """The decompressed body, or FetchFailed as soon as it passes `max_bytes`."""
    declared = response.headers.get("content-length", "")
    plain = "content-encoding" not in response.headers
    if plain and declared.isdigit() and int(declared) > max_bytes:
        raise FetchFailed(f"response of {declared} bytes is over the {max_bytes}-byte cap")
    decoders = _decoders(response.headers.get("content-encoding", ""))
    body = bytearray()
    over = f"response is over the {max_bytes}-byte cap after decompression"
    try:
        async for raw in response.aiter_raw():
            data = raw
            for decoder in decoders:
                data = decoder.decode(data, max_bytes - len(body))
            body += data
        for index, decoder in enumerate(decoders):
            tail = decoder.flush(max_bytes - len(body))
            for later in decoders[index + 1 :]:
                tail = later.decode(tail, max_bytes - len(body))
            body += tail
    except TooLarge:
        raise FetchFailed(over) from None
    except (zlib.error, brotli.error) as error:
        raise FetchFailed(f"response body does not decompress: {error}") from error
    if len(body) > max_bytes:
        raise FetchFailed(over)
    return bytes(body)


# -- the fetcher -----------------------------------------------------------------


class HostLimiter:
    """At most `limit` concurrent holders per host (this process)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._slots: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, host: str) -> AsyncIterator[None]:
        semaphore, users = self._slots.setdefault(host, (asyncio.Semaphore(self._limit), [0]))
        users[0] += 1
        try:
            async with semaphore:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._slots[host]


Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


class Fetcher:
    def __init__(
        self,
        policy: FetchPolicy,
        addresses: AddressPolicy,
        resolver: Resolver = default_resolver,
        clock: Clock = _now,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.policy = policy
        self._clock = clock
        self._hosts = HostLimiter(policy.per_host)
        self._client = httpx.AsyncClient(
            transport=transport or GuardedTransport(addresses, resolver),
            follow_redirects=False,
            trust_env=False,  # a proxy from the environment would bypass the address check
            timeout=httpx.Timeout(policy.timeout_s, connect=policy.connect_timeout_s),
            headers={
                "User-Agent": policy.user_agent,
                "Accept-Encoding": "gzip, deflate, br",
                "Accept": (
                    "application/rss+xml, application/atom+xml, application/feed+json, "
                    "application/rdf+xml;q=0.9, application/xml;q=0.9, application/json;q=0.8, "
                    "text/xml;q=0.8, */*;q=0.1"
                ),
            },
        )

    @property
    def hosts(self) -> HostLimiter:
        return self._hosts

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(self, url: str, validators: Validators = Validators()) -> Fetched:
        try:
            async with asyncio.timeout(self.policy.timeout_s):
                return await self._follow(url, validators)
        except TimeoutError:
            raise FetchFailed(f"fetch took longer than {self.policy.timeout_s:g} s") from None
        except AddressRefused as error:
            raise FetchFailed(f"refused: {error}") from None
        except httpx.TimeoutException as error:
            raise FetchFailed(f"timed out: {type(error).__name__}") from None
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, UnicodeError) as error:
            raise FetchFailed(f"{type(error).__name__}: {error}"[:300]) from None

    async def _follow(self, url: str, validators: Validators) -> Fetched:
        headers = {}
        if validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        hops: list[str] = []
        permanent: str | None = None
        all_permanent = True
        for _ in range(self.policy.max_redirects + 1):
            try:
                parts = urlsplit(url)
                parts.port  # noqa: B018 - raises ValueError on a bad port
            except ValueError:
                raise FetchFailed(f"invalid URL: {url[:200]}") from None
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise FetchFailed(f"refused: only http and https URLs are fetched ({url[:200]})")
            async with self._hosts.hold(parts.hostname):
                request = self._client.build_request("GET", url, headers=headers)
                response = await self._client.send(request, stream=True)
                try:
                    location = response.headers.get("location")
                    if response.status_code in REDIRECTS and location:
                        hops.append(url)
                        try:
                            url = urljoin(url, location.strip())
                        except ValueError:
                            raise FetchFailed(f"invalid URL: {location[:200]}") from None
                        all_permanent = all_permanent and response.status_code in PERMANENT
                        permanent = url if all_permanent else None
                        continue
                    return await self._answer(response, url, hops, permanent)
                finally:
                    await response.aclose()
        raise FetchFailed(f"more than {self.policy.max_redirects} redirects")

    async def _answer(
        self, response: httpx.Response, url: str, hops: list[str], permanent: str | None
    ) -> Fetched:
        now = self._clock()
        status = response.status_code
        if status in THROTTLED:
            wait = retry_after_seconds(response.headers.get("retry-after"), now)
            said = f", Retry-After {wait:g} s" if wait is not None else ""
            raise FetchFailed(f"HTTP {status}{said}", status=status, retry_after_s=wait)
        if status != 304 and not 200 <= status < 300:
            raise FetchFailed(f"HTTP {status}", status=status)
        validators = Validators(
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
        )
        body = None if status == 304 else await read_capped(response, self.policy.max_bytes)
        return Fetched(
            url=url,
            status=status,
            body=body,
            content_type=response.headers.get("content-type"),
            validators=validators,
            cache_floor_s=cache_floor_seconds(response.headers, now),
            permanent_redirect=permanent,
            hops=tuple(hops),
        )
