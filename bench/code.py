"""`--code DIR`: run the services (and the in-process steps) from another checkout.

The venv's editable installs point at this work tree. With `--code DIR`
(a git worktree of another commit, say: `git worktree add /tmp/nf-base
<commit>`), DIR's `shared/src`, `services/*/src` and `cli/src` go first on
PYTHONPATH — for the processes the harness starts and for itself — so one
harness can measure two commits, or a clean checkout while this work tree
is being edited. This module imports nothing of the project: it must run
before anything else is imported.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path


def source_dirs(root: Path) -> list[Path]:
    dirs = [
        root / "shared" / "src",
        *sorted((root / "services").glob("*/src")),
        root / "cli" / "src",
    ]
    return [d for d in dirs if d.is_dir()]


def code_arg(argv: Sequence[str]) -> Path | None:
    for index, arg in enumerate(argv):
        if arg == "--code" and index + 1 < len(argv):
            return Path(argv[index + 1]).resolve()
        if arg.startswith("--code="):
            return Path(arg.split("=", 1)[1]).resolve()
    return None


def use_code(root: Path) -> list[str]:
    """Put `root`'s sources first for this process and the ones it starts."""
    dirs = [str(d) for d in source_dirs(root)]
    if not dirs:
        raise SystemExit(f"--code {root}: no shared/src or services/*/src there")
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([*dirs, *([previous] if previous else [])])
    sys.path[:0] = dirs
    return dirs
