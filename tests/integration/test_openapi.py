"""The committed `openapi.json` is what the generator makes from today's models and routes."""

from __future__ import annotations

import json
import re
from typing import Any

from gemini_gateway.app import PATTERN_ROUTES, ROUTES
from gemini_gateway.errors import ApiError
from gemini_gateway.models import GenerateRequest
from gemini_gateway.openapi import build_openapi, pattern_paths, render
from tests.support.processes import ROOT


def test_committed_document_is_current() -> None:
    committed = (ROOT / "openapi.json").read_text(encoding="utf-8")
    assert committed == render(), "openapi.json is stale: run `make openapi` and commit it"


def test_generator_is_pure_and_json() -> None:
    assert build_openapi() == build_openapi()
    assert json.loads(render()) == build_openapi()


def test_every_registered_route_and_method_is_there() -> None:
    doc = build_openapi()
    assert doc["openapi"].startswith("3.1")
    listed = {(m.upper(), _sample(p, op)) for p, ops in doc["paths"].items() for m, op in ops.items()}
    for path, route in ROUTES.items():
        for method in route.methods:
            assert (method, path) in listed
    for pattern, route in PATTERN_ROUTES:
        for method in route.methods:
            assert any(m == method and pattern.fullmatch(p) for m, p in listed), pattern.pattern


def _sample(template: str, operation: dict[str, Any]) -> str:
    """A concrete path for a template: each parameter's first enum value, or "x"."""
    values = {p["name"]: p["schema"].get("enum", ["x"])[0] for p in operation.get("parameters", [])}
    return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), "x")), template)


def test_request_schema_is_the_models_own() -> None:
    doc = build_openapi()
    schemas = doc["components"]["schemas"]
    body = doc["paths"]["/"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/GenerateRequest"}
    assert set(schemas["GenerateRequest"]["properties"]) == {
        f.alias or name for name, f in GenerateRequest.model_fields.items()
    }
    assert schemas["GenerateRequest"]["additionalProperties"] is False


def test_every_error_status_and_type_is_documented_on_generate() -> None:
    doc = build_openapi()
    responses = doc["paths"]["/"]["post"]["responses"]
    for status in (400, 401, 403, 404, 405, 413, 415, 429, 500, 502, 503, 504):
        assert responses[str(status)]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    assert "text/event-stream" in responses["200"]["content"]
    assert "Retry-After" in responses["429"]["headers"] and "Allow" in responses["405"]["headers"]
    kinds = set(doc["components"]["schemas"]["ErrorInfo"]["properties"]["type"]["enum"])
    todo, seen = [ApiError], set()
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls is not ApiError:
            seen.add(cls.type)
    assert kinds == seen


def test_security_schemes_and_public_healthz() -> None:
    doc = build_openapi()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    headers = {s["name"] for s in schemes.values() if s["type"] == "apiKey"}
    assert headers == {"X-API-Key", "x-goog-api-key", "X-Firebase-AppCheck", "X-Signature"}
    assert doc["paths"]["/healthz"]["get"]["security"] == []
    assert doc["servers"]


def test_pattern_routes_become_path_templates() -> None:
    (path,) = pattern_paths(
        r"/(?P<version>v1|v1beta)/models/(?P<model>[^/:]+):(?P<action>generateContent|streamGenerateContent)"
    )
    assert path == "/{version}/models/{model}:{action}"
    assert pattern_paths(r"^/v1/chat/completions$") == ("/v1/chat/completions",)


def test_document_is_valid_openapi_3_1() -> None:
    """Checked against the OpenAPI 3.1 meta-schema (schemathesis carries it)."""
    import schemathesis

    schemathesis.openapi.from_dict(build_openapi()).validate()
