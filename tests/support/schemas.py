"""Documents checked against the JSON Schemas in tests/fixtures/schemas (IPTC
ninjs 2.2, JSON Feed 1.1; their origins: NOTICE.md there), with the
`date-time` and `uri` formats checked for real."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema

SCHEMAS = Path(__file__).resolve().parents[1] / "fixtures" / "schemas"
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def format_checker() -> jsonschema.FormatChecker:
    """`date-time` and `uri` checked for real (jsonschema skips them without extra packages)."""
    checker = jsonschema.FormatChecker()

    def date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not RFC3339.fullmatch(value):
            return False
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        return True

    def uri(value: object) -> bool:
        if not isinstance(value, str):
            return True
        return re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]*", value) is not None

    # Registered by calling `checks`, not as decorators: jsonschema is untyped,
    # and its decorator would leave the checks untyped too.
    checker.checks("date-time", raises=ValueError)(date_time)
    checker.checks("uri")(uri)
    return checker


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / name).read_text())
    return jsonschema.Draft202012Validator(schema, format_checker=format_checker())


def assert_valid(check: jsonschema.Draft202012Validator, document: Any) -> None:
    errors = sorted(check.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
