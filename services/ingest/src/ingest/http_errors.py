"""Clear JSON errors: every rejection says what was wrong."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.responses import JSONResponse


class Rejected(Exception):
    def __init__(self, status: int, error: str, detail: Any = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"error": self.error}
        if self.detail is not None:
            body["detail"] = self.detail
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return JSONResponse(body, status_code=self.status, headers=headers)


def validation_problems(error: ValidationError) -> list[dict[str, Any]]:
    return [
        {
            "field": ".".join(str(part) for part in problem["loc"]) or "(body)",
            "problem": problem["msg"],
        }
        for problem in error.errors(include_url=False, include_input=False)
    ][:50]


class ErrorBody(BaseModel):
    """Every rejection: what was wrong, and details where there are any."""

    error: str
    detail: Any = None


def documented_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the given error statuses, all with the JSON error body."""
    meaning = {
        400: "Malformed JSON",
        401: "Missing or wrong bearer token",
        404: "No such resource",
        405: "Method not allowed here",
        409: "Conflicts with the current state",
        413: "Body too large",
        415: "Not JSON",
        422: "JSON that is not valid here",
        503: "Redis unavailable; retry shortly",
    }
    return {status: {"description": meaning[status], "model": ErrorBody} for status in statuses}
