"""The four services as real processes on a test Redis, for end-to-end tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from shared.partitions import Partitions
from shared.settings import DEFAULT_PARTITIONS

from tools.devstack import SERVICES, ServiceProcess, free_port, stop_all

TOKEN = "e2e-token-0123456789abcdef"
STOP_S = 15.0


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
        service = ServiceProcess(name, free_port(), env, log).start()
        replicas.append(service)
        self.services.setdefault(name, service)
        return service

    def stop(self) -> None:
        stop_all([s for replicas in self.all_replicas.values() for s in replicas], STOP_S)

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

    def submit(self, item: Mapping[str, object], token: str = TOKEN) -> httpx.Response:
        return httpx.post(
            f"{self.ingest}/v1/items",
            json=item,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
