"""Plain decisions behind polite, safe fetching: addresses, caching hints, backoff."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from ingest.fetch import FetchPolicy, cache_floor_seconds, retry_after_seconds
from ingest.netguard import AddressPolicy, AddressRefused, is_public
from ingest.poller import PollPolicy, failure_delay, success_delay

NOW = datetime(2026, 1, 7, 12, 0, tzinfo=UTC)
POLICY = PollPolicy(min_interval_s=60, max_interval_s=86_400, backoff_ceiling_s=3_600, jitter=0.25)

# -- addresses --------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.1.1",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "ff02::1",
    ],
)
def test_private_loopback_link_local_and_special_addresses_are_refused(address: str) -> None:
    with pytest.raises(AddressRefused, match="private, loopback or link-local"):
        AddressPolicy().check(address, address)


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"]
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert str(AddressPolicy().check("feeds.example.org", address)) == address.replace(
        "::ffff:8.8.8.8", "::ffff:808:808"
    )


def test_a_name_resolving_to_a_private_address_is_refused_with_both_in_the_reason() -> None:
    with pytest.raises(AddressRefused, match=r"intranet\.example resolves to 10\.1\.2\.3"):
        AddressPolicy().check("intranet.example", "10.1.2.3")


def test_named_hosts_may_resolve_to_private_addresses_when_allowed() -> None:
    policy = AddressPolicy.from_setting(" Intranet.Example. , 127.0.0.1,")
    assert str(policy.check("intranet.example", "10.1.2.3")) == "10.1.2.3"
    assert str(policy.check("127.0.0.1", "127.0.0.1")) == "127.0.0.1"
    with pytest.raises(AddressRefused):
        policy.check("other.example", "127.0.0.1")  # the name is not allowed, the address is


@pytest.mark.parametrize("address", ["169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254"])
def test_metadata_addresses_are_refused_even_when_listed(address: str) -> None:
    policy = AddressPolicy.from_setting(f"metadata.internal,{address}")
    for host in ("metadata.internal", address):
        with pytest.raises(AddressRefused, match="metadata"):
            policy.check(host, address)


def test_is_public_unwraps_ipv4_inside_ipv6() -> None:
    import ipaddress

    assert not is_public(ipaddress.ip_address("::ffff:192.168.0.1"))
    assert is_public(ipaddress.ip_address("::ffff:1.1.1.1"))


# -- caching hints and Retry-After -------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "floor"),
    [
        ({"cache-control": "public, max-age=900"}, 900.0),
        ({"cache-control": 'max-age="120"'}, 120.0),
        ({"cache-control": "no-cache, max-age=900"}, None),
        ({"expires": "Wed, 07 Jan 2026 12:30:00 GMT"}, 1800.0),
        (
            {"expires": "Wed, 07 Jan 2026 12:30:00 GMT", "date": "Wed, 07 Jan 2026 12:20:00 GMT"},
            600.0,
        ),
        ({"expires": "Wed, 07 Jan 2026 11:00:00 GMT"}, 0.0),
        ({"expires": "0"}, None),
        ({"cache-control": "max-age=60", "expires": "Wed, 07 Jan 2026 18:00:00 GMT"}, 60.0),
        ({}, None),
    ],
)
def test_cache_floor_from_max_age_or_expires(headers: dict[str, str], floor: float | None) -> None:
    assert cache_floor_seconds(httpx.Headers(headers), NOW) == floor


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("Wed, 07 Jan 2026 12:05:00 GMT", 300.0),
        ("Wed, 07 Jan 2026 11:00:00 GMT", 0.0),
        ("soon", None),
        ("-5", None),
        (None, None),
    ],
)
def test_retry_after_as_seconds_or_a_date(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, NOW) == seconds


def test_user_agent_is_honest_and_carries_the_contact() -> None:
    assert FetchPolicy(contact="mailto:ops@newsroom.example").user_agent == (
        "newsfeed-ingest/0.1 (feed fetcher; +mailto:ops@newsroom.example)"
    )
    assert "newsfeed-ingest" in FetchPolicy().user_agent


# -- when the next poll is due ---------------------------------------------------------


def test_success_waits_the_interval_but_never_less_than_the_minimum() -> None:
    assert success_delay(300, [], POLICY) == 300
    assert success_delay(5, [], POLICY) == 60


def test_caching_hints_and_ttl_are_a_floor_on_the_interval() -> None:
    assert success_delay(300, [900.0, None], POLICY) == 900
    assert success_delay(300, [None, 1800.0], POLICY) == 1800
    assert success_delay(300, [120.0, 60.0], POLICY) == 300  # a shorter hint changes nothing


def test_caching_hints_are_capped_at_the_maximum_interval() -> None:
    assert success_delay(300, [10 * 86_400.0], POLICY) == 86_400


def test_backoff_doubles_per_failure_up_to_the_ceiling_and_stays_there() -> None:
    no_jitter = [failure_delay(300, n, None, POLICY, rng=lambda: 0.0) for n in range(1, 10)]
    assert no_jitter[:4] == [300, 600, 1200, 2400]
    assert no_jitter[4:] == [3600] * 5  # still probed, at the ceiling, forever


def drawing(value: float) -> Callable[[], float]:
    """A random source that always draws `value`."""
    return lambda: value


def test_jitter_only_shortens_the_wait() -> None:
    for failures in range(1, 12):
        delays = [failure_delay(300, failures, None, POLICY, rng=drawing(r)) for r in (0, 0.5, 1)]
        assert delays[0] >= delays[1] >= delays[2] >= 0.75 * delays[0]
        assert max(delays) <= 3600


def test_retry_after_longer_than_the_backoff_is_honoured_up_to_the_maximum() -> None:
    assert failure_delay(300, 1, 7200.0, POLICY, rng=lambda: 0.0) == 7200
    assert failure_delay(300, 1, 10.0, POLICY, rng=lambda: 0.0) == 300
    assert failure_delay(300, 1, 10 * 86_400.0, POLICY, rng=lambda: 0.0) == 86_400


def test_a_huge_failure_count_does_not_overflow() -> None:
    assert failure_delay(300, 10_000, None, POLICY, rng=lambda: 0.0) == 3600
