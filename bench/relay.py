"""The baseline: one hop of a bare redis-py relay, run as its own process.

    python -m bench.relay --redis-url URL --source S --sink T --group G --name N

Per batch: XREADGROUP COUNT `batch` BLOCK, then for each entry pydantic
validation of the item (`NewsItem.model_validate_json` of `data`) and its
serialization back (`model_dump_json`, what any hop that looks at the item
pays), then one MULTI with every XADD and one XACK. Synchronous redis-py,
decode_responses=True like the services. Three of these in a row
(ingested -> enriched -> published -> sink) are the floor the pipeline's
transport is compared with.

It sets `bench:ready:<name>` once it is reading, and stops when
`bench:stop` exists.
"""

from __future__ import annotations

import argparse
import os

import redis
from shared.items import NewsItem


def entries_of(reply: object) -> list[tuple[str, dict[str, str]]]:
    """XREADGROUP's reply (RESP2 list or RESP3 dict) as (id, fields) pairs."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return [entry for batch in reply.values() for entry in (batch[0] if batch else [])]
    assert isinstance(reply, list)
    return [entry for _, batch in reply for entry in batch]


def relay(
    client: redis.Redis,
    source: str,
    sink: str,
    group: str,
    consumer: str,
    batch: int,
    block_ms: int,
) -> int:
    relayed = 0
    client.set(f"bench:ready:{consumer}", "1")
    while True:
        reply = client.xreadgroup(group, consumer, {source: ">"}, count=batch, block=block_ms)
        entries = entries_of(reply)
        if not entries:
            if client.exists("bench:stop"):
                return relayed
            continue
        with client.pipeline(transaction=True) as pipe:
            for _, fields in entries:
                item = NewsItem.model_validate_json(fields["data"])
                pipe.xadd(sink, {**fields, "data": item.model_dump_json(exclude_none=True)})
            pipe.xack(source, group, *(entry_id for entry_id, _ in entries))
            pipe.execute()
        relayed += len(entries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-url", default=os.environ.get("NEWSFEED_REDIS_URL"))
    parser.add_argument("--source", required=True)
    parser.add_argument("--sink", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--block-ms", type=int, default=1000)
    args = parser.parse_args()
    client = redis.Redis.from_url(args.redis_url, decode_responses=True)
    relay(client, args.source, args.sink, args.group, args.name, args.batch, args.block_ms)


if __name__ == "__main__":
    main()
