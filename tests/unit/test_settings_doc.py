"""docs/settings.md lists every setting the code reads, with its default."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_checked_in_settings_table_matches_the_code() -> None:
    """Fails when a setting is added, removed or changes its default without
    `uv run python tools/settings_doc.py > docs/settings.md`."""
    spec = importlib.util.spec_from_file_location(
        "settings_doc", ROOT / "tools" / "settings_doc.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs" / "settings.md").read_text() == module.render()
