"""Where feed fetches may connect: public addresses only, checked on the socket.

The check is made on the address actually connected to, not on the URL: an
httpx transport whose network backend resolves the host itself, refuses the
connection unless every address the name resolves to is allowed, and then
connects to that exact address. TLS still uses the URL's host name for SNI
and certificate checks, and the Host header is the request's own, so nothing
else changes. Every redirect hop opens its connection through the same
backend, so every hop is checked.

Refused by default: loopback, private (RFC 1918, ULA), link-local, CGNAT,
multicast, reserved and unspecified addresses — anything not globally
routable — including IPv4 addresses inside IPv6 (mapped, 6to4, NAT64). Host
names an operator lists in `allowed_private_hosts` may resolve to such
addresses. Cloud metadata addresses are refused whatever the list says.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean...
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.123",  # AWS time sync
        "100.100.100.200",  # Alibaba Cloud
        "fd00:ec2::254",  # AWS IMDS over IPv6
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressRefused(Exception):
    """A connection the policy does not allow; the message says why."""


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (the system resolver, off the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    inner = _embedded_ipv4(address)
    if inner is not None:
        return is_public(inner)
    return address.is_global and not address.is_multicast and not address.is_reserved


def normalize_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


@dataclass(frozen=True)
class AddressPolicy:
    """Which (host, address) pairs a fetch may connect to."""

    allowed_private_hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_setting(cls, hosts: str | Iterable[str]) -> AddressPolicy:
        names = hosts.split(",") if isinstance(hosts, str) else hosts
        return cls(frozenset(normalize_host(n) for n in names if n.strip()))

    def check(self, host: str, address: str) -> IPAddress:
        """The address to connect to, or AddressRefused with the reason."""
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError as error:
            raise AddressRefused(f"{host} resolved to something not an address") from error
        inner = _embedded_ipv4(ip) or ip
        if ip in METADATA_ADDRESSES or inner in METADATA_ADDRESSES:
            raise AddressRefused(f"{host} is a cloud metadata address ({ip}): always refused")
        if is_public(ip) or normalize_host(host) in self.allowed_private_hosts:
            return ip
        if normalize_host(host) == str(ip):
            raise AddressRefused(f"{ip} is a private, loopback or link-local address")
        raise AddressRefused(f"{host} resolves to {ip}, a private, loopback or link-local address")


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks every address, then connects to exactly the checked one."""

    def __init__(
        self,
        policy: AddressPolicy,
        resolver: Resolver = system_resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._policy = policy
        self._resolver = resolver
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        name = normalize_host(host)
        try:
            literal = ipaddress.ip_address(name)
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                addresses = await self._resolver(name, port)
            except (OSError, UnicodeError) as error:
                raise httpcore.ConnectError(f"cannot resolve {name}: {error}") from error
        if not addresses:
            raise httpcore.ConnectError(f"{name} resolves to no address")
        # Every address must pass: a name that mixes public and private
        # answers (DNS rebinding) is refused as a whole.
        checked = [self._policy.check(name, address) for address in addresses]
        return await self._inner.connect_tcp(
            str(checked[0]), port, timeout, local_address, socket_options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AddressRefused("unix sockets are never fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _Stream(httpx.AsyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> Any:
        with _mapped():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        if hasattr(self._stream, "aclose"):
            with _mapped():
                await self._stream.aclose()


@contextlib.contextmanager
def _mapped() -> Iterator[None]:
    """httpcore errors as the httpx errors of the same name."""
    try:
        yield
    except (httpcore.TimeoutException, httpcore.NetworkError) as error:
        raise getattr(httpx, type(error).__name__, httpx.TransportError)(str(error)) from error
    except httpcore.ProtocolError as error:
        raise getattr(httpx, type(error).__name__, httpx.ProtocolError)(str(error)) from error


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an httpcore pool that connects through GuardedBackend."""

    def __init__(
        self,
        policy: AddressPolicy,
        resolver: Resolver = system_resolver,
        max_connections: int = 20,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=30.0,
            network_backend=GuardedBackend(policy, resolver),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme not in ("http", "https"):
            raise AddressRefused(f"scheme {request.url.scheme!r} is never fetched")
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _mapped():
            response = await self._pool.handle_async_request(core)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Stream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()
