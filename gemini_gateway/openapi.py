"""The OpenAPI 3.1 document, generated from the route table and the models the function validates with.

No hand-kept copy to drift: every route in `routes.ROUTES` is listed under
its declared path template, each method with its `OperationDoc` (request
and response models, stream events, error shape); path parameters come from
the template's convertors, error responses from the taxonomy in `errors.py`.

`python -m gemini_gateway.openapi [--out openapi.json] [--prompts DIR]`
prints or writes it (`make openapi`); a test keeps the committed
`openapi.json` current. Each template of `prompts/` (or `--prompts`, where a
deployment's PROMPTS_DIR is elsewhere) is documented as its own operation.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from . import __version__
from .callers.registry import CHECKS
from .errors import ErrorBody, error_types
from .model_base import MAX_CONTENTS
from .routes import ROUTES
from .routing import OperationDoc, Route
from .templates.library import Template, read_templates
from .templates.settings import TemplateSettings

__all__ = ["build_openapi", "main", "render"]

_REF = "#/components/schemas/{model}"
PROMPTS = Path(__file__).resolve().parents[1] / "prompts"  # the function's default PROMPTS_DIR, in its source
_LITERALS = re.compile(r"^[\w.\-]+(\|[\w.\-]+)*$")

# Every caller check's ways of presenting a credential (`callers/registry.py`).
_SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    name: scheme for check in CHECKS for name, scheme in check.security.items()
}
_ANY_OF_THE_CHECKS: list[dict[str, list[str]]] = [{name: []} for name in _SECURITY_SCHEMES]

_HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-Id": {
        "description": "The caller's `X-Request-Id` if it is a sane token, else a new one.",
        "required": True,
        "schema": {"type": "string"},
    },
    "Server-Timing": {"description": "upstream, app and total milliseconds.", "schema": {"type": "string"}},
    "Cache-Control": {"description": "Always `no-store`.", "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "string"}},
    "Allow": {"description": "The methods this path answers.", "schema": {"type": "string"}},
    "WWW-Authenticate": {"description": "`Bearer`.", "schema": {"type": "string"}},
}
_STATUS_HEADERS = {401: ("WWW-Authenticate",), 405: ("Allow",), 429: ("Retry-After",)}


def _schemas(docs: list[OperationDoc]) -> dict[str, Any]:
    models: list[type[BaseModel]] = [ErrorBody]
    for doc in docs:
        models += [m for m in (doc.request, doc.response, doc.error) if m is not None]
        models += [m for m in (doc.stream_events or {}).values() if m is not None]
    unique = list(dict.fromkeys(models))
    _, top = models_json_schema([(m, "validation") for m in unique], ref_template=_REF)
    return _readable_names(top.get("$defs", {}))


_AREAS = {"chat": "Generate", "gemini": "Gemini", "interactions": "Interactions", "openai": "OpenAI"}


def _readable_names(schemas: dict[str, Any]) -> dict[str, Any]:
    """Schemas sorted by name, two models of one name told apart by their route, not by Python module paths.

    pydantic names them `gemini_gateway__routes__interactions__models__GenerationConfig`;
    the document says `InteractionsGenerationConfig`.
    """
    renames: dict[str, str] = {}
    for name in schemas:
        parts = name.split("__")
        if len(parts) > 2:
            area = parts[2] if parts[1] == "routes" else parts[1]
            renames[name] = _AREAS.get(area, area.title()) + parts[-1]
    if len(set(renames.values()) | (schemas.keys() - renames.keys())) != len(schemas):
        raise ValueError(f"two schemas would share a name: {sorted(renames.values())}")
    text = json.dumps(schemas)
    for long, short in renames.items():
        text = text.replace(f'"{_REF.format(model=long)}"', f'"{_REF.format(model=short)}"')
    return {
        renames.get(name, name): schema
        for name, schema in sorted(json.loads(text).items(), key=lambda kv: renames.get(kv[0], kv[0]))
    }


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _headers(*names: str) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def _path_parameters(route: Route) -> list[dict[str, Any]]:
    """Each template parameter, with its convertor's regex as an enum (literals) or a pattern."""
    params = []
    for name, regex in route.parameters.items():
        schema: dict[str, Any] = {"type": "string"}
        if _LITERALS.match(regex):
            schema["enum"] = regex.split("|")
        else:
            schema["pattern"] = f"^(?:{regex})$"
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return params


def _error_response(status: int, doc: OperationDoc) -> dict[str, Any]:
    kinds = [t for s, t in error_types() if s == status]
    schema: dict[str, Any] = _ref(doc.error)
    if status == 404 and doc.error is not ErrorBody:  # a path no route matched: the function's own shape
        schema = {"anyOf": [schema, _ref(ErrorBody)]}
    return {
        "description": ", ".join(f"`{t}`" for t in kinds) or "error",
        "headers": _headers("X-Request-Id", *_STATUS_HEADERS.get(status, ())),
        "content": {"application/json": {"schema": schema}},
    }


def _operation(method: str, route: Route, doc: OperationDoc) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": _operation_id(method, route.path), "summary": doc.summary}
    if doc.description:
        op["description"] = doc.description
    if doc.tags:
        op["tags"] = list(doc.tags)
    op["security"] = [] if doc.public else _ANY_OF_THE_CHECKS
    if params := _path_parameters(route):
        op["parameters"] = params
    if method in ("POST", "PUT", "PATCH"):
        body_schema = _ref(doc.request) if doc.request is not None else {"type": "object"}
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body_schema}}}
    ok: dict[str, Any] = {"description": "OK", "headers": _headers("X-Request-Id", "Server-Timing", "Cache-Control")}
    content: dict[str, Any] = {}
    if method != "HEAD":
        content["application/json"] = {"schema": _ref(doc.response) if doc.response is not None else {}}
    if doc.stream_description:
        content["text/event-stream"] = {"schema": _event_schema(doc)}
        ok["description"] = "OK. " + doc.stream_description
    if content:
        ok["content"] = content
    op["responses"] = {"200": ok, **{str(s): _error_response(s, doc) for s in doc.error_statuses}}
    extra = dict(doc.extra)  # its `parameters` and `responses` add to the generated ones
    op["responses"].update(extra.pop("responses", {}))
    if "parameters" in extra:
        op["parameters"] = [*op.get("parameters", []), *extra.pop("parameters")]
    op.update(extra)
    return op


def _event_schema(doc: OperationDoc) -> dict[str, Any]:
    """The schema of one server-sent event ({event, data, id?, retry?}), as OpenAPI 3.2's `itemSchema`.

    OpenAPI 3.1 has no per-event keyword; schemathesis (and 3.2) read a
    text/event-stream schema this way, each event's JSON `data` checked by
    `contentSchema`.
    """
    variants = []
    for name, model in (doc.stream_events or {"message": None}).items():
        data: dict[str, Any] = {"type": "string"}
        if model is not None:
            data.update(contentMediaType="application/json", contentSchema=_ref(model))
        variants.append({"properties": {"event": {"const": name}, "data": data}})
    return {
        "description": "One event of the stream. " + doc.stream_description,
        "type": "object",
        "required": ["event", "data"],
        "properties": {"event": {"type": "string"}, "data": {"type": "string"}},
        "anyOf": variants,
    }


def _operation_id(method: str, path: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", path) or ["root"]
    return method.lower() + "".join(w[:1].upper() + w[1:] for w in words)


def _templates(prompts: Path) -> list[Template]:
    """The templates of `prompts`, as the function loads them (their inputs capped at the default)."""
    max_chars = TemplateSettings.model_fields["template_input_max_chars"].default
    templates, problems = read_templates(prompts, str(prompts), max_chars)
    if problems:
        raise ValueError("; ".join(f"{where}: {why}" for where, why in problems))
    return sorted(templates, key=lambda t: t.id)


def _template_operation(run: dict[str, Any], template: Template) -> dict[str, Any]:
    """`POST /v1/templates/{id}` for one template: its own operation, with its inputs.

    The answer is documented as every template's: the `json` Gemini returns
    is asked to follow the template's output schema, but the function does
    not check it against that schema, so the document does not promise it.
    """
    op = copy.deepcopy(run)
    op.pop("parameters", None)
    op["operationId"] = f"runTemplate_{template.id}"  # unique as ids are, whatever the id (even "id")
    op["summary"] = f"Run the template {template.id}" + (f": {template.description}" if template.description else "")
    properties: dict[str, Any] = {"inputs": template.inputs.schema, "stream": {"type": "boolean", "default": False}}
    if template.uses_history:
        items = {"$ref": _REF.format(model="Message")}
        properties["history"] = {"type": "array", "items": items, "minItems": 1, "maxItems": MAX_CONTENTS}
    body = {"type": "object", "additionalProperties": False, "properties": properties}
    if template.inputs.required:
        body["required"] = ["inputs"]
    op["requestBody"]["content"]["application/json"]["schema"] = body
    return op


def build_openapi(prompts: Path = PROMPTS) -> dict[str, Any]:
    """The whole document as a dict (same output for the same code and templates).

    Each template of `prompts` is also its own operation, `POST
    /v1/templates/<id>`, whose body schema holds that template's inputs.
    """
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        for method in route.methods:
            paths.setdefault(route.path, {})[method.lower()] = _operation(method, route, route.doc(method))
    run = paths["/v1/templates/{id}"]["post"]
    for template in _templates(prompts):
        paths[f"/v1/templates/{template.id}"] = {"post": _template_operation(run, template)}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Gemini gateway function",
            "version": __version__,
            "description": (
                "A Cloud Run function that apps call instead of Gemini. Generated from the function's route table "
                "and pydantic models by `python -m gemini_gateway.openapi`; do not edit by hand. Every route also "
                "answers `OPTIONS` (CORS preflight). The API reference in prose is docs/API.md."
            ),
        },
        "servers": [
            {"url": "http://localhost:8080", "description": "`make run`"},
            {
                "url": "https://{region}-{project}.cloudfunctions.net/{function}",
                "description": "deployed (or its Cloud Run URL)",
                "variables": {
                    "region": {"default": "europe-west1"},
                    "project": {"default": "my-project"},
                    "function": {"default": "generate"},
                },
            },
        ],
        "security": _ANY_OF_THE_CHECKS,
        "paths": paths,
        "components": {
            "schemas": _schemas([route.doc(method) for route in ROUTES for method in route.methods]),
            "securitySchemes": _SECURITY_SCHEMES,
            "headers": _HEADERS,
        },
    }


def render(prompts: Path = PROMPTS) -> str:
    """The document as written to `openapi.json`."""
    return json.dumps(build_openapi(prompts), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print (or write) the OpenAPI document.")
    parser.add_argument("--out", help="write here instead of stdout (only when it changed)")
    parser.add_argument("--prompts", type=Path, default=PROMPTS, help="the templates to document (default: prompts/)")
    args = parser.parse_args(argv)
    text = render(args.prompts)
    if args.out is None:
        sys.stdout.write(text)
        return 0
    try:
        with open(args.out, encoding="utf-8") as fh:
            if fh.read() == text:
                return 0
    except FileNotFoundError:
        pass
    with open(args.out, "w", encoding="utf-8") as fh:
        fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
