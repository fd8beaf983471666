"""Copy a read model written before partitions (every key under `rm:{news.published}:`)
into the partitioned layout (keys.py), on the same Redis or another one — a cluster.

    python -m shared.readmodel.migrate --from redis://old:6379/0 [--to URL] [--drop-old]

Run it with publication stopped (news.enriched keeps what arrives meanwhile)
and before the new gateway serves. Each item is copied in one transaction in
its partition's slot: its state (without the old `indexes` list), document
(with its expiry, for a killed item), earlier versions, its place in the
embargo schedule, and its feed memberships, rebuilt from its document by
today's rule (facet_keys). Running it again copies again and changes nothing
more. `--drop-old` then deletes the old keys (UNLINK, in batches).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from shared.items import NewsItem
from shared.partitions import Partitions
from shared.readmodel.keys import ReadModelKeys, facet_keys
from shared.readmodel.writer import StoredStatus
from shared.redis_client import Client, connect
from shared.settings import PartitionSettings

OLD_PREFIX = "rm:{news.published}:"
SCAN_COUNT = 500


async def migrate(source: Client, target: Client, keys: ReadModelKeys) -> int:
    """Copy every item of the old layout on `source` to `target`; the number copied."""
    embargo = dict(await source.zrange(OLD_PREFIX + "embargo", 0, -1, withscores=True))
    copied = 0
    async for state_key in source.scan_iter(match=OLD_PREFIX + "state:*", count=SCAN_COUNT):
        uri = state_key.removeprefix(OLD_PREFIX + "state:")
        async with source.pipeline(transaction=False) as pipe:
            pipe.hgetall(state_key)
            pipe.get(OLD_PREFIX + "item:" + uri)
            pipe.pttl(OLD_PREFIX + "item:" + uri)
            pipe.lrange(OLD_PREFIX + "versions:" + uri, 0, -1)
            state, doc, ttl_ms, versions = await pipe.execute()
        if not state:
            continue  # deleted since the scan saw it
        partition = keys.partition(uri)
        state.pop("indexes", None)
        member = state.get("member", "")
        visible = StoredStatus(state["status"]) is StoredStatus.usable and doc and member
        expiry = int(ttl_ms) if int(ttl_ms) > 0 else None
        async with target.pipeline(transaction=True) as pipe:
            pipe.delete(keys.state(uri), keys.item(uri), keys.versions(uri))
            pipe.hset(keys.state(uri), mapping=state)
            if doc is not None:
                pipe.set(keys.item(uri), doc, px=expiry)
            if versions:
                pipe.rpush(keys.versions(uri), *versions)
                if expiry:
                    pipe.pexpire(keys.versions(uri), expiry)
            if visible:
                for name in facet_keys(NewsItem.model_validate_json(doc)):
                    pipe.zadd(keys.feed(name, partition), {member: 0})
            if uri in embargo:
                pipe.zadd(keys.embargo(partition), {uri: embargo[uri]})
            await pipe.execute()
        copied += 1
    return copied


async def drop_old(source: Client) -> int:
    """UNLINK every key of the old layout; the number deleted."""
    dropped = 0
    batch: list[str] = []
    async for key in source.scan_iter(match=OLD_PREFIX + "*", count=SCAN_COUNT):
        batch.append(key)
        if len(batch) >= SCAN_COUNT:
            dropped += int(await source.unlink(*batch))
            batch = []
    if batch:
        dropped += int(await source.unlink(*batch))
    return dropped


async def _run(source_url: str, target_url: str, partitions: int, drop: bool) -> None:
    source = connect(source_url, client_name="newsfeed-migrate")
    target = connect(target_url, client_name="newsfeed-migrate")
    try:
        copied = await migrate(source, target, ReadModelKeys(Partitions(partitions)))
        print(f"copied {copied} items into {partitions} partition(s)", file=sys.stderr)
        if drop:
            print(f"dropped {await drop_old(source)} old keys", file=sys.stderr)
    finally:
        await source.aclose()
        await target.aclose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", required=True, help="Redis holding the old layout")
    parser.add_argument("--to", dest="target", help="where to write (default: the same Redis)")
    parser.add_argument(
        "--partitions",
        type=int,
        default=None,
        help="N (default: NEWSFEED_PARTITIONS, else 1): the value the services will run with",
    )
    parser.add_argument("--drop-old", action="store_true", help="then delete the old keys")
    args = parser.parse_args(argv)
    partitions = args.partitions or PartitionSettings().partitions
    asyncio.run(_run(args.source, args.target or args.source, partitions, args.drop_old))


if __name__ == "__main__":
    main()
