"""Child processes of a dev stack: each started with its output in a log file,
waited for with a deadline, stopped with SIGTERM and, past a timeout, SIGKILL.

`Process` is what RedisServer and ServiceProcess have in common; `make run`
supervises them through it (restarting one is `spawn` again)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import TypeVar

from tools.devstack.waiting import poll

REPO = Path(__file__).resolve().parents[2]
LOG_TAIL_LINES = 40

T = TypeVar("T")


def relative(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        return f"(cannot read {path}: {error})"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else "(empty)"


class LaunchError(RuntimeError):
    """A process of the stack did not come up, or exited. The message ends with
    the last lines of `log` (read when the error is raised), the file worth showing."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        if log is not None:
            message = f"{message}\n--- last lines of {relative(log)} ---\n{log_tail(log)}\n---"
        super().__init__(message)
        self.log = log


def describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}, code {code}"
    return f"code {code}"


def wait_until(
    check: Callable[[], T | None],
    timeout: float,
    what: str,
    *,
    interval: float = 0.05,
    ignoring: tuple[type[BaseException], ...] = (),
    log: Path | None = None,
) -> T:
    """The first truthy result of `check` (tools.devstack.waiting.poll); at the
    deadline LaunchError saying `what` was awaited, with `log`'s last lines."""
    return poll(
        check,
        timeout,
        interval=interval,
        ignoring=ignoring,
        failure=f"not within {timeout:.0f} s: {what}",
        error=lambda message: LaunchError(message, log),
    )


# --- ports ------------------------------------------------------------------------


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could bind `port` now (with SO_REUSEADDR, as uvicorn and
    redis-server do, so a port in TIME_WAIT counts as free)."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1", taken: Collection[int] = ()) -> int:
    """A port the kernel says is free now, and not one of `taken`. Someone else may
    bind it before the process it is for does: ServiceProcess.wait_ready and
    RedisCluster's start try another one then."""
    while True:
        with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in taken:
            return port


def client_host(bind_host: str) -> str:
    """Where to reach a server bound to `bind_host` from this machine."""
    if bind_host in ("0.0.0.0", ""):  # noqa: S104 - recognising it, not binding it
        return "127.0.0.1"
    if bind_host == "::":
        return "[::1]"
    return f"[{bind_host}]" if ":" in bind_host else bind_host


# --- processes --------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with_parent(parent: int) -> Callable[[], None]:
    """Runs in the child before exec: get SIGTERM if the launcher dies, even by SIGKILL."""

    def setup() -> None:
        if _LIBC is not None:
            _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the launcher died before prctl took effect
            os._exit(1)

    return setup


class Process:
    """One child process, started from the repository root with its output
    appended to `log_path`. Subclasses say what to run (`argv`) and with what
    environment (`environment`); they are dataclasses holding these fields."""

    name: str
    log_path: Path
    # Own session and SIGTERM when the launcher dies (`make run`: Ctrl-C reaches the
    # launcher alone, which stops the services before their Redis). Only for a
    # launcher without threads: it runs code in the child before exec.
    detached: bool
    process: subprocess.Popen[bytes] | None

    def argv(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> Mapping[str, str] | None:
        """The child's whole environment; None: this process's."""
        return None

    def spawn(self) -> None:
        """Start it (again), without waiting for anything."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        environment = self.environment()
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - argv built here, no shell
                self.argv(),
                cwd=REPO,
                env=None if environment is None else dict(environment),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=self.detached,
                preexec_fn=_die_with_parent(os.getpid()) if self.detached else None,
            )

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_code(self) -> int | None:
        """None while it runs, or if it was never started."""
        return None if self.process is None else self.process.poll()

    def check_alive(self) -> None:
        """LaunchError, with the log's tail, if it has exited."""
        code = self.exit_code()
        if code is not None:
            raise LaunchError(
                f"{self.name} exited unexpectedly ({describe_exit(code)})", self.log_path
            )

    def signal(self, sig: signal.Signals) -> None:
        if self.alive():
            assert self.process is not None
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)

    def kill(self) -> None:
        """kill -9, and reap it."""
        if self.alive():
            assert self.process is not None
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            self.process.wait(5)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, SIGKILL after `timeout` s; the exit code (None: never started)."""
        stop_all([self], timeout)
        return None if self.process is None else self.process.returncode

    def restart(self) -> None:
        """kill -9 if it runs, then start again with the same settings and port."""
        self.kill()
        self.spawn()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return log_tail(self.log_path, lines)


def stop_all(
    processes: Iterable[Process],
    timeout: float,
    *,
    on_kill: Callable[[Process, float], None] | None = None,
) -> None:
    """SIGTERM to every one still running, then one deadline for them all (they stop
    in parallel, so waits must not add up); SIGKILL what is left, after
    `on_kill(process, timeout)` (to say so)."""
    running = [p for p in processes if p.alive()]
    for process in running:
        process.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in running:
        assert process.process is not None
        try:
            process.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            if on_kill is not None:
                on_kill(process, timeout)
            process.kill()
