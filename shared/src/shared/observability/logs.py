"""Structured logs: one JSON object per line (or readable console lines for
`make run`), for our own loggers and uvicorn's alike, with secrets removed.

Log with context, e.g. `log.info("item accepted", extra={"uri": …, "version": …,
"traceid": …})` from stdlib loggers, or bind it with structlog's contextvars.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, Literal

import structlog

SECRET_KEYS = {"authorization", "token", "ingest_token", "password", "secret", "api_key"}
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
# The userinfo of any URL: "user:password@" keeps the user, a lone "token@" is
# all secret (pip's convention). The host starts after the last "@".
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)(?:([^:/?#@\s]*):)?[^/?#\s]*@")
# Query or fragment parameters whose name says they carry a secret.
_SECRET_PARAM = re.compile(
    r"(?i)([?&;#][^=&;#\s]*(?:token|key|secret|pass|pwd|auth|sig|session|credential|code)"
    r"[^=&;#\s]*=)[^&;#\s\"'<>]*"
)
_PLAIN = (int, float, bool, type(None))


def _userinfo(match: re.Match[str]) -> str:
    scheme, user = match.group(1), match.group(2)
    return f"{scheme}{user}:***@" if user is not None else f"{scheme}***@"


def scrub(text: str) -> str:
    """Remove bearer tokens, URL userinfo and secret-looking query parameters from
    free text (httpx logs every request's full URL, for one)."""
    text = _BEARER.sub(r"\1***", text)
    text = _USERINFO.sub(_userinfo, text)
    return _SECRET_PARAM.sub(r"\1***", text)


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, dict):
        return {key: _scrubbed(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(inner) for inner in value]
    # Anything else (an httpx.URL passed as `extra`, say) is written as its text.
    return scrub(str(value))


def redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if key.lower() in SECRET_KEYS:
            event_dict[key] = "***"
        elif not key.startswith("_"):  # structlog's own (_record, _from_structlog)
            event_dict[key] = _scrubbed(event_dict[key])
    return event_dict


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (test captures replace it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def configure_logging(level: str = "INFO", fmt: Literal["json", "console"] = "json") -> None:
    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared_processors, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared_processors,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
