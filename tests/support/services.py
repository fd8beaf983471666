"""The four services as real processes on a test Redis, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from shared.partitions import Partitions
from shared.settings import DEFAULT_PARTITIONS

from tools.devstack import free_port

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("ingest", "enrichment", "publication", "gateway")
TOKEN = "e2e-token-0123456789abcdef"


@dataclass
class ServiceProcess:
    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.name],
            cwd=REPO,
            env={**os.environ, **self.env, "NEWSFEED_PORT": str(self.port)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60.0, other_ports: int = 3) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                if other_ports > 0 and "address already in use" in self.log_tail(4):
                    # Another process (a test's redis-server, say) took the free port
                    # between choosing it and binding it: start on another one.
                    other_ports -= 1
                    self.port = free_port()
                    self.start()
                    continue
                raise RuntimeError(f"{self.name} exited: {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready: {self.log_tail()}")

    def restart(self) -> None:
        """Start again on the same port, as a supervisor would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.start()

    def signal(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@dataclass
class Pipeline:
    redis_url: str
    workdir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)
    replicas: dict[str, int] = field(default_factory=dict)
    only: tuple[str, ...] = SERVICES
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    all_replicas: dict[str, list[ServiceProcess]] = field(default_factory=dict)
    _env: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    def start(self) -> Pipeline:
        env = {
            "NEWSFEED_REDIS_URL": self.redis_url,
            "NEWSFEED_INGEST_TOKEN": TOKEN,
            "NEWSFEED_BLOCK_MS": "100",
            "NEWSFEED_CLAIM_IDLE_MS": "2000",
            **self.extra_env,
        }
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._env = env
        for name in self.only:
            for index in range(self.replicas.get(name, 1)):
                self.add_replica(name, index)
        try:
            for replicas in self.all_replicas.values():
                for service in replicas:
                    service.wait_ready()
        except BaseException:
            # Nobody holds this pipeline yet: stop what started, or it outlives the test.
            self.stop()
            raise
        return self

    def add_replica(self, name: str, index: int | None = None) -> ServiceProcess:
        replicas = self.all_replicas.setdefault(name, [])
        index = len(replicas) if index is None else index
        env = {**self._env, **self.service_env.get(name, {})}
        log = self.workdir / f"{name}-{index}.log"
        service = ServiceProcess(name, free_port(), env, log)
        service.start()
        replicas.append(service)
        self.services.setdefault(name, service)
        return service

    def stop(self) -> None:
        for replicas in self.all_replicas.values():
            for service in replicas:
                service.stop()

    @property
    def partitions(self) -> Partitions:
        """The partitions its services were started with (NEWSFEED_PARTITIONS)."""
        return Partitions(int(self.extra_env.get("NEWSFEED_PARTITIONS", DEFAULT_PARTITIONS)))

    @property
    def ingest(self) -> str:
        return self.services["ingest"].url

    @property
    def gateway(self) -> str:
        return self.services["gateway"].url

    def submit(self, item: dict[str, object], token: str = TOKEN) -> httpx.Response:
        return httpx.post(
            f"{self.ingest}/v1/items",
            json=item,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
