"""A Redis Cluster of our own: six redis-server processes, no Docker.

Three primaries and three replicas in cluster mode on free ports below 55535
(each node's cluster bus listens on its port + 10000), created with
`redis-cli --cluster create ... --cluster-replicas 1`. AOF is on and the node
timeout is short (2 s by default), so a killed primary's replica takes over
in about three to four seconds. Every wait polls with a deadline.

    cluster = RedisCluster(workdir).start()
    victim = cluster.primary_of_key("news.enriched:{nf16.3.40}")
    cluster.kill(victim)                     # kill -9
    promoted = cluster.wait_for_failover(victim)
    cluster.restart(victim)                  # it comes back as a replica
    cluster.wait_healthy()
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.crc import key_slot

from tools.devstack.processes import free_port, port_is_free, stop_all, wait_until
from tools.devstack.redis_server import REDIS_STOP_S, RedisServer, find_redis_cli

# The cluster bus is the node's port + 10000, so the port must leave room for it.
_BUS_OFFSET = 10_000
_PORT_CEILING = 65_535 - _BUS_OFFSET


def free_cluster_port(taken: set[int]) -> int:
    """A free port below 55535 whose bus port (+10000) is free too."""
    for _ in range(1000):
        port = free_port()
        if port >= _PORT_CEILING:
            # The kernel's ephemeral range starts at 32768: fold it down below the ceiling.
            port = 20_000 + port % (_PORT_CEILING - 20_000)
        if port in taken or port + _BUS_OFFSET in taken:
            continue
        if port_is_free(port) and port_is_free(port + _BUS_OFFSET):
            return port
    raise RuntimeError("no free port pair for a cluster node")


# A node may be restarting or refuse a command meanwhile: not yet, not a failure.
NOT_YET = (redis.RedisError, OSError)


@dataclass
class ClusterNode:
    """One node: a RedisServer in cluster mode. Its identity (nodes.conf) lives
    in its workdir, so a restart brings the same node back."""

    server: RedisServer

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def alive(self) -> bool:
        return self.server.alive()

    def client(self) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1", port=self.port, decode_responses=True, socket_timeout=2
        )

    def info(self, section: str) -> dict[str, str]:
        with self.client() as client:
            return {k: str(v) for k, v in client.info(section).items()}

    def cluster_info(self) -> dict[str, str]:
        with self.client() as client:
            raw = client.execute_command("CLUSTER INFO")
        if isinstance(raw, dict):  # redis-py parses this reply into a dict
            return {str(k): str(v) for k, v in raw.items()}
        return dict(line.split(":", 1) for line in str(raw).splitlines() if ":" in line)

    def role(self) -> str:
        return self.info("replication")["role"]  # "master" or "slave"


@dataclass
class RedisCluster:
    workdir: Path
    primaries: int = 3
    replicas_per_primary: int = 1
    node_timeout_ms: int = 2000
    nodes: list[ClusterNode] = field(default_factory=list)

    # -- life cycle ---------------------------------------------------------------

    def start(self) -> RedisCluster:
        taken: set[int] = set()
        for index in range(self.primaries * (1 + self.replicas_per_primary)):
            port = free_cluster_port(taken)
            taken |= {port, port + _BUS_OFFSET}
            server = RedisServer(
                workdir=self.workdir / f"node-{index}",
                port=port,
                extra_args=(
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    str(self.node_timeout_ms),
                    # Tests kill nodes on purpose: a replica may take over even
                    # after a longer disconnection from its primary.
                    "--cluster-replica-validity-factor",
                    "0",
                ),
            )
            self.nodes.append(ClusterNode(server))
        try:
            for node in self.nodes:
                self._start_new(node, taken)
            self._create()
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    @staticmethod
    def _start_new(node: ClusterNode, taken: set[int], attempts: int = 3) -> None:
        """Start a node that is in no cluster yet; if its port (or bus port) was
        taken by someone else since it was chosen, on another one."""
        for attempt in range(attempts):
            try:
                node.server.start()
                return
            except RuntimeError:
                node.server.kill()
                if attempt == attempts - 1:
                    raise
                node.server.port = free_cluster_port(taken)
                taken |= {node.server.port, node.server.port + _BUS_OFFSET}

    def _create(self) -> None:
        subprocess.run(  # noqa: S603 - argv built here, no shell
            [
                find_redis_cli(),
                "--cluster",
                "create",
                *(node.address for node in self.nodes),
                "--cluster-replicas",
                str(self.replicas_per_primary),
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def stop(self) -> None:
        stop_all([node.server for node in self.nodes], REDIS_STOP_S)

    # -- addresses ------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Any live node's URL: a cluster client finds the rest from it."""
        return next(node.url for node in self.nodes if node.alive)

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", node.port) for node in self.nodes if node.alive]

    def node_at(self, port: int) -> ClusterNode:
        return next(node for node in self.nodes if node.port == port)

    # -- topology ---------------------------------------------------------------------

    @staticmethod
    def slot_of(key: str) -> int:
        return int(key_slot(key.encode()))

    def _slot_table(self) -> list[tuple[int, int, int, list[int]]]:
        """(first slot, last slot, primary port, replica ports) as a live node sees it."""
        for node in self.nodes:
            if not node.alive:
                continue
            try:
                with node.client() as client:
                    ranges = client.execute_command("CLUSTER SLOTS")
            except (redis.RedisError, OSError):
                continue
            table: list[tuple[int, int, int, list[int]]] = []
            for entry in ranges:
                first, last, primary, *replicas = entry
                table.append(
                    (int(first), int(last), int(primary[1]), [int(r[1]) for r in replicas])
                )
            return table
        raise RuntimeError("no live cluster node answers CLUSTER SLOTS")

    def primary_of_slot(self, slot: int) -> ClusterNode:
        for first, last, primary, _ in self._slot_table():
            if first <= slot <= last:
                return self.node_at(primary)
        raise LookupError(f"no node serves slot {slot}")

    def primary_of_key(self, key: str) -> ClusterNode:
        return self.primary_of_slot(self.slot_of(key))

    def replicas_of(self, primary: ClusterNode) -> list[ClusterNode]:
        for _, _, port, replicas in self._slot_table():
            if port == primary.port:
                return [self.node_at(replica) for replica in replicas]
        return []

    def current_primaries(self) -> list[ClusterNode]:
        ports = dict.fromkeys(primary for _, _, primary, _ in self._slot_table())
        return [self.node_at(port) for port in ports]

    # -- faults -------------------------------------------------------------------------

    def kill(self, node: ClusterNode) -> None:
        """kill -9: no AOF flush beyond what `everysec` already did, no goodbye."""
        node.server.kill()

    def wait_for_failover(self, old_primary: ClusterNode, timeout: float = 30.0) -> ClusterNode:
        """The replica promoted in place of `old_primary` (killed), once every live
        node says the cluster is whole again."""
        slots = [
            (first, last) for first, last, port, _ in self._slot_table() if port == old_primary.port
        ]
        first_slot = slots[0][0] if slots else None

        def promoted() -> ClusterNode | None:
            if first_slot is None:
                return None
            primary = self.primary_of_slot(first_slot)
            if primary.port == old_primary.port or not primary.alive:
                return None
            if primary.role() != "master":
                return None
            return primary

        new_primary = wait_until(
            promoted,
            timeout,
            f"a replica takes over from {old_primary.address}",
            ignoring=NOT_YET,
        )
        self.wait_healthy(timeout, require_all=False)
        return new_primary

    def restart(self, node: ClusterNode) -> None:
        """Start a killed node again on its port and workdir: it rejoins as it was
        told (a former primary comes back as a replica of its successor)."""
        node.server.start()

    def heal(self, timeout: float = 60.0) -> None:
        """Restart every dead node and wait until the cluster is whole: for a test
        that leaves the shared cluster as it found it."""
        for node in self.nodes:
            if not node.alive:
                node.server.start()
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float = 60.0, *, require_all: bool = True) -> None:
        """cluster_state:ok on every live node (every node, if `require_all`), every
        slot served, each live replica's link to its primary up, and (if
        `require_all`) every node's slot map listing every range's replicas."""
        expected = self.primaries * (1 + self.replicas_per_primary) if require_all else 0

        def healthy() -> bool:
            live = [node for node in self.nodes if node.alive]
            if len(live) < expected:
                return False
            for node in live:
                info = node.cluster_info()
                if info.get("cluster_state") != "ok" or info.get("cluster_slots_ok") != "16384":
                    return False
                if require_all and int(info.get("cluster_known_nodes", "0")) < expected:
                    return False
                replication = node.info("replication")
                if replication["role"] == "slave" and replication.get("master_link_status") != "up":
                    return False
                if require_all and not self._sees_every_replica(node):
                    return False
            return True

        wait_until(healthy, timeout, "the cluster is healthy", ignoring=NOT_YET)

    def _sees_every_replica(self, node: ClusterNode) -> bool:
        """Whether `node`'s CLUSTER SLOTS lists each range's replicas (gossip has
        told it who replicates whom): what a client's slot map is built from."""
        with node.client() as client:
            ranges = client.execute_command("CLUSTER SLOTS")
        return bool(ranges) and all(len(entry) - 3 >= self.replicas_per_primary for entry in ranges)

    # -- data ---------------------------------------------------------------------------

    def flush(self) -> None:
        """FLUSHALL on every primary (replicas follow): a clean cluster for a test."""
        for primary in self.current_primaries():
            with primary.client() as client:
                client.flushall()
