"""The dev stack: our own redis-server (one node, or a cluster of primaries and
replicas) and the four services as processes, on free ports, each with a log
file, waited for with a deadline, stopped or killed on demand.

`make run` (tools/run_local.py), the benchmark (bench/) and the tests
(tests/support) all start processes with it. No service imports it: it is not
part of any package the services are built from.
"""

from tools.devstack.cluster import ClusterNode, RedisCluster
from tools.devstack.processes import (
    REPO,
    LaunchError,
    Process,
    client_host,
    free_port,
    port_is_free,
    stop_all,
    wait_until,
)
from tools.devstack.redis_server import RedisServer, answers_ping, find_redis_server
from tools.devstack.services import (
    FULL_STACK,
    ROLES,
    SERVICES,
    ServiceProcess,
    http_json,
    wait_ready,
)

__all__ = [
    "FULL_STACK",
    "REPO",
    "ROLES",
    "SERVICES",
    "ClusterNode",
    "LaunchError",
    "Process",
    "RedisCluster",
    "RedisServer",
    "ServiceProcess",
    "answers_ping",
    "client_host",
    "find_redis_server",
    "free_port",
    "http_json",
    "port_is_free",
    "stop_all",
    "wait_ready",
    "wait_until",
]
