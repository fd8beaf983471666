"""The CLI's settings: the same NEWSFEED_* variables the services read, or else the
stack `make run` records in .run/stack.json (tools/run_local.py)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

STACK_FILE = Path(".run") / "stack.json"
# Set any of these and the stack file is left alone: settings never mix two stacks.
VARIABLES = ("NEWSFEED_REDIS_URL", "NEWSFEED_INGEST_URL", "NEWSFEED_INGEST_TOKEN")
MAX_STACK_FILE_BYTES = 64 * 1024


class CliSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEWSFEED_", extra="ignore")

    redis_url: str | None = Field(
        default=None, description="the Redis the services use (status, dlq, tail)"
    )
    ingest_url: str = Field(default="http://127.0.0.1:8001", description="the ingest API")
    ingest_token: SecretStr | None = Field(default=None, description="ingest bearer token")


@dataclass(frozen=True)
class StackFile:
    """What `make run` recorded, and whether the launcher that wrote it still runs."""

    path: Path
    values: dict[str, Any]
    running: bool


def find_stack_file(start: Path) -> Path | None:
    """The nearest .run/stack.json from `start` upwards, as git finds .git."""
    for directory in (start, *start.parents):
        candidate = directory / STACK_FILE
        if candidate.is_file():
            return candidate
    return None


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process took the number
        return False
    return True


def read_stack_file(start: Path) -> StackFile | None:
    """The stack file near `start`; None when there is none or it cannot be read."""
    path = find_stack_file(start)
    if path is None:
        return None
    try:
        with path.open("rb") as source:
            values = json.loads(source.read(MAX_STACK_FILE_BYTES))
    except (OSError, ValueError):
        return None
    if not isinstance(values, dict):
        return None
    return StackFile(path, values, _alive(values.get("pid")))


def load(cwd: Path) -> tuple[CliSettings, StackFile | None]:
    """Settings from the environment; with none of VARIABLES set, from the running
    stack's file instead. The stack file found is returned for error messages."""
    stack = None if any(os.environ.get(name) for name in VARIABLES) else read_stack_file(cwd)
    if stack is None or not stack.running:
        return CliSettings(), stack
    fields = {name: stack.values[name] for name in CliSettings.model_fields if name in stack.values}
    return CliSettings(**fields), stack
