"""Ingest's OpenAPI document, complete enough for a client generator.

The endpoints read their JSON bodies themselves (for 413/415/400 before any
model), so FastAPI does not see the body models: they are declared here by
reference (`json_body`) and their schemas added to `components.schemas`, where
the references resolve (a model's own JSON Schema would carry `$defs` that do
not). FastAPI's automatic 422 for bad parameters is dropped: ingest answers
400 for those, and documents the 422s it does send.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

REF = "#/components/schemas/{model}"


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for an endpoint whose JSON body is `model`."""
    schema = {"$ref": REF.format(model=model.__name__)}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def install_openapi(
    app: FastAPI,
    bodies: list[type[BaseModel]],
    adjust: Callable[[dict[str, Any]], None] = lambda _: None,
) -> None:
    """Serve a document whose body models are components; `adjust` sets what
    depends on settings (batch sizes)."""
    generate = app.openapi

    def document() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = generate()
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        _, defs = models_json_schema([(m, "validation") for m in bodies], ref_template=REF)
        schemas.update(defs.get("$defs", {}))
        for operations in doc.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.get("responses", {})
                if "HTTPValidationError" in str(responses.get("422", "")):
                    del responses["422"]
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        adjust(doc)
        app.openapi_schema = doc
        return doc

    app.openapi = document  # type: ignore[method-assign]
