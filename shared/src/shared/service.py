"""Running a service: uvicorn, health endpoints, and a loud death on fatal errors.

Every service is an ASGI app under uvicorn. Worker services (enrichment,
publication) run their StreamWorker as a background task of the app's
lifespan: SIGTERM makes uvicorn end the lifespan, the worker finishes and
acknowledges the batch in hand, and the process exits 0. If the worker dies
(Redis lost its group, say), the process exits with EXIT_FATAL instead of
lingering half-alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
import uvicorn
import uvloop
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.delivery.groups import groups_present
from shared.http_limits import HeadLimits, bounded_protocol
from shared.observability.logs import configure_logging as configure_structured_logging
from shared.observability.metrics import metrics_route
from shared.partitions import Partitions
from shared.redis_client import UNAVAILABLE
from shared.streams import Route as StreamRoute

if TYPE_CHECKING:  # the worker (and FastStream) load only in the services that run one
    from shared.delivery.worker import StreamWorker

EXIT_FATAL = 3
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
log = logging.getLogger("newsfeed.service")

ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]
# A duty running beside the worker until the event is set (e.g. embargo release).
BackgroundDuty = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


@dataclass
class Lifecycle:
    """What `serve` needs to stop the server when a background task dies."""

    server: uvicorn.Server | None = None
    exit_code: int = 0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def fatal(self, reason: str) -> None:
        log.critical("fatal: %s", reason)
        self.exit_code = EXIT_FATAL
        if self.server is not None:
            self.server.should_exit = True

    def watch(self, task: asyncio.Task[None], name: str) -> None:
        def done(finished: asyncio.Task[None]) -> None:
            if finished.cancelled():
                return
            error = finished.exception()
            if error is not None:
                self.fatal(f"{name} stopped: {type(error).__name__}: {error}")

        task.add_done_callback(done)
        self.tasks.append(task)


HEALTH_PATH = "/healthz"  # alive
READY_PATH = "/readyz"  # ready to serve


def health_routes(check: ReadinessCheck) -> list[BaseRoute]:
    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "alive"})

    async def readyz(_: Request) -> JSONResponse:
        checks = await check()
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "unready", "checks": checks},
            status_code=200 if ready else 503,
        )

    return [Route(HEALTH_PATH, healthz), Route(READY_PATH, readyz)]


def redis_ready(
    redis: aioredis.Redis,
    routes: Sequence[StreamRoute] = (),
    partitions: Partitions | None = None,
) -> ReadinessCheck:
    """Ready when Redis answers and, if `routes` are given, their groups exist on
    every partition (after Redis restarted empty they do not, until the services
    recreate them)."""

    async def check() -> dict[str, bool]:
        try:
            checks = {"redis": bool(await redis.ping())}
            if routes:
                checks["groups"] = await groups_present(redis, routes, partitions or Partitions(1))
            return checks
        except Exception:  # any failure to reach Redis means unready
            return {"redis": False}

    return check


REDIS_UNAVAILABLE = UNAVAILABLE


def redis_unavailable(error: Exception) -> JSONResponse:
    """What an HTTP service answers while Redis is down: 503, retry soon."""
    log.warning("redis unavailable: %s", error)
    return JSONResponse(
        {"error": "storage is unavailable for a moment; retry shortly"},
        status_code=503,
        headers={"Retry-After": "1"},
    )


def worker_app(
    worker: StreamWorker,
    lifecycle: Lifecycle,
    name: str,
    background: Sequence[tuple[str, BackgroundDuty]] = (),
) -> Starlette:
    """The ASGI app of a worker service: health endpoints, worker in the lifespan."""

    async def check() -> dict[str, bool]:
        try:
            reachable = bool(await worker.redis.ping())
            groups = await groups_present(worker.redis, worker.routes_to_ensure, worker.partitions)
        except Exception:  # unreachable Redis is a readiness answer, not a crash
            reachable, groups = False, False
        return {"redis": reachable, "groups": groups, "consumer": worker.stats.running}

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(worker.run(), name=f"{name}-worker")
        lifecycle.watch(task, f"{name} worker")
        stop = asyncio.Event()
        duties: list[asyncio.Task[None]] = []
        for duty_name, duty in background:
            duty_task = asyncio.create_task(duty(stop), name=duty_name)
            lifecycle.watch(duty_task, duty_name)
            duties.append(duty_task)
        try:
            yield
        finally:
            worker.stop()
            stop.set()
            for running in (task, *duties):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(running), timeout=30)
            await worker.redis.aclose()

    routes = [*health_routes(check), metrics_route(worker.redis)]
    return Starlette(routes=routes, lifespan=lifespan)


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """JSON lines by default; `console` for people (make run)."""
    configure_structured_logging(level, "console" if fmt == "console" else "json")


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn re-raises SIGTERM after its graceful shutdown, turning a clean
        # stop into exit 143; here a clean stop exits 0 and a fatal one EXIT_FATAL.
        originals = {sig: signal.signal(sig, self.handle_exit) for sig in STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)


def quiet_garbage_collector() -> None:
    """Fewer cyclic-GC passes: profiles put 3-7% of ingest's and publication's CPU
    in gc_collect_main, walking the same long-lived objects (modules, models,
    settings) again and again. Those are moved out of the collector's sight
    (freeze), and a collection starts after 50,000 new objects instead of 700
    (each item creates hundreds, almost none of them in cycles)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


METRICS_PATH = "/metrics"


def split_metrics(app: ASGIApp) -> tuple[ASGIApp, ASGIApp]:
    """`app` without /metrics, and /metrics alone: for a deployment that exposes
    the service but not its metrics (NEWSFEED_METRICS_PORT)."""
    not_found = JSONResponse({"error": "not found"}, status_code=404)

    async def public(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == METRICS_PATH:
            await not_found(scope, receive, send)
        else:
            await app(scope, receive, send)

    async def metrics_only(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == METRICS_PATH:
            await app(scope, receive, send)
        elif scope["type"] == "http":
            await not_found(scope, receive, send)

    return public, metrics_only


class _SideServer(uvicorn.Server):
    """A second listener in the same process: the main server owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _config(
    app: ASGIApp, host: str, port: int, limits: HeadLimits, lifespan: str
) -> uvicorn.Config:
    # httptools parses HTTP and uvloop runs the loop: both C, chosen explicitly
    # so a missing wheel fails at start instead of silently costing 2x per request.
    # The protocol is httptools' with bounds on each request's head (431/408).
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan=lifespan,  # type: ignore[arg-type]
        access_log=False,
        log_config=None,
        http=bounded_protocol(limits),
        loop="none",
    )


def serve(
    app: ASGIApp,
    lifecycle: Lifecycle,
    host: str,
    port: int,
    head_limits: HeadLimits | None = None,
    metrics_address: tuple[str, int] | None = None,
) -> None:
    """Run `app` until SIGTERM/SIGINT; exit non-zero if a background task died.
    With `metrics_address`, /metrics is served there and only there."""
    limits = head_limits or HeadLimits()
    side: uvicorn.Server | None = None
    if metrics_address is not None:
        app, metrics_app = split_metrics(app)
        side = _SideServer(_config(metrics_app, *metrics_address, limits, "off"))
    server = _Server(_config(app, host, port, limits, "on"))
    lifecycle.server = server

    async def run() -> None:
        side_task = asyncio.create_task(side.serve()) if side is not None else None
        try:
            await server.serve()
        finally:
            if side is not None and side_task is not None:
                side.should_exit = True
                await side_task

    quiet_garbage_collector()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(run())
    if lifecycle.exit_code:
        sys.exit(lifecycle.exit_code)
