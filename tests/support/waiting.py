"""Waiting with a deadline instead of sleeping: one way, for every test.

`poll` (sync) and `until` (async, for sync or async checks) return the first
truthy result of a check, or fail at the deadline saying what was awaited.
A test sleeps only to let time pass on purpose (a span in which nothing may
happen, a stand-in's simulated slowness), and says why where it does.
Starting a process waits for it with tools.devstack (RedisServer.start,
ServiceProcess.wait_ready), which raises LaunchError, a RuntimeError: a start
that fails is not the test's assertion.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
NOT_MET = "condition not met before the deadline"


def _failure(failure: str | Callable[[], str], last_error: BaseException | None) -> AssertionError:
    message = failure() if callable(failure) else failure
    if last_error is not None:
        message = f"{message} (last error: {last_error!r})"
    return AssertionError(message)


def poll(
    check: Callable[[], T],
    timeout: float = 20.0,
    interval: float = 0.1,
    *,
    ignoring: tuple[type[BaseException], ...] = (),
    failure: str | Callable[[], str] = NOT_MET,
) -> T:
    """The first truthy result of `check`, or an AssertionError at the deadline
    with `failure` (called then, if callable: a log's tail, say). An error of
    a type in `ignoring` counts as not yet."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except ignoring as error:
            last_error = error
        else:
            if result:
                return result
        time.sleep(interval)
    raise _failure(failure, last_error)


async def until(
    check: Callable[[], Any],
    timeout: float = 15.0,
    interval: float = 0.05,
    *,
    ignoring: tuple[type[BaseException], ...] = (),
    failure: str | Callable[[], str] = NOT_MET,
) -> Any:
    """`poll` for async tests: `check` may be sync or async; its first truthy
    result is returned."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
        except ignoring as error:
            last_error = error
        else:
            if result:
                return result
        await asyncio.sleep(interval)
    raise _failure(failure, last_error)
