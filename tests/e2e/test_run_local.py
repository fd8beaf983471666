"""`make run` (tools/run_local.py) as a user meets it: a real launcher with its own
redis-server on free ports; services killed with SIGKILL, SIGINT sent from a script
that started it in the background, the README's operator command in a clean
environment."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from shared.streams import ROUTES

from tests.support.chaos import Workload, feed_uris
from tests.support.services import TOKEN
from tests.support.waiting import poll
from tools.devstack import FULL_STACK, RedisCluster, free_port, port_is_free
from tools.run_local import port_variable

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "demo" / "items.json"
CRASH_LIMIT = 5  # tools/run_local.py: the 5th exit within a minute stops the stack


def ignore_sigint() -> None:
    """What a non-interactive shell does to a job it starts with `&`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@dataclass
class Launcher:
    """One `tools/run_local.py`, its run directory in `workdir/.run`."""

    workdir: Path
    process: subprocess.Popen[bytes]
    ports: dict[str, int]

    @property
    def stack_file(self) -> Path:
        return self.workdir / ".run" / "stack.json"

    def output(self) -> str:
        return (self.workdir / "launcher.out").read_text(errors="replace")

    def stack(self) -> dict[str, Any]:
        record: dict[str, Any] = json.loads(self.stack_file.read_text())
        return record

    def wait_up(self, timeout: float = 180.0) -> dict[str, Any]:
        def up() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"run_local exited early:\n{self.output()}")
            return self.stack_file.is_file()

        poll(up, timeout=timeout, interval=0.2)
        return self.stack()

    def redis_port(self) -> int:
        port: int | None = urllib.parse.urlsplit(self.stack()["redis_url"]).port
        assert port is not None
        return port

    def kill(self, name: str) -> int:
        """SIGKILL a process of the stack; returns its pid."""
        pid = int(self.stack()["pids"][name])
        os.kill(pid, signal.SIGKILL)
        return pid

    def wait_restarted(self, name: str, old_pid: int, timeout: float = 60.0) -> int:
        def restarted() -> int | None:
            if self.process.poll() is not None:
                raise AssertionError(f"run_local exited:\n{self.output()}")
            with_pid = int(self.stack()["pids"][name]) if self.stack_file.is_file() else old_pid
            return None if with_pid == old_pid else with_pid

        new_pid: int = poll(restarted, timeout=timeout, interval=0.1)
        return new_pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def launch(
    workdir: Path, *args: str, via_make: bool = False, redis_url: str | None = None
) -> Launcher:
    """Start the launcher as a background job of a script would be: SIGINT ignored.
    `via_make`: as `make run RUN_ARGS=...` (make, then uv, then the launcher);
    `redis_url`: as NEWSFEED_REDIS_URL (a Redis of the user's, not its own)."""
    workdir.mkdir(parents=True, exist_ok=True)
    ports = {name: free_port() for name in FULL_STACK}
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFEED_")}
    env.update(
        {port_variable(name): str(port) for name, port in ports.items()},
        NEWSFEED_INGEST_TOKEN=TOKEN,
        NEWSFEED_BLOCK_MS="100",
        NEWSFEED_CLAIM_IDLE_MS="1000",
    )
    if redis_url is not None:
        env["NEWSFEED_REDIS_URL"] = redis_url
    run_args = ["--run-dir", str(workdir / ".run"), *args]
    argv = [sys.executable, "-m", "tools.run_local", *run_args]
    if via_make:
        argv = ["make", "--no-print-directory", "run", f"RUN_ARGS={shlex.join(run_args)}"]
    with (workdir / "launcher.out").open("wb") as out:
        process = subprocess.Popen(
            argv,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=ignore_sigint,
        )
    return Launcher(workdir, process, ports)


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state == "Z"  # exited, waiting for whoever adopted it to reap it


def assert_nothing_left(pids: list[int], ports: list[int]) -> None:
    poll(lambda: all(gone(pid) for pid in pids), timeout=15)
    assert [port for port in ports if not port_is_free(port)] == []


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    """One `make run` with the demo items, shared by the tests that keep it running."""
    launcher = launch(tmp_path_factory.mktemp("run-local"))
    try:
        launcher.wait_up()
        yield launcher
    finally:
        launcher.stop()


def readme_command(pattern: str) -> str:
    """The line of a README code block that matches `pattern`, exactly as written."""
    lines = (REPO / "README.md").read_text().splitlines()
    found = [line.strip() for line in lines if re.fullmatch(pattern, line.strip())]
    assert found, f"README shows no command matching {pattern!r}"
    return found[0]


def test_the_readme_operator_command_works_with_nothing_exported(stack: Launcher) -> None:
    """`.venv/bin/newsfeed status`, as the README writes it, from the directory that
    holds .run/, in an environment with only PATH: it lists the stack's streams."""
    command = readme_command(r"\.venv/bin/newsfeed status")
    venv = stack.workdir / ".venv"
    if not venv.exists():
        venv.symlink_to(Path(sys.prefix))  # the checkout's venv, as in the repo root
    clean = {"PATH": os.environ["PATH"]}
    result = subprocess.run(
        ["bash", "-c", command], cwd=stack.workdir, env=clean, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for route in ROUTES:
        assert route.stream in result.stdout
        assert route.group in result.stdout
    assert "all streams healthy" in result.stdout

    sources = subprocess.run(
        ["bash", "-c", ".venv/bin/newsfeed sources list --json"],
        cwd=stack.workdir,
        env=clean,
        capture_output=True,
        text=True,
    )
    assert sources.returncode == 0, sources.stdout + sources.stderr
    assert "sources" in json.loads(sources.stdout)


def test_the_stack_file_is_for_its_user_alone(stack: Launcher) -> None:
    assert stack.stack_file.stat().st_mode & 0o777 == 0o600
    assert stack.stack_file.parent.stat().st_mode & 0o777 == 0o700
    assert stack.stack()["ingest_token"] == TOKEN


def test_a_killed_service_is_restarted_and_nothing_acknowledged_is_lost(
    stack: Launcher,
) -> None:
    """Items flow while enrichment, publication and then the launcher's own Redis are
    SIGKILLed: each is started again, the restart is logged with the exit code, and
    every item ingest acknowledged reaches the gateway's feed."""
    ingest = f"http://127.0.0.1:{stack.ports['ingest']}"
    gateway = f"http://127.0.0.1:{stack.ports['gateway']}"
    workload = Workload(
        ingest_urls=lambda: [ingest], prefix="runlocal", count=300, concurrency=6, rate_per_s=50
    )

    def acknowledged(at_least: int) -> bool:
        return len(workload.acknowledged) >= at_least

    def in_output(line: str) -> bool:
        return line in stack.output()

    submitting = threading.Thread(target=lambda: asyncio.run(workload.run()))
    submitting.start()
    try:
        for killed, name in enumerate(("enrichment", "publication", "redis"), start=1):
            poll(partial(acknowledged, 60 * killed), timeout=60)
            pid = stack.kill(name)
            stack.wait_restarted(name, pid)
            logged = f"{name} (pid {pid}) exited unexpectedly (killed by SIGKILL, code -9)"
            poll(partial(in_output, logged), timeout=10)
    finally:
        submitting.join(120)
    assert not submitting.is_alive()
    assert len(workload.acknowledged) == workload.count, workload.indeterminate

    missing: set[str] = set(workload.acknowledged)

    def all_in_feed() -> bool:
        missing.difference_update(feed_uris(gateway, workload.prefix))
        return not missing

    try:
        poll(all_in_feed, timeout=120, interval=0.5)
    except AssertionError:
        raise AssertionError(f"{len(missing)} acknowledged items not in the feed") from None
    assert stack.process.poll() is None, stack.output()
    for name in ("enrichment", "publication"):
        assert f"{name} is ready again" in stack.output()


def test_a_service_that_keeps_crashing_stops_the_stack_with_its_last_log_lines(
    tmp_path: Path,
) -> None:
    launcher = launch(tmp_path, "--no-demo")
    try:
        record = launcher.wait_up()
        pids = [int(pid) for pid in record["pids"].values()]
        ports = [*launcher.ports.values(), launcher.redis_port()]
        pid = int(record["pids"]["enrichment"])
        for exits in range(1, CRASH_LIMIT + 1):
            os.kill(pid, signal.SIGKILL)
            pids.append(pid)
            if exits < CRASH_LIMIT:
                pid = launcher.wait_restarted("enrichment", pid)
        assert launcher.process.wait(90) == 1
        output = launcher.output()
        assert f"enrichment exited {CRASH_LIMIT} times in 60 s" in output
        assert "--- last lines of" in output
        assert "restarting enrichment" in output  # the log's own restart marker
        assert not launcher.stack_file.exists()
        assert_nothing_left(pids, ports)
    finally:
        launcher.stop()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_sigint_from_a_script_stops_everything_and_frees_the_ports(
    tmp_path: Path, signum: signal.Signals
) -> None:
    """Started with `&` from a script, the launcher inherits SIGINT ignored; `kill -INT`
    (or a hangup) still stops every process it started."""
    launcher = launch(tmp_path, "--no-demo")
    try:
        record = launcher.wait_up()
        pids = [int(pid) for pid in record["pids"].values()]
        ports = [*launcher.ports.values(), launcher.redis_port()]
        launcher.process.send_signal(signum)
        assert launcher.process.wait(60) == 0, launcher.output()
        assert f"{signum.name}: stopping everything" in launcher.output()
        assert not launcher.stack_file.exists()
        assert_nothing_left(pids, ports)
    finally:
        launcher.stop()


@pytest.mark.parametrize(
    ("target", "signum"),
    [("make", signal.SIGTERM), ("launcher", signal.SIGINT)],
    ids=["kill -TERM make", "kill -INT launcher"],
)
def test_make_run_in_the_background_stops_on_a_signal_from_the_script(
    tmp_path: Path, target: str, signum: signal.Signals
) -> None:
    """`make run &` from a script: make ignores SIGINT and SIGHUP then, but passes
    SIGTERM on; the launcher (its pid in .run/stack.json) takes SIGINT itself.
    Either way make exits, and nothing of the stack is left."""
    launcher = launch(tmp_path, "--no-demo", via_make=True)
    try:
        record = launcher.wait_up()
        pids = [int(record["pid"]), *(int(pid) for pid in record["pids"].values())]
        ports = [*launcher.ports.values(), launcher.redis_port()]
        os.kill(launcher.process.pid if target == "make" else int(record["pid"]), signum)
        code = launcher.process.wait(60)
        assert f"{signum.name}: stopping everything" in launcher.output()
        # make ends itself with the SIGTERM it was sent, once its child has exited.
        assert code == (-signal.SIGTERM if target == "make" else 0), launcher.output()
        assert_nothing_left(pids, ports)
    finally:
        launcher.stop()


def test_on_a_cluster_named_by_one_node_it_runs_there_and_leaves_the_cluster_up(
    tmp_path: Path, redis_cluster: RedisCluster
) -> None:
    """`make run` with NEWSFEED_REDIS_URL naming one node of a Redis Cluster and
    nothing else set: the services find the cluster, the demo items reach the
    feed, `newsfeed status` (nothing exported) reads every partition's stream from
    the stack file's node, and stopping the stack leaves the cluster running."""
    redis_cluster.wait_healthy()  # whole again, if a test before killed a node
    redis_cluster.flush()
    node = redis_cluster.nodes[-1]
    launcher = launch(tmp_path, redis_url=node.url)
    try:
        record = launcher.wait_up()
        assert record["redis_url"] == node.url
        output = launcher.output()
        assert f"redis    {node.url}   (yours, a Redis Cluster)" in output
        pids = [int(pid) for pid in record["pids"].values()]
        assert set(record["pids"]) == set(FULL_STACK)  # no Redis of its own
        venv = tmp_path / ".venv"
        venv.symlink_to(Path(sys.prefix))
        status = subprocess.run(
            [".venv/bin/newsfeed", "status", "--json"],
            cwd=tmp_path,
            env={"PATH": os.environ["PATH"]},
            capture_output=True,
            text=True,
        )
        assert status.returncode == 0, status.stdout + status.stderr
        streams = {s["name"]: s for s in json.loads(status.stdout)["streams"]}
        assert streams[ROUTES[0].stream]["length"] >= len(json.loads(DEMO.read_text()))
        launcher.process.send_signal(signal.SIGINT)
        assert launcher.process.wait(60) == 0, launcher.output()
        assert_nothing_left(pids, list(launcher.ports.values()))
        assert all(node.alive for node in redis_cluster.nodes)
        redis_cluster.wait_healthy(10)
    finally:
        launcher.stop()
