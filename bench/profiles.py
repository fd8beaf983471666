"""Reading py-spy's collapsed stacks: where a process spent its samples.

`py-spy record --format raw` writes one line per distinct stack,
`frame;frame;...;frame count`, outermost first, each frame
`function (path/to/file.py:line)`. py-spy is not in the lock: the harness
profiles only when it is on PATH (`--profile`), and this module turns the
files into the tables docs/performance.md quotes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

IDLE = "idle (waiting in epoll)"
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")

# First match wins: (bucket, substring of "/" + the frame's file path). py-spy
# names files by their import path ("redis/asyncio/client.py"); "/" in front
# makes the same needle match that and a full path.
BUCKETS: tuple[tuple[str, str], ...] = (
    (IDLE, "/selectors.py"),
    ("enrichment", "/enrichment/"),
    ("ingest", "/ingest/"),
    ("publication", "/publication/"),
    ("gateway", "/gateway/"),
    ("shared.delivery", "/shared/delivery/"),
    ("shared.readmodel", "/shared/readmodel/"),
    ("shared.observability", "/shared/observability/"),
    ("shared", "/shared/"),
    ("pydantic", "/pydantic"),
    ("redis-py", "/redis/"),
    ("http (uvicorn/h11/starlette/fastapi)", "/uvicorn/"),
    ("http (uvicorn/h11/starlette/fastapi)", "/h11/"),
    ("http (uvicorn/h11/starlette/fastapi)", "/starlette/"),
    ("http (uvicorn/h11/starlette/fastapi)", "/fastapi/"),
    ("logging", "/logging/"),
    ("socket writes (asyncio transport)", "/asyncio/selector_events.py"),
    ("asyncio", "/asyncio/"),
    ("prometheus", "/prometheus_client/"),
)


def parse_line(line: str) -> tuple[list[str], int] | None:
    line = line.rstrip()
    if not line or " " not in line:
        return None
    stack, _, count = line.rpartition(" ")
    if not count.isdigit():
        return None
    return stack.split(";"), int(count)


def frame_file(frame: str) -> str:
    match = _FRAME.match(frame)
    return match.group("file") if match else ""


def frame_name(frame: str) -> str:
    """`function (file.py:line)` -> `function (file.py)`: lines of one function merge."""
    match = _FRAME.match(frame)
    if not match:
        return frame
    path = match.group("file")
    short = "/".join(path.split("/")[-2:]) if "/" in path else path
    return f"{match.group('func')} ({short})"


def bucket_of(frame: str) -> str:
    path = "/" + frame_file(frame)
    for name, needle in BUCKETS:
        if needle in path:
            return name
    return "other" if path != "/" else "native/unknown"


def summarize(lines: Iterable[str], top: int = 15) -> dict[str, Any]:
    """Samples per function (self: the innermost frame; total: anywhere in the stack),
    and self samples per bucket (which library or service the innermost Python frame is in).

    Samples waiting in epoll are counted apart (`idle`; py-spy's own idle
    detection does not work on every kernel) and shares are of the busy ones."""
    self_counts: Counter[str] = Counter()
    total_counts: Counter[str] = Counter()
    buckets: Counter[str] = Counter()
    samples = 0
    idle = 0
    for line in lines:
        parsed = parse_line(line)
        if parsed is None:
            continue
        frames, count = parsed
        frames = [f for f in frames if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        if bucket_of(frames[-1]) == IDLE:
            idle += count
            continue
        samples += count
        self_counts[frame_name(frames[-1])] += count
        buckets[bucket_of(frames[-1])] += count
        for name in {frame_name(f) for f in frames}:
            total_counts[name] += count

    def share(counter: Counter[str], n: int | None) -> list[dict[str, Any]]:
        return [
            {"name": name, "samples": c, "share": c / samples if samples else 0.0}
            for name, c in counter.most_common(n)
        ]

    return {
        "samples": samples,
        "idle_samples": idle,
        "buckets": share(buckets, None),
        "top_self": share(self_counts, top),
        "top_total": share(total_counts, top),
    }


_PERF_ROW = re.compile(r"^\s+([\d.]+)%\s+(\S.*?)\s*$")


def parse_perf_report(text: str) -> list[dict[str, Any]]:
    """Rows of `perf report --stdio --sort ...` (no call graphs): share and name."""
    rows = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = _PERF_ROW.match(line)
        if match:
            rows.append({"name": match.group(2), "share": float(match.group(1)) / 100})
    return rows


def perf_summary(path: Path, top: int = 12) -> dict[str, Any]:
    """CPU samples of one `perf record` file by shared object and by symbol."""
    perf = shutil.which("perf")
    if perf is None:
        return {"error": "perf not on PATH"}
    out: dict[str, Any] = {}
    for key, sort in (("by_object", "dso"), ("by_symbol", "dso,sym")):
        report = subprocess.run(  # noqa: S603 - perf on our own file
            [perf, "report", "-i", str(path), "--stdio", "--sort", sort],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        out[key] = parse_perf_report(report.stdout)[:top]
    return out


def summarize_file(path: Path, top: int = 15) -> dict[str, Any]:
    with path.open(errors="replace") as lines:
        return summarize(lines, top)
