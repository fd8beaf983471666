"""The gateway's baselines: bare Starlette apps, run as a process like the gateway.

    python -m bench.bare_app --body FILE --headers FILE [--redis-url URL]

- `/page`: returns the bytes of FILE (the gateway's hot first page, captured
  in the same run) with the same headers: the floor for a cached page.
- `/redis2?cursor=<member>`: two Redis round trips (ZRANGE BYLEX + MGET of 20
  documents, replies as bytes) and the documents joined into a JSON array, no
  validation: the floor for an uncached page.

Served like every service (shared.service.serve: uvicorn, one worker,
access log off), on NEWSFEED_PORT.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import orjson
import redis.asyncio as aioredis
from shared.readmodel import FEED_ALL, ReadModelKeys, member_uri
from shared.service import Lifecycle, serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

KEYS = ReadModelKeys()  # one partition, as the bench's gateway reads


def build(body: bytes, headers: dict[str, str], redis_url: str | None) -> Starlette:
    redis = aioredis.Redis.from_url(redis_url, decode_responses=False) if redis_url else None

    async def page(_: Request) -> Response:
        return Response(body, headers=headers)

    async def redis2(request: Request) -> Response:
        assert redis is not None
        cursor = request.query_params.get("cursor")
        upper = "(" + cursor if cursor else "+"
        members = await redis.zrange(
            KEYS.feed(FEED_ALL, 0), upper, "-", desc=True, bylex=True, offset=0, num=21
        )
        docs = await redis.mget([KEYS.item(member_uri(m.decode())) for m in members[:20]])
        payload = b"[" + b",".join(doc for doc in docs if doc) + b"]"
        return Response(payload, media_type="application/json")

    async def healthz(_: Request) -> Response:
        return Response(b"ok")

    return Starlette(
        routes=[Route("/page", page), Route("/redis2", redis2), Route("/healthz", healthz)]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--body", type=Path, required=True)
    parser.add_argument("--headers", type=Path, required=True)
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args()
    headers = orjson.loads(args.headers.read_bytes())
    app = build(args.body.read_bytes(), headers, args.redis_url)
    serve(app, Lifecycle(), "127.0.0.1", int(os.environ["NEWSFEED_PORT"]))


if __name__ == "__main__":
    main()
