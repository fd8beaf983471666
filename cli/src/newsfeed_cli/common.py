"""What every command needs: settings, a Redis client, a way to fail clearly."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import httpx
import redis.asyncio as aioredis
import typer
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rich.console import Console
from rich.markup import escape
from shared.observability.logs import scrub
from shared.redis_client import connect

from newsfeed_cli import exit_codes
from newsfeed_cli.settings import VARIABLES, CliSettings, StackFile, load

console = Console()
errors = Console(stderr=True)
T = TypeVar("T")


def fit(text: str, width: int) -> str:
    """`text` in `width` columns, cut between words with an ellipsis, never inside one."""
    if len(text) <= width:
        return text
    if width < 1:
        return ""
    cut = text[: width - 1]
    if text[width - 1] != " ":  # the cut falls inside a word: drop that word
        cut = cut.rpartition(" ")[0]
    return cut.rstrip() + "…"


def fail(message: str, code: int) -> NoReturn:
    errors.print(f"[bold red]error:[/] {escape(scrub(message))}", soft_wrap=True)
    raise typer.Exit(code)


def settings() -> CliSettings:
    return _loaded()[0]


def _loaded() -> tuple[CliSettings, StackFile | None]:
    try:
        return load(Path.cwd())
    except ValidationError as error:
        problems = "; ".join(
            f"NEWSFEED_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in error.errors()
        )
        fail(f"settings: {problems}", exit_codes.USAGE)


def missing(variable: str) -> NoReturn:
    """No variable and no running `make run` to take it from: say which, and why."""
    stack = _loaded()[1]
    chosen = [name for name in VARIABLES if os.environ.get(name)]
    if chosen:
        hint = f"with {', '.join(chosen)} set, .run/stack.json is not used; set this one too"
    elif stack is None:
        hint = "or run this where `make run` is running (it records its stack in .run/stack.json)"
    elif not stack.running:
        hint = f"{stack.path} is left from a `make run` that is no longer running"
    else:
        hint = f"{stack.path} does not name it"
    fail(f"{variable} is required for this command ({hint})", exit_codes.USAGE)


def with_redis(work: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
    """Run `work` with a client on NEWSFEED_REDIS_URL; unreachable Redis exits 3."""

    url = settings().redis_url
    if not url:
        missing("NEWSFEED_REDIS_URL")

    async def run() -> T:
        client = connect(url, client_name="newsfeed-cli")
        try:
            return await work(client)
        finally:
            await client.aclose()

    try:
        return asyncio.run(run())
    except (RedisConnectionError, RedisTimeoutError, OSError) as error:
        fail(f"cannot reach Redis: {error}", exit_codes.UNREACHABLE)


def ingest_api() -> httpx.Client:
    """A client for the ingest API with the token; a missing token exits 2."""
    config = settings()
    if config.ingest_token is None:
        missing("NEWSFEED_INGEST_TOKEN")
    return httpx.Client(
        base_url=config.ingest_url,
        headers={"Authorization": f"Bearer {config.ingest_token.get_secret_value()}"},
        timeout=15,
    )


def call(request: Callable[[httpx.Client], httpx.Response]) -> httpx.Response:
    """Send one request; unreachable ingest exits 3, a 401 exits 2, other 4xx/5xx exit 1."""
    with ingest_api() as client:
        try:
            response = request(client)
        except httpx.HTTPError as error:
            fail(f"cannot reach ingest: {error}", exit_codes.UNREACHABLE)
    if response.status_code == 401:
        fail("ingest refused the token (401)", exit_codes.USAGE)
    if response.status_code >= 400:
        try:
            body = response.json()
            message = body.get("error", response.text)
            if body.get("detail"):
                message = f"{message}: {body['detail']}"
        except ValueError:
            message = response.text
        fail(f"{response.status_code} {message}", exit_codes.PROBLEMS)
    return response
