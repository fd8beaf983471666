"""Write .env for `docker compose`: every secret docker-compose.yml requires, fresh
and random. `make compose-env` calls this; it never overwrites an existing .env.

The variables are the ones the compose file marks required (`${NAME:?...}`), so
the two cannot drift apart. The file is created for this user alone (mode 0600).
Standard library only: it runs before `make setup`.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = re.compile(r"\$\{([A-Z][A-Z0-9_]*):\?")
SECRET_BYTES = 24  # 48 hex characters: URL-safe inside redis://user:password@host


def required_variables(compose_file: Path) -> list[str]:
    return sorted(set(REQUIRED.findall(compose_file.read_text(encoding="utf-8"))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compose-file", type=Path, default=ROOT / "docker-compose.yml")
    parser.add_argument("--out", type=Path, default=ROOT / ".env")
    args = parser.parse_args(argv)

    names = required_variables(args.compose_file)
    if not names:
        print(f"error: {args.compose_file} requires no variable", file=sys.stderr)
        return 1
    try:
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        print(
            f"error: {args.out} exists; not overwriting it (its secrets may be in use). "
            "Remove it first to get new ones.",
            file=sys.stderr,
        )
        return 1
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("# Written by `make compose-env`: secrets for docker compose. Keep it private.\n")
        for name in names:
            out.write(f"{name}={secrets.token_hex(SECRET_BYTES)}\n")
    print(f"wrote {args.out} (mode 0600): {', '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
