"""Ingest's OpenAPI document, as a client generator reads it: every reference
resolves, the bearer token is a security scheme, and the rules a client must
follow are in the schemas."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx
import jsonschema
import pytest
from ingest.app import Settings, build

TOKEN = "s3cret-token-for-the-desk"


def served(**settings: Any) -> dict[str, Any]:
    app = build(Settings(redis_url="redis://127.0.0.1:1/0", ingest_token=TOKEN, **settings))

    async def get() -> dict[str, Any]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
            document: dict[str, Any] = (await client.get("/openapi.json")).json()
        return document

    return asyncio.run(get())


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return served(max_batch_items=250)


def body_schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    """A component schema with its references resolvable, as a validator sees it."""
    return {"$ref": f"#/components/schemas/{name}", "components": document["components"]}


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    refs = set(re.findall(r'"\$ref": "([^"]+)"', json.dumps(document)))
    assert refs, "no references at all"
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in document["components"]["schemas"], ref


def test_item_bodies_are_documented_by_reference(document: dict[str, Any]) -> None:
    for path, name in (("/v1/items", "Submission"), ("/v1/items:batch", "BatchRequest")):
        body = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        schema = body["schema"]
        if path == "/v1/items":  # the API's own shape, or a ninjs document
            assert schema["anyOf"][1]["title"] == "ninjs 2.2 item"
            schema = schema["anyOf"][0]
        assert schema == {"$ref": f"#/components/schemas/{name}"}
    for method, name in (("post", "SourceConfig"),):
        body = document["paths"]["/v1/sources"][method]["requestBody"]["content"]
        assert body["application/json"]["schema"]["$ref"].endswith(name)


def test_every_api_operation_names_the_bearer_scheme(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["bearerToken"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            secured = operation.get("security") == [{"bearerToken": []}]
            assert secured == path.startswith("/v1/"), (method, path)


@pytest.mark.parametrize(
    ("item", "valid"),
    [
        ({"headline": "h"}, True),
        ({"body_html": "<p>b</p>"}, True),
        ({"uri": "urn:x", "pubstatus": "canceled"}, True),
        ({"uri": "urn:x"}, False),
        ({"headline": "", "body_html": ""}, False),
        ({"pubstatus": "withheld"}, False),
    ],
)
def test_headline_or_body_is_in_the_schema(
    document: dict[str, Any], item: dict[str, Any], valid: bool
) -> None:
    errors = list(
        jsonschema.Draft202012Validator(body_schema(document, "Submission")).iter_errors(item)
    )
    assert (not errors) == valid


def test_the_batch_bounds_are_in_the_schema(document: dict[str, Any]) -> None:
    items = document["components"]["schemas"]["BatchRequest"]["properties"]["items"]
    assert (items["minItems"], items["maxItems"]) == (1, 250)


def test_dead_letter_ids_have_their_format(document: dict[str, Any]) -> None:
    for path, operations in document["paths"].items():
        if "{letter_id}" not in path:
            continue
        for operation in operations.values():
            (parameter,) = [p for p in operation["parameters"] if p["name"] == "letter_id"]
            assert re.fullmatch(parameter["schema"]["pattern"], "1732480000000-0")
            assert not re.fullmatch(parameter["schema"]["pattern"], "not-an-id")
    query = document["paths"]["/v1/deadletters"]["get"]["parameters"]
    (after,) = [p for p in query if p["name"] == "after"]
    assert "pattern" in json.dumps(after["schema"])


def test_only_errors_ingest_sends_are_documented(document: dict[str, Any]) -> None:
    """Bad parameters are 400s here, not FastAPI's 422 HTTPValidationError."""
    assert "HTTPValidationError" not in json.dumps(document)
