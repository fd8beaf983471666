"""Running wrk and reading its report; the Python load generator when wrk is absent."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench.httpload import GetLoad

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_DURATION = re.compile(r"^\s*([\d.]+)(us|ms|s|m)\s*$")


def duration_ms(text: str) -> float:
    """wrk's latency notation ("812.00us", "1.23ms", "2.00s") in milliseconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> dict[str, Any]:
    """Requests/s, latency percentiles and errors from `wrk --latency` output."""
    result: dict[str, Any] = {"tool": "wrk"}
    rps = re.search(r"^Requests/sec:\s*([\d.]+)", output, re.MULTILINE)
    if not rps:
        raise ValueError("wrk output has no Requests/sec line")
    result["rps"] = float(rps.group(1))
    total = re.search(r"^\s*(\d+) requests in ([\d.]+\w+)", output, re.MULTILINE)
    if total:
        result["requests"] = int(total.group(1))
    for pct in ("50", "75", "90", "99"):
        match = re.search(rf"^\s*{pct}%\s+(\S+)", output, re.MULTILINE)
        if match:
            result[f"p{pct}_ms"] = duration_ms(match.group(1))
    max_match = re.search(r"^\s*Latency\s+\S+\s+\S+\s+(\S+)", output, re.MULTILINE)
    if max_match:
        result["max_ms"] = duration_ms(max_match.group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", output)
    result["non_2xx"] = int(non2xx.group(1)) if non2xx else 0
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    result["errors"] = sum(int(g) for g in errors.groups()) if errors else 0
    return result


def wrk_path() -> str | None:
    return shutil.which("wrk")


# Each request takes the next path of a list (each thread from its own random start):
# many different pages, so no single-page cache answers them all.
_PATHS_SCRIPT = """
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
local i = 0
init = function(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
  i = math.random(#paths)
end
request = function()
  i = (i %% #paths) + 1
  return wrk.format(nil, paths[i])
end
"""


def paths_script(paths_file: Path) -> str:
    return _PATHS_SCRIPT % str(paths_file)


def load(
    url: str,
    *,
    connections: int,
    threads: int,
    seconds: float,
    paths_file: Path | None = None,
) -> dict[str, Any]:
    """One load run against `url` (or, with `paths_file`, against its host with the
    paths listed one a line, in turn): wrk if installed, else the Python load generator."""
    exe = wrk_path()
    if exe is None:
        urls = [url]
        if paths_file is not None:
            root = url.split("/", 3)
            urls = [f"{root[0]}//{root[2]}{path}" for path in paths_file.read_text().split()]
        return asyncio.run(GetLoad(urls, connections, seconds).run())
    script: list[str] = []
    if paths_file is not None:
        lua = paths_file.with_suffix(".lua")
        lua.write_text(paths_script(paths_file))
        script = ["-s", str(lua)]
    completed = subprocess.run(  # noqa: S603 - wrk with our own arguments
        [exe, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency", *script, url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    return parse_wrk(completed.stdout)
