"""Waiting with a deadline instead of sleeping: one way, for every test."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


def poll(check: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Return the first truthy result of `check`, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError("condition not met before the deadline")


async def until(check: Callable[[], object], timeout: float = 15.0, interval: float = 0.05) -> None:
    """Poll a sync or async condition until it holds, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(interval)
    raise AssertionError("condition not met before the deadline")
