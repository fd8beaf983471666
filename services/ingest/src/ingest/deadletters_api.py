"""Dead letters over HTTP, for operators' tools (same token as submissions).

The `newsfeed dlq` command does the same against Redis directly. Letters are
listed across every partition, oldest first; an id names its partition.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import redis.asyncio as aioredis
from fastapi import APIRouter, Path, Query, Request
from shared.delivery.deadletter import (
    drop_dead_letter,
    get_dead_letter,
    list_dead_letters,
    replay_dead_letter,
)
from shared.partitions import Partitions
from shared.streams import INGESTED, LAST_ENTRY_ID, is_entry_id
from starlette.responses import JSONResponse, Response

from ingest.auth import require_token
from ingest.http_errors import Rejected, documented_errors

ENTRY_ID = r"^\d{1,20}-\d{1,20}$"  # the OpenAPI pattern; `_valid` checks the rest
LetterId = Annotated[
    str,
    Path(pattern=ENTRY_ID, description="a dead letter's id, e.g. 1732480000000-0"),
]


def deadletters_router(redis: aioredis.Redis, partitions: Partitions, token: str) -> APIRouter:
    router = APIRouter(
        dependencies=[require_token(token)],
        prefix="/v1/deadletters",
        tags=["dead letters"],
        responses=documented_errors(400, 401, 404, 405, 409, 503),
    )

    @router.get("", summary="Dead letters, oldest first, with their errors")
    async def list_letters(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        after: Annotated[str, Query(pattern=ENTRY_ID)] | None = None,
    ) -> JSONResponse:
        if after == LAST_ENTRY_ID:  # nothing can follow it (and Redis refuses "(" + it)
            return JSONResponse({"deadletters": [], "next_after": None})
        start = f"({_valid(after)}" if after else "-"
        letters = await list_dead_letters(redis, partitions, start=start, count=limit)
        body: dict[str, Any] = {"deadletters": [asdict(letter) for letter in letters]}
        body["next_after"] = letters[-1].id if len(letters) == limit else None
        return JSONResponse(body)

    @router.get("/{letter_id}", summary="One dead letter with its original entry")
    async def get_letter(request: Request, letter_id: LetterId) -> JSONResponse:
        letter = await get_dead_letter(redis, partitions, _valid(letter_id))
        if letter is None:
            raise Rejected(404, f"no dead letter {letter_id!r}")
        return JSONResponse(asdict(letter))

    @router.post(
        "/{letter_id}/replay",
        status_code=202,
        summary="Append the original entry to its stream again and drop the dead letter",
    )
    async def replay(request: Request, letter_id: LetterId) -> JSONResponse:
        letter = await get_dead_letter(redis, partitions, _valid(letter_id))
        if letter is not None and not _ingests_into(letter.stream):
            # Ingest's Redis user appends to news.ingested only (shared.acl): one
            # that could append to a later stage could skip the sanitizer.
            raise Rejected(
                409,
                f"dead letter {letter_id!r} is from {letter.stream}: only entries of "
                f"{INGESTED} are replayed here; replay it with `newsfeed dlq replay`",
            )
        new_id = await replay_dead_letter(redis, partitions, letter_id)
        if new_id is None:
            raise Rejected(404, f"no dead letter {letter_id!r}")
        return JSONResponse({"replayed": letter_id, "entry_id": new_id}, status_code=202)

    @router.delete("/{letter_id}", status_code=204, summary="Drop a dead letter for good")
    async def drop(request: Request, letter_id: LetterId) -> Response:
        if not await drop_dead_letter(redis, partitions, _valid(letter_id)):
            raise Rejected(404, f"no dead letter {letter_id!r}")
        return Response(status_code=204)

    return router


def _ingests_into(stream: str) -> bool:
    """`news.ingested` or one of its partitions (shared.partitions)."""
    return stream == INGESTED or stream.startswith(f"{INGESTED}:")


def _valid(letter_id: str) -> str:
    if not is_entry_id(letter_id):
        raise Rejected(400, "a dead-letter id looks like 1732480000000-0")
    return letter_id
