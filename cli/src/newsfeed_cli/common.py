"""What every command needs: settings, a Redis client, a way to fail clearly."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

import redis.asyncio as aioredis
import typer
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rich.console import Console
from shared.observability.logs import scrub
from shared.redis_client import connect

from newsfeed_cli import exit_codes
from newsfeed_cli.settings import CliSettings

console = Console()
errors = Console(stderr=True)
T = TypeVar("T")


def fail(message: str, code: int) -> NoReturn:
    errors.print(f"[bold red]error:[/] {scrub(message)}")
    raise typer.Exit(code)


def settings() -> CliSettings:
    try:
        return CliSettings()
    except ValidationError as error:
        problems = "; ".join(
            f"NEWSFEED_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in error.errors()
        )
        fail(f"settings: {problems}", exit_codes.USAGE)


def with_redis(work: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
    """Run `work` with a client on NEWSFEED_REDIS_URL; unreachable Redis exits 3."""

    async def run() -> T:
        client = connect(settings().redis_url, client_name="newsfeed-cli")
        try:
            return await work(client)
        finally:
            await client.aclose()

    try:
        return asyncio.run(run())
    except (RedisConnectionError, RedisTimeoutError, OSError) as error:
        fail(f"cannot reach Redis: {error}", exit_codes.UNREACHABLE)
