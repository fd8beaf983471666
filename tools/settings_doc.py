"""Write docs/settings.md: every setting of every service, from the code.

Run `uv run python tools/settings_doc.py > docs/settings.md`; a test fails
when the checked-in table and the Settings classes disagree.
"""

from __future__ import annotations

import importlib
from typing import Any

from pydantic import BaseModel
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
    if isinstance(value, tuple) and value and all(_is_pair(v) for v in value):
        value = dict(value)  # a map kept as sorted pairs (hashable): written as JSON
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(str(v) for v in value) or "(empty)"
    return str(value)


def _is_pair(value: Any) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str)


def _fields(prefix: str, model: type[BaseModel], delimiter: str) -> list[tuple[str, FieldInfo]]:
    """(env var, field) of every field; a nested model's fields (where the
    settings set env_nested_delimiter) under the nesting field's name."""
    found: list[tuple[str, FieldInfo]] = []
    for field_name, field in model.model_fields.items():
        nested = field.annotation
        if delimiter and isinstance(nested, type) and issubclass(nested, BaseModel):
            found += _fields(f"{prefix}{field_name}{delimiter}", nested, delimiter)
        else:
            found.append((f"{prefix}{field_name}".upper(), field))
    return found


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def rows() -> dict[str, list[tuple[str, str, str]]]:
    table: dict[str, list[tuple[str, str, str]]] = {}
    for name, module_name, class_name in SOURCES:
        settings: type[BaseSettings] = getattr(importlib.import_module(module_name), class_name)
        prefix = str(settings.model_config.get("env_prefix", ""))
        delimiter = str(settings.model_config.get("env_nested_delimiter") or "")
        table[name] = [
            (var, _default(field), field.description or "")
            for var, field in sorted(
                _fields(prefix, settings, delimiter), key=lambda f: f[0].lower()
            )
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
