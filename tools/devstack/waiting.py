"""Waiting with a deadline: the one polling loop of `make run`, the benchmark
and the tests.

`poll` (sync) and `until` (async, for sync or async checks) return the first
truthy result of a check, checked at least once; at the deadline they raise
`error(message)`: `failure` (called then, if callable: a log's tail, say) and
the last error ignored. The dev stack raises LaunchError (devstack.wait_until),
the tests AssertionError (tests/support/waiting.py), the benchmark TimeoutError.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Literal, TypeVar

T = TypeVar("T")
NOT_MET = "condition not met before the deadline"
Failure = str | Callable[[], str]


def _error(
    error: Callable[[str], BaseException], failure: Failure, last_error: BaseException | None
) -> BaseException:
    message = failure() if callable(failure) else failure
    if last_error is not None:
        message = f"{message} (last error: {last_error!r})"
    return error(message)


def poll(
    check: Callable[[], T | Literal[False] | None],
    timeout: float,
    *,
    interval: float = 0.05,
    ignoring: tuple[type[BaseException], ...] = (),
    failure: Failure = NOT_MET,
    error: Callable[[str], BaseException] = TimeoutError,
) -> T:
    """The first truthy result of `check`. An error of a type in `ignoring`
    counts as not yet; any other ends the wait at once."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = check()
        except ignoring as caught:
            last_error = caught
        else:
            if result:
                return result
        if time.monotonic() >= deadline:
            raise _error(error, failure, last_error)
        time.sleep(interval)


async def until(
    check: Callable[[], Any],
    timeout: float,  # noqa: ASYNC109 - a deadline that fails saying what was awaited
    *,
    interval: float = 0.05,
    ignoring: tuple[type[BaseException], ...] = (),
    failure: Failure = NOT_MET,
    error: Callable[[str], BaseException] = TimeoutError,
) -> Any:
    """`poll` for async code: `check` may be sync or async."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
        except ignoring as caught:
            last_error = caught
        else:
            if result:
                return result
        if time.monotonic() >= deadline:
            raise _error(error, failure, last_error)
        await asyncio.sleep(interval)
