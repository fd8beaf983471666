"""Print the table of a results file again:
`python -m bench.report [--markdown] [bench/results/latest.json]`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.run import RESULTS, table


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    markdown = "--markdown" in args
    args = [a for a in args if a != "--markdown"]
    path = Path(args[0]) if args else RESULTS / "latest.json"
    result = json.loads(path.read_text())
    machine = result.get("machine", {})
    git = result.get("git", {})
    print(
        f"{path}: {result.get('generated_at')}, profile {result.get('profile')}, "
        f"commit {str(git.get('commit'))[:12]}{' (dirty)' if git.get('dirty') else ''}, "
        f"{machine.get('nproc')} cores, load {machine.get('loadavg_at_start')}"
    )
    print(table(result, markdown=markdown))
    for name, error in result.get("errors", {}).items():
        print(f"error in {name}: {error}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
