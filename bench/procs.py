"""Processes of a measured run: its own redis-server, the services, CPU accounting.

Each measured thing gets a `Stack`: a fresh redis-server on a free port (never
the machine's 6379) and the processes it needs, each `python -m <module>` with
NEWSFEED_* settings, both started by tools.devstack. CPU time is read
from /proc/<pid>/stat (user + system time of all the process's threads and
of its reaped children, such as Redis's AOF rewrite) before and after the
measured window.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tools.devstack import RedisServer, ServiceProcess, free_port, stop_all

TOKEN = "bench-token-0123456789abcdef"  # noqa: S105 - a local test stack's
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SERVICE_STOP_S = 20.0


def parse_stat_times(stat: str) -> tuple[int, int]:
    """(user, system) clock ticks from the text of /proc/<pid>/stat: the process's
    own (utime, stime) plus its reaped children's (cutime, cstime) — Redis forks
    to rewrite its AOF, and that work is the workload's too.

    The command name (field 2) is in parentheses and may hold spaces, so the
    fields are counted from the last ')': utime, stime, cutime and cstime are
    fields 14 to 17.
    """
    rest = stat[stat.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state); field n is rest[n - 3].
    return int(rest[11]) + int(rest[13]), int(rest[12]) + int(rest[14])


def parse_stat_ticks(stat: str) -> int:
    """All CPU ticks of the process and its reaped children."""
    user, system = parse_stat_times(stat)
    return user + system


def _stat(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None


def cpu_seconds(pid: int) -> float:
    text = _stat(pid)
    return float("nan") if text is None else parse_stat_ticks(text) / CLOCK_TICKS


def system_seconds(pid: int) -> float:
    """Kernel time only: system calls, here mostly loopback socket I/O."""
    text = _stat(pid)
    return float("nan") if text is None else parse_stat_times(text)[1] / CLOCK_TICKS


def cpu_snapshot(pids: Mapping[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def system_snapshot(pids: Mapping[str, int]) -> dict[str, float]:
    return {name: system_seconds(pid) for name, pid in pids.items()}


def cpu_delta(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    return {name: after[name] - before[name] for name in before if name in after}


def self_cpu_seconds() -> float:
    """CPU of the harness process itself (its load generator and pollers)."""
    return time.process_time()


@dataclass
class Stack:
    """A redis-server of its own plus the processes of one measured run."""

    workdir: Path
    aof: bool = True
    log_level: str = "WARNING"
    partitions: int | None = None  # NEWSFEED_PARTITIONS of the services (None: their default)
    redis_server: RedisServer | None = None
    procs: dict[str, ServiceProcess] = field(default_factory=dict)
    _client: redis.Redis | None = None

    def start_redis(self) -> Stack:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.redis_server = RedisServer(workdir=self.workdir / "redis", appendonly=self.aof)
        self.redis_server.start()
        return self

    @property
    def redis_url(self) -> str:
        assert self.redis_server is not None
        return self.redis_server.url

    @property
    def redis(self) -> redis.Redis:
        if self._client is None:
            self._client = redis.Redis.from_url(self.redis_url, decode_responses=True)
        return self._client

    def base_env(self) -> dict[str, str]:
        return {
            "NEWSFEED_REDIS_URL": self.redis_url,
            "NEWSFEED_INGEST_TOKEN": TOKEN,
            "NEWSFEED_LOG_LEVEL": self.log_level,
            # No feed sources in a benchmark: keep ingest's poller quiet.
            "NEWSFEED_SCHEDULER_ENABLED": "false",
            "PYTHONUNBUFFERED": "1",
        } | ({"NEWSFEED_PARTITIONS": str(self.partitions)} if self.partitions else {})

    def spawn(
        self,
        name: str,
        module: str | None = None,
        env: Mapping[str, str] | None = None,
        args: tuple[str, ...] = (),
    ) -> ServiceProcess:
        proc = ServiceProcess(
            name,
            free_port(),
            {**self.base_env(), **(env or {})},
            self.workdir / f"{name}.log",
            module=module,
            args=args,
        )
        self.procs[name] = proc.start()
        return proc

    def pids(self) -> dict[str, int]:
        assert self.redis_server is not None
        pids = {name: proc.pid for name, proc in self.procs.items()}
        pids["redis"] = self.redis_server.pid
        return pids

    def check_alive(self) -> None:
        for proc in self.procs.values():
            proc.check_alive()

    def stop(self) -> None:
        stop_all(self.procs.values(), SERVICE_STOP_S)
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.redis_server is not None:
            self.redis_server.stop()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def wait_for(
    condition: Callable[[], bool], timeout: float, interval: float = 0.005, what: str = "condition"
) -> float:
    """Poll until `condition()`; return the monotonic time it first held."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def redis_version(client: redis.Redis) -> str:
    return str(client.info("server").get("redis_version", "?"))
