"""Waiting with a deadline instead of sleeping: one way, for every test.

`poll` (sync) and `until` (async, for sync or async checks) return the first
truthy result of a check, or fail at the deadline saying what was awaited:
tools.devstack.waiting's loops, with the tests' defaults and AssertionError.
A test sleeps only to let time pass on purpose (a span in which nothing may
happen, a stand-in's simulated slowness), and says why where it does.
Starting a process waits for it with tools.devstack (RedisServer.start,
ServiceProcess.wait_ready), which raises LaunchError, a RuntimeError: a start
that fails is not the test's assertion.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

from tools.devstack import waiting
from tools.devstack.waiting import NOT_MET, Failure

T = TypeVar("T")


def poll(
    check: Callable[[], T | Literal[False] | None],
    timeout: float = 20.0,
    interval: float = 0.1,
    *,
    ignoring: tuple[type[BaseException], ...] = (),
    failure: Failure = NOT_MET,
) -> T:
    """The first truthy result of `check`, or an AssertionError at the deadline
    with `failure` (called then, if callable: a log's tail, say). An error of
    a type in `ignoring` counts as not yet."""
    result: T = waiting.poll(
        check, timeout, interval=interval, ignoring=ignoring, failure=failure, error=AssertionError
    )
    return result


async def until(
    check: Callable[[], Any],
    timeout: float = 15.0,
    interval: float = 0.05,
    *,
    ignoring: tuple[type[BaseException], ...] = (),
    failure: Failure = NOT_MET,
) -> Any:
    """`poll` for async tests: `check` may be sync or async; its first truthy
    result is returned."""
    return await waiting.until(
        check, timeout, interval=interval, ignoring=ignoring, failure=failure, error=AssertionError
    )
