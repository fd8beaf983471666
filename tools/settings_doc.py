"""Write docs/settings.md: every setting of every service, from the code.

Run `uv run python tools/settings_doc.py > docs/settings.md`; a test fails
when the checked-in table and the Settings classes disagree.
"""

from __future__ import annotations

import importlib
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

SOURCES: tuple[tuple[str, str, str], ...] = (
    ("ingest", "ingest.app", "Settings"),
    ("enrichment", "enrichment.app", "Settings"),
    ("publication", "publication.app", "Settings"),
    ("gateway", "gateway.app", "Settings"),
    ("newsfeed CLI", "newsfeed_cli.settings", "CliSettings"),
    ("ACL file (shared.acl)", "shared.acl", "AclSettings"),
)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "(required)"
    value: Any = field.default
    if value is PydanticUndefined and field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    if value is None:
        return "(unset)"
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(str(v) for v in value) or "(empty)"
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def rows() -> dict[str, list[tuple[str, str, str]]]:
    table: dict[str, list[tuple[str, str, str]]] = {}
    for name, module_name, class_name in SOURCES:
        settings: type[BaseSettings] = getattr(importlib.import_module(module_name), class_name)
        prefix = str(settings.model_config.get("env_prefix", ""))
        table[name] = [
            (f"{prefix}{field_name}".upper(), _default(field), field.description or "")
            for field_name, field in sorted(settings.model_fields.items())
        ]
    return table


def render() -> str:
    lines = [
        "# Settings",
        "",
        "Every setting is an environment variable, read once by the service's",
        "`app.py` (pydantic-settings). Generated from the code by",
        "`tools/settings_doc.py`; a test keeps this file in step.",
        "",
    ]
    for name, entries in rows().items():
        lines += [f"## {name}", "", "| env var | default | meaning |", "| --- | --- | --- |"]
        lines += [
            f"| `{var}` | {_cell(default)} | {_cell(text)} |" for var, default, text in entries
        ]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
