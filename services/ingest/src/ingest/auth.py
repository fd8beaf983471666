"""The bearer token every ingest endpoint but health and metrics requires:
one router-level dependency, which also puts the security scheme in OpenAPI."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ingest.http_errors import Rejected

# auto_error=False: the check below answers 401 in the API's own error shape.
SCHEME = HTTPBearer(
    auto_error=False,
    scheme_name="bearerToken",
    description="NEWSFEED_INGEST_TOKEN, sent as `Authorization: Bearer <token>`",
)


def check_token(request: Request, expected: str) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Rejected(401, "missing bearer token")
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise Rejected(401, "invalid bearer token")


def require_token(expected: str) -> Any:
    """`dependencies=[require_token(token)]` on a router: every route checks it first."""

    async def check(
        request: Request,
        _: Annotated[HTTPAuthorizationCredentials | None, Depends(SCHEME)],
    ) -> None:
        check_token(request, expected)

    return Depends(check)
