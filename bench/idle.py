"""What partitions cost a worker with nothing to do: N = 1 against N = 16.

    python -m bench.idle [--seconds 20] [--partitions 1,16]

For each N, publication's worker (its `make_worker`, the read model's
handler) runs on a redis-server of its own with nothing to read; over
`--seconds` the worker's CPU (this process) and the server's are measured,
and the server's client connections counted. Each partition has a FastStream
subscriber with its own blocking read, and the caretaker asks each
partition's pending entries at every recovery pass: that is what N costs
when the pipeline is quiet. Figures go to stdout as JSON; docs/scaling.md
quotes them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from publication.app import Settings, make_worker
from publication.handler import make_handler
from shared.partitions import Partitions
from shared.readmodel import ReadModelKeys, ReadModelWriter
from shared.redis_client import connect

from bench.procs import cpu_snapshot
from tools.devstack import RedisServer
from tools.devstack.waiting import until


async def measure(partitions: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as workdir:
        server = RedisServer(workdir=Path(workdir)).start()
        try:
            assert server.process is not None
            redis = connect(server.url, client_name="bench-idle")
            settings = Settings(redis_url=server.url, partitions=partitions)
            writer = ReadModelWriter(redis, keys=ReadModelKeys(Partitions(partitions)))
            worker = make_worker(
                redis, settings, make_handler(writer, updates_move_to_top=False), "bench-idle"
            )
            task = asyncio.create_task(worker.run())
            await until(lambda: worker.stats.running, timeout=60)
            await asyncio.sleep(2.0)  # start-up done
            pid = server.process.pid
            own, server_cpu = time.process_time(), cpu_snapshot({"redis": pid})["redis"]
            await asyncio.sleep(seconds)
            own = time.process_time() - own
            server_cpu = cpu_snapshot({"redis": pid})["redis"] - server_cpu
            clients = int((await redis.info("clients"))["connected_clients"])
            worker.stop()
            await task
            await redis.aclose()
        finally:
            server.stop()
    return {
        "partitions": partitions,
        "worker_cpu_ms_per_s": own / seconds * 1000,
        "redis_cpu_ms_per_s": server_cpu / seconds * 1000,
        "redis_clients": clients,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--partitions", default="1,16")
    args = parser.parse_args()
    counts = [int(n) for n in args.partitions.split(",") if n.strip()]
    print(json.dumps([asyncio.run(measure(n, args.seconds)) for n in counts], indent=2))


if __name__ == "__main__":
    main()
