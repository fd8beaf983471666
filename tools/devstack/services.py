"""The services as processes: `python -m <name>` on a port of its own, its
NEWSFEED_* settings in its environment, its output in a log file, and a wait
until it answers /readyz (or another path) with 200."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.devstack.processes import LaunchError, Process, client_host, free_port

# Start order: the consumers first, so their groups exist before anything is produced.
SERVICES = ("publication", "enrichment", "ingest", "gateway")
# Processes that run a service in another role: name -> (the service's module,
# the settings that give it the role).
ROLES: dict[str, tuple[str, dict[str, str]]] = {
    # Enrichment's second pass: the entity model's names for published items.
    "entity-model": ("enrichment", {"NEWSFEED_SECOND_PASS": "true"}),
}
# What `make run` starts: the services and enrichment's second pass (the first
# pass leaves the entity model to it by default: NEWSFEED_ENRICH_ENTITY_MODEL).
FULL_STACK = ("publication", "enrichment", "entity-model", "ingest", "gateway")
READY_S = 60.0
# How often a service whose port was taken before it bound it is started on another.
OTHER_PORTS = 3

# Never send local requests through an HTTP proxy from the environment.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_json(
    method: str,
    url: str,
    *,
    body: Any = None,
    token: str | None = None,
    timeout: float = 5.0,
) -> tuple[int, Any]:
    """One request; returns (status, decoded JSON or text). Raises OSError when unreachable."""
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - http:// URLs built here
    try:
        with _HTTP.open(request, timeout=timeout) as response:
            status, raw = int(response.status), response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    except http.client.HTTPException as error:
        raise OSError(f"bad HTTP response from {url}: {error!r}") from error
    text = raw.decode("utf-8", errors="replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


@dataclass(eq=False)
class ServiceProcess(Process):
    """`python -m <module>` (the service `name` unless said otherwise) listening
    on `host`:`port` (NEWSFEED_HOST, NEWSFEED_PORT), with `env` over the
    environment it inherits."""

    name: str
    port: int
    env: Mapping[str, str]
    log_path: Path
    module: str | None = None
    args: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    inherit: Mapping[str, str] | None = None  # default: this process's environment
    detached: bool = False
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.module is None and self.name in ROLES:
            self.module, role = ROLES[self.name]
            self.env = {**role, **self.env}

    @property
    def url(self) -> str:
        return f"http://{client_host(self.host)}:{self.port}"

    def argv(self) -> list[str]:
        return [sys.executable, "-m", self.module or self.name, *self.args]

    def environment(self) -> dict[str, str]:
        inherited = os.environ if self.inherit is None else self.inherit
        return {
            **inherited,
            **self.env,
            "NEWSFEED_HOST": self.host,
            "NEWSFEED_PORT": str(self.port),
        }

    def start(self) -> ServiceProcess:
        """Start it, without waiting: `wait_ready` does."""
        self.spawn()
        return self

    def wait_ready(
        self, path: str = "/readyz", timeout: float = READY_S, other_ports: int = OTHER_PORTS
    ) -> None:
        wait_ready([self], path=path, timeout=timeout, other_ports=other_ports)


def wait_ready(
    services: Sequence[ServiceProcess],
    *,
    path: str = "/readyz",
    timeout: float = READY_S,
    other_ports: int = OTHER_PORTS,
    alive: Callable[[], None] | None = None,
) -> None:
    """Until every one of `services` answers `path` with 200. One that exited
    because its port was taken between choosing and binding it (by a test's
    redis-server, say) starts again on another, up to `other_ports` times; one that
    exited otherwise, or does not answer by the deadline: LaunchError with its
    log. `alive` may raise to end the wait (another process of the stack died)."""
    deadline = time.monotonic() + timeout
    pending = list(services)
    moves_left = {id(service): other_ports for service in services}
    last: dict[int, str] = {}
    while pending:
        if alive is not None:
            alive()
        for service in list(pending):
            if not service.alive() and service.process is not None:
                if moves_left[id(service)] > 0 and "address already in use" in service.log_tail(4):
                    moves_left[id(service)] -= 1
                    service.port = free_port(service.host)
                    service.spawn()
                    continue
                service.check_alive()
            try:
                status, body = http_json("GET", f"{service.url}{path}", timeout=2.0)
            except OSError as error:
                last[id(service)] = str(error)
                continue
            if status == 200:
                pending.remove(service)
            else:
                last[id(service)] = f"HTTP {status}: {body}"
        if not pending:
            return
        if time.monotonic() > deadline:
            late = pending[0]
            raise LaunchError(
                f"{late.name}: {path} not OK after {timeout:.0f} s "
                f"(last answer: {last.get(id(late))})",
                late.log_path,
            )
        time.sleep(0.05)
