"""The committed `openapi.json` is what the generator makes from today's models and routes."""

from __future__ import annotations

import json
import re
from typing import Any

from gemini_gateway.chat.models import GenerateRequest
from gemini_gateway.errors import ApiError
from gemini_gateway.openapi import build_openapi, render
from gemini_gateway.routes import ROUTES
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
    for route in ROUTES:
        for method in route.methods:
            assert any(m == method and route.regex.fullmatch(p) for m, p in listed), route.template


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
    assert headers == {"X-API-Key", "x-goog-api-key", "X-Firebase-AppCheck", "X-Signature", "webhook-signature"}
    assert doc["paths"]["/healthz"]["get"]["security"] == []
    assert doc["servers"]


def test_templates_become_documented_paths_with_parameters() -> None:
    doc = build_openapi()
    operation = doc["paths"]["/{version}/models/{model}:generateContent"]["post"]
    params = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert params["version"] == {"type": "string", "enum": ["v1", "v1beta"]}
    assert params["model"]["pattern"] == "^(?:[^/:]+)$"
    assert "/v1/chat/completions" in doc["paths"]


def test_gemini_native_answer_is_described_by_a_model() -> None:
    doc = build_openapi()
    ok = doc["paths"]["/{version}/models/{model}:generateContent"]["post"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/GenerateContentResponse"}
    assert "candidates" in doc["components"]["schemas"]["GenerateContentResponse"]["properties"]


def test_document_is_valid_openapi_3_1() -> None:
    """Checked against the OpenAPI 3.1 meta-schema (schemathesis carries it)."""
    import schemathesis

    schemathesis.openapi.from_dict(build_openapi()).validate()
