"""Readers at scale (issue 16): live-update fan-out, and caches under a publish load.

fanout: `clients` Server-Sent Events connections to one gateway process (as
deployed: uvicorn, httptools, uvloop), events appended to news.published at
`rate` a second for `seconds`; then the same against bench.bare_sse, a bare
asyncio server writing the same frames to the same number of sockets, in the
same round. The clients live in this process (uvloop, one asyncio.Protocol
each, no parsing beyond finding `id:` lines); the events are appended with
ids chosen here, so the time each was sent is known before it is sent.
Figures: delivery delay (sent -> arrived at a client) p50/p99/max over every
(client, event); CPU of the server process per client per event; its memory
per client (RSS with the clients connected minus before, over the clients);
how many clients got every event, and how many were closed (each then
reconnects with the id of the last event it got, and must get the rest).

cache: a read model of `items` items (bench.fill, publication's own script),
a gateway, and readers asking for the first and second pages of `feeds`
filtered feeds (tags the publish load never uses) in turn; the publish load
applies new items through publication's writer at `rate` a second, each
tagged with a tag of its own. Miss ratio = Redis page reads (ZRANGE calls,
from INFO commandstats) / page requests: the same run without the publish
load is the baseline.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import redis.asyncio as aioredis
import uvloop
from gateway.app import published_streams
from publication.handler import make_handler
from shared.events import EventType, encode, make_event, new_trace_id
from shared.items import Entity, NewsItem, utcnow
from shared.partitions import Partitions
from shared.readmodel import ReadModelKeys, ReadModelWriter
from shared.readmodel.feeds import FIELD, feeds_field

from bench.fill import Filler, templates
from bench.items import corpus, news_item
from bench.procs import Stack, cpu_seconds
from bench.stats import distribution, figure, median, paired_ratios
from tools.devstack import REPO, ServiceProcess


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class ReaderProcess:
    """`clients` live-stream readers in a process of their own (bench.sse_readers)."""

    def __init__(self, process: asyncio.subprocess.Process, kind: str, result: Path) -> None:
        self.process = process
        self.kind = kind
        self.result = result

    @classmethod
    async def start(cls, port: int, kind: str, workdir: Path) -> ReaderProcess:
        result = workdir / f"readers-{kind}-{time.monotonic_ns()}.json"
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.sse_readers",
            "--port",
            str(port),
            f"--{kind}",
            "--result",
            str(result),
            cwd=REPO,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(process, kind, result)

    async def line(self) -> str:
        assert self.process.stdout is not None
        line = await self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.kind} readers exited ({await self.process.wait()})")
        return line.decode()

    async def _ask(self, command: str, answer: str, within_s: float) -> None:
        """Send one command and wait for its one-line answer."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"{command}\n".encode())
        await self.process.stdin.drain()
        async with asyncio.timeout(within_s):
            said = await self.line()
        if said.strip() != answer:
            raise RuntimeError(f"the {self.kind} readers said {said!r}")

    async def connect(self, clients: int) -> None:
        """Open `clients` more streams; back once they have all opened."""
        await self._ask(f"connect {clients}", "connected", 180)

    async def finish(self, events: int) -> dict[str, Any]:
        await self._ask(f"finish {events}", "finished", 60)
        await self.process.wait()
        result: dict[str, Any] = json.loads(self.result.read_text(encoding="utf-8"))
        self.result.unlink()
        return result

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


def _event_fields(items: Sequence[NewsItem], index: int) -> dict[str, str]:
    item = items[index % len(items)].model_copy(update={"uri": f"urn:bench:live:{index}"})
    fields = encode(make_event(EventType.published, "/bench", item, new_trace_id()))
    fields[FIELD] = feeds_field(None, item)
    return fields


async def _publish(
    redis: aioredis.Redis, items: Sequence[NewsItem], rate: float, count: int
) -> str:
    """Append `count` events at `rate`, each to its item's partition of the streams the
    gateway follows, with ids chosen here: `<ms>-0`, `ms` the wall clock when it is
    appended, strictly increasing (so a reader in another process knows when each
    was sent)."""
    streams = published_streams()
    partitions = Partitions(len(streams))
    started = time.monotonic()
    last_ms = 0
    event_id = ""
    for index in range(count):
        await asyncio.sleep(max(0.0, started + index / rate - time.monotonic()))
        ms = max(int(time.time() * 1000), last_ms + 1)
        last_ms = ms
        event_id = f"{ms}-0"
        fields = _event_fields(items, index)
        stream = streams[partitions.of(fields["subject"])]
        await redis.xadd(stream, fields, id=event_id)
    return event_id


CONNECT_STEPS = 25


def sample_size(clients: int) -> int:
    """Clients that measure the delay: 1 in 40, at least 100 (all of a smaller run)."""
    return min(clients, max(100, clients // 40))


async def _fanout(
    server: ServiceProcess, redis_url: str, clients: int, rate: float, seconds: float, workdir: Path
) -> dict[str, Any]:
    subs = corpus(20, prefix="urn:bench:fanout")
    items = [news_item(sub, utcnow()) for sub in subs]
    sampled = sample_size(clients)
    redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    rss_before = rss_bytes(server.pid)
    readers: list[ReaderProcess] = []
    try:
        readers.append(await ReaderProcess.start(server.port, "cheap", workdir))
        readers.append(await ReaderProcess.start(server.port, "sample", workdir))
        # In small steps, alternately: see bench.sse_readers on why.
        for step in range(CONNECT_STEPS):
            for reader, total in zip(readers, (clients - sampled, sampled), strict=True):
                more = total * (step + 1) // CONNECT_STEPS - total * step // CONNECT_STEPS
                if more:
                    await reader.connect(more)
        await asyncio.sleep(1.0)
        rss_after = rss_bytes(server.pid)
        cpu_before = cpu_seconds(server.pid)
        window_started = time.monotonic()
        count = int(rate * seconds)
        await _publish(redis, items, rate, count)
        cheap, sample = await asyncio.gather(*(reader.finish(count) for reader in readers))
        cpu = cpu_seconds(server.pid) - cpu_before
        window = time.monotonic() - window_started
        delays = distribution(sample["delays_ms"])
        return {
            "clients": clients,
            "events": count,
            "rate_per_s": rate,
            "delay_ms": delays,
            "delay_samples": len(sample["delays_ms"]),
            "delay_sampled_clients": sampled,
            "clients_with_every_event": cheap["with_every_event"] + sample["with_every_event"],
            "clients_closed_and_resumed": cheap["closed_and_resumed"]
            + sample["closed_and_resumed"],
            "cpu_s": cpu,
            "cpu_us_per_client_event": cpu * 1e6 / (clients * count),
            "memory_bytes_per_client": (rss_after - rss_before) / clients,
            "window_s": window,
            "load_generator_cpu_share": (cheap["cpu_s"] + sample["cpu_s"]) / window,
            "sampler_cpu_share": sample["cpu_s"] / window,
        }
    finally:
        for reader in readers:
            reader.kill()
        await redis.aclose()


def _run(coro: Any) -> Any:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def fanout_round(
    workdir: Path, kind: str, *, clients: int, rate: float, seconds: float
) -> dict[str, Any]:
    with Stack(workdir, aof=False).start_redis() as stack:
        if kind == "gateway":
            server = stack.spawn(
                "gateway",
                env={
                    "NEWSFEED_SSE_MAX_CLIENTS": str(clients + 100),
                    "NEWSFEED_SSE_HEARTBEAT_S": "15",
                },
            )
            server.wait_ready()
        else:
            server = stack.spawn(
                "bare_sse", "bench.bare_sse", args=("--redis-url", stack.redis_url)
            )
            server.wait_ready("/healthz")
        result: dict[str, Any] = _run(
            _fanout(server, stack.redis_url, clients, rate, seconds, workdir)
        )
        stack.check_alive()
        return result


def fanout_run(
    workdir: Path, *, clients: int, rate: float, seconds: float, runs: int
) -> dict[str, Any]:
    rounds = []
    for round_ in range(runs):
        bare = fanout_round(
            workdir / f"bare-{round_}", "bare", clients=clients, rate=rate, seconds=seconds
        )
        gateway = fanout_round(
            workdir / f"gw-{round_}", "gateway", clients=clients, rate=rate, seconds=seconds
        )
        rounds.append({"bare": bare, "gateway": gateway})

    def fig(kind: str, key: str, unit: str) -> dict[str, Any]:
        return figure([_dig(r[kind], key) for r in rounds], unit)

    return {
        "clients": clients,
        "rate_per_s": rate,
        "seconds": seconds,
        "gateway": {
            "delay_p50_ms": fig("gateway", "delay_ms.p50", "ms"),
            "delay_p99_ms": fig("gateway", "delay_ms.p99", "ms"),
            "delay_max_ms": fig("gateway", "delay_ms.max", "ms"),
            "cpu_us_per_client_event": fig("gateway", "cpu_us_per_client_event", "us"),
            "memory_bytes_per_client": fig("gateway", "memory_bytes_per_client", "B"),
            "clients_with_every_event": fig("gateway", "clients_with_every_event", "clients"),
            "clients_closed_and_resumed": fig("gateway", "clients_closed_and_resumed", "clients"),
        },
        "bare": {
            "delay_p50_ms": fig("bare", "delay_ms.p50", "ms"),
            "delay_p99_ms": fig("bare", "delay_ms.p99", "ms"),
            "cpu_us_per_client_event": fig("bare", "cpu_us_per_client_event", "us"),
            "memory_bytes_per_client": fig("bare", "memory_bytes_per_client", "B"),
        },
        "cpu_ratio": figure(
            paired_ratios(
                [r["gateway"]["cpu_us_per_client_event"] for r in rounds],
                [r["bare"]["cpu_us_per_client_event"] for r in rounds],
            ),
            "x",
            of="gateway CPU per client-event / bare server's, per round",
        ),
        "runs": rounds,
    }


def _dig(tree: dict[str, Any], path: str) -> float:
    node: Any = tree
    for part in path.split("."):
        node = node[part]
    return float(node)


# --- cache ---------------------------------------------------------------------------


async def _fill(url: str, items: int, feeds: int) -> list[str]:
    """Fill the read model; the `feeds` largest tags, by name."""
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        made, _ = templates()
        await Filler(client, made).fill_to(items)
        prefix = ReadModelKeys().feed("feed:tag:", 0)  # one partition, as the bench runs
        sizes = []
        async for key in client.scan_iter(match=prefix + "*", count=1000):
            sizes.append((int(await client.zcard(key)), key.removeprefix(prefix)))
        return [tag for size, tag in sorted(sizes, reverse=True)[:feeds] if size > 20]
    finally:
        await client.aclose()


async def _zrange_calls(redis: aioredis.Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_zrange", {}).get("calls", 0))


async def _read_load(
    url: str, redis_url: str, tags: Sequence[str], seconds: float, rate: float
) -> dict[str, Any]:
    redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    handle = make_handler(ReadModelWriter(redis))
    base = utcnow()
    template = news_item(corpus(1, prefix="urn:bench:burst")[0], base)

    async def publish() -> int:
        started, index = time.monotonic(), 0
        while time.monotonic() - started < seconds:
            await asyncio.sleep(max(0.0, started + index / rate - time.monotonic()))
            item = template.model_copy(
                update={
                    "uri": f"urn:bench:burst:{index}",
                    "subjects": (Entity(name=f"burst-{index % 5}"),),
                }
            )
            await handle([make_event(EventType.enriched, "/bench", item, new_trace_id())])
            index += 1
        return index

    firsts = [f"/v1/feed?tag={quote(tag)}" for tag in tags]
    paths = list(firsts)
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        for path in firsts:  # warm: every first page and its second page cached
            page = (await client.get(path)).json()
            if page.get("next_cursor"):
                paths.append(f"{path}&cursor={page['next_cursor']}")
        warm = await _zrange_calls(redis)
        for path in paths:
            (await client.get(path)).raise_for_status()
        before = await _zrange_calls(redis)
        publisher = asyncio.create_task(publish()) if rate > 0 else None
        started, requests = time.monotonic(), 0
        while time.monotonic() - started < seconds:
            for path in paths:
                (await client.get(path)).raise_for_status()
                requests += 1
        published = await publisher if publisher is not None else 0
        misses = await _zrange_calls(redis) - before
    await redis.aclose()
    return {
        "requests": requests,
        "redis_page_reads": misses,
        "miss_ratio": misses / requests if requests else float("nan"),
        "published": published,
        "published_per_s": published / seconds,
        "feeds_read": len(paths),
        "page_reads_when_warming": before - warm,
    }


def cache_run(
    workdir: Path, *, items: int, feeds: int, rate: float, seconds: float, runs: int
) -> dict[str, Any]:
    with Stack(workdir, aof=False).start_redis() as stack:
        tags = _run(_fill(stack.redis_url, items, feeds))
        gateway = stack.spawn("gateway")
        gateway.wait_ready()
        rounds = []
        for _ in range(runs):
            quiet = _run(_read_load(gateway.url, stack.redis_url, tags, seconds, 0))
            busy = _run(_read_load(gateway.url, stack.redis_url, tags, seconds, rate))
            rounds.append({"quiet": quiet, "publishing": busy})
        stack.check_alive()
    return {
        "items": items,
        "tags": tags,
        "rate_per_s": rate,
        "seconds": seconds,
        "miss_ratio": figure(
            [r["publishing"]["miss_ratio"] for r in rounds],
            "ratio",
            of="Redis page reads / requests for feeds the events do not touch, publishing",
        ),
        "quiet_miss_ratio": figure([r["quiet"]["miss_ratio"] for r in rounds], "ratio"),
        "published_per_s": median(r["publishing"]["published_per_s"] for r in rounds),
        "runs": rounds,
    }
