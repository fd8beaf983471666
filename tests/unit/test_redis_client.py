"""The C command packer sends exactly the bytes redis-py's own packer would."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis
from shared.redis_client import HiredisPackingConnection, connect


@pytest.mark.parametrize(
    "command",
    [
        ("SET", "k", "v"),
        ("XADD", "news.ingested", "*", "data", '{"headline": "Галузін: «мир»"}'),
        ("EVALSHA", "abc", 2, "k1", "k2", 1.5, 42, b"\x00\xffraw"),
        ("CLIENT SETNAME", "publication"),
        (b"XINFO GROUPS", "news.ingested"),
        # Long bytes (an event's data) are passed through between packed runs.
        ("EVALSHA", "abc", 2, "k1", "k2", "data", "é".encode() * 2000, 7, b"x" * 1024),
        ("SET", "k", b"y" * 5000),
    ],
)
def test_packs_the_same_bytes_as_redis_py(command: tuple[Any, ...]) -> None:
    ours = b"".join(HiredisPackingConnection().pack_command(*command))
    theirs = b"".join(aioredis.Connection().pack_command(*command))
    assert ours == theirs


def test_a_none_value_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(TypeError):
        HiredisPackingConnection().pack_command("SET", "k", None)


def test_tcp_urls_use_it_and_tls_and_socket_files_keep_redis_pys_own() -> None:
    def connection_class(url: str) -> type:
        return connect(url).connection_pool.connection_class  # type: ignore[no-any-return]

    assert connection_class("redis://127.0.0.1:1/0") is HiredisPackingConnection
    assert connection_class("rediss://127.0.0.1:1/0") is aioredis.SSLConnection
    assert connection_class("unix:///tmp/none.sock") is aioredis.UnixDomainSocketConnection
