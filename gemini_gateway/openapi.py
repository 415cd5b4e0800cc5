"""The OpenAPI 3.1 document, generated from the models the function validates with.

No hand-kept copy to drift: every route registered in `app.ROUTES` and
`app.PATTERN_ROUTES` is listed; request and response schemas come from the
route's own pydantic models, error responses from the taxonomy in `errors.py`.

How a route describes itself (first match wins):

1. `DOCS` below, keyed by (method, path) — the path as written in `ROUTES`,
   or the regex source of a pattern route. One line per route.
2. A module-level `OPENAPI` in the handler's module: a mapping from the
   handler's name, or from the HTTP method, to an `OperationDoc` or to a plain
   dict of `OperationDoc`'s fields (so a route module need not import this one).
3. Otherwise a generic entry (any JSON object in, any JSON out), so that a new
   route is never missing from the document, only under-described.

`python -m gemini_gateway.openapi [--out openapi.json]` prints or writes it
(`make openapi`); a test keeps the committed `openapi.json` current.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from pydantic import BaseModel, Field, JsonValue
from pydantic.json_schema import models_json_schema

from . import __version__
from .errors import ApiError, error_body
from .models import GenerateRequest, GenerateResponse

__all__ = [
    "DOCS",
    "ERROR_STATUSES",
    "ErrorBody",
    "ErrorInfo",
    "GoogleErrorBody",
    "OpenAIErrorBody",
    "OperationDoc",
    "StreamDelta",
    "build_openapi",
    "error_types",
    "main",
    "pattern_paths",
]

_REF = "#/components/schemas/{model}"


def error_types() -> list[tuple[int, str]]:
    """(status, type) of every concrete error class in `errors.py`, by status."""
    found: set[tuple[int, str]] = set()
    todo = list(ApiError.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        found.add((cls.status, cls.type))
    return sorted(found)


# Contract section 8, plus 500 for a bug: every status an authenticated route may answer with.
ERROR_STATUSES: tuple[int, ...] = tuple(sorted({status for status, _ in error_types()}))


class ErrorDetail(BaseModel):
    field: str
    problem: str


class ErrorInfo(BaseModel):
    type: str = Field(json_schema_extra={"enum": list[JsonValue](sorted({t for _, t in error_types()}))})
    message: str
    retryable: bool
    request_id: str
    details: list[ErrorDetail] | None = Field(
        default=None, description="present for invalid_request: one entry per refused field"
    )


class ErrorBody(BaseModel):
    """Every error the function answers on the routes that use the contract's error shape (section 8)."""

    error: ErrorInfo


class StreamDelta(BaseModel):
    """The data of an `event: delta` in a stream from `POST /`."""

    text: str


class OpenAIError(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorBody(BaseModel):
    """Errors on the OpenAI-compatible route, in OpenAI's shape (contract section 7)."""

    error: OpenAIError


class GoogleError(BaseModel):
    code: int
    message: str
    status: str
    details: list[dict[str, Any]] | None = None


class GoogleErrorBody(BaseModel):
    """Errors on the Gemini-native route, in Google's shape (contract section 7b)."""

    error: GoogleError


class Health(BaseModel):
    status: str = Field(json_schema_extra={"enum": ["ok"]})
    version: str


@dataclass(frozen=True)
class OperationDoc:
    """What the document says about one method of one route."""

    summary: str
    description: str = ""
    request: type[BaseModel] | None = None  # JSON body, validated by this model
    response: type[BaseModel] | None = None  # 200 application/json
    stream_description: str = ""  # non-empty: the 200 may also be text/event-stream
    # SSE event name ("message" when the stream names none) → model of its JSON data (None: any text).
    stream_events: Mapping[str, type[BaseModel] | None] | None = None
    error: type[BaseModel] | None = ErrorBody  # None: some JSON object with "error"
    public: bool = False  # no caller check (healthz)
    error_statuses: tuple[int, ...] = ERROR_STATUSES
    paths: tuple[str, ...] = ()  # OpenAPI path templates of a pattern route (else derived from the regex)
    tags: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)  # merged into the operation object


_STREAM_TEXT = (
    'Sent when the body has `"stream": true` or the request has `Accept: text/event-stream`. '
    "Server-sent events, forwarded as the upstream produces them: `event: delta` (data: StreamDelta) per "
    "text piece, then `event: done` (data: GenerateResponse, text = all deltas joined); a failure after "
    "the stream started ends it with `event: error` (data: ErrorBody)."
)

DOCS: dict[tuple[str, str], OperationDoc] = {
    ("POST", "/"): OperationDoc(
        summary="Generate an answer (JSON, or a stream of server-sent events)",
        description="Contract sections 3-5. Exactly one of `prompt` or `messages`; unknown fields are refused.",
        request=GenerateRequest,
        response=GenerateResponse,
        stream_events={"delta": StreamDelta, "done": GenerateResponse, "error": ErrorBody},
        stream_description=_STREAM_TEXT,
        tags=("generate",),
    ),
    ("GET", "/healthz"): OperationDoc(
        summary="Liveness: touches no secret and no upstream",
        response=Health,
        public=True,
        error_statuses=(),
        tags=("health",),
    ),
    ("HEAD", "/healthz"): OperationDoc(
        summary="Liveness, headers only", public=True, error_statuses=(), tags=("health",)
    ),
}


def _chat_completions() -> OperationDoc:
    from . import openai_compat as route

    return OperationDoc(
        summary="OpenAI-compatible chat completions",
        description="Contract section 7: the OpenAI chat request in, `chat.completion` out.",
        request=getattr(route, "ChatCompletionRequest", None),
        response=getattr(route, "ChatCompletion", None),
        stream_description=(
            'With `"stream": true`: `chat.completion.chunk` objects as `data:` lines, ending with `data: [DONE]`.'
        ),
        stream_events={"message": getattr(route, "ChatCompletionChunk", None)},
        error=OpenAIErrorBody,
        tags=("openai",),
    )


def _gemini_native() -> OperationDoc:
    from . import gemini_native as route

    return OperationDoc(
        summary="Gemini-native generateContent / streamGenerateContent for the official Gemini SDKs",
        description="Contract section 7b: Gemini's own request and answer; the caller's key in `x-goog-api-key`.",
        request=getattr(route, "GeminiRequest", None),
        response=getattr(route, "GenerateContentResponse", None),
        stream_description="`:streamGenerateContent?alt=sse`: Gemini's own `data:` records, passed through.",
        stream_events={"message": getattr(route, "GenerateContentResponse", None)},
        error=GoogleErrorBody,
        paths=("/{version}/models/{model}:generateContent", "/{version}/models/{model}:streamGenerateContent"),
        tags=("gemini",),
    )


# Routes described by module, for route modules that define no `OPENAPI` of their own.
_BY_MODULE: dict[tuple[str, str], Callable[[], OperationDoc]] = {
    ("POST", "gemini_gateway.openai_compat"): _chat_completions,
    ("POST", "gemini_gateway.gemini_native"): _gemini_native,
}

_SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "A client API key (`CLIENT_API_KEYS`) or a Firebase Auth ID token.",
    },
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "A client API key."},
    "googApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "x-goog-api-key",
        "description": "A client API key, where the official Gemini SDKs put theirs.",
    },
    "appCheck": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Firebase-AppCheck",
        "description": "A Firebase App Check token.",
    },
    "webhookSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Signature",
        "description": '`t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`, 300 s tolerance.',
    },
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
_GENERIC_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {}}}


# --------------------------------------------------------------------------- routes


def _operation_doc(method: str, key: str, handler: Any, uses_contract_errors: bool) -> OperationDoc:
    doc = DOCS.get((method, key))
    if doc is not None:
        return doc
    module = sys.modules.get(getattr(handler, "__module__", "") or "")
    described = getattr(module, "OPENAPI", None) if module is not None else None
    if isinstance(described, Mapping):
        entry = described.get(getattr(handler, "__name__", ""), described.get(method))
        if isinstance(entry, OperationDoc):
            return entry
        if isinstance(entry, Mapping):
            known = {f.name for f in fields(OperationDoc)}
            return OperationDoc(**{k: v for k, v in entry.items() if k in known})
    by_module = _BY_MODULE.get((method, getattr(handler, "__module__", "")))
    if by_module is not None:
        return by_module()
    return OperationDoc(
        summary=f"{method} {key}",
        description="Not described yet: its module defines no `OPENAPI` entry for this handler.",
        error=ErrorBody if uses_contract_errors else None,
    )


def _routes() -> Iterator[tuple[str, str, OperationDoc, tuple[str, ...]]]:
    """(method, path key, doc, OpenAPI paths) for every registered route."""
    from .app import PATTERN_ROUTES, ROUTES  # here, not at import: route modules may import this module

    for path, route in ROUTES.items():
        for method, handler in route.methods.items():
            doc = _operation_doc(method, path, handler, route.render_error is error_body)
            yield method, path, doc, doc.paths or (path,)
    for pattern, route in PATTERN_ROUTES:
        for method, handler in route.methods.items():
            doc = _operation_doc(method, pattern.pattern, handler, route.render_error is error_body)
            yield method, pattern.pattern, doc, doc.paths or pattern_paths(pattern.pattern)


_GROUP = re.compile(r"\((\?P<(?P<name>\w+)>|\?:)?")
_LITERALS = re.compile(r"^[\w.\-]+(\|[\w.\-]+)*$")


def pattern_paths(pattern: str) -> tuple[str, ...]:
    """An OpenAPI path template for a route regex: each group becomes a `{name}` parameter."""
    out: list[str] = []
    i, unnamed = 0, 0
    text = pattern.removeprefix("^").removesuffix("$").removesuffix(r"\Z")
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        match = _GROUP.match(text, i) if char == "(" else None
        if match:
            end = _group_end(text, i)
            unnamed += match.group("name") is None
            out.append("{" + (match.group("name") or f"p{unnamed}") + "}")
            i = end + 1
            continue
        out.append(char)
        i += 1
    return ("".join(out),)


def _group_end(text: str, start: int) -> int:
    depth, i = 0, start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i
        i += 1
    raise ValueError(f"unbalanced group in route pattern {text!r}")


def _path_parameters(pattern: str | None, path: str) -> list[dict[str, Any]]:
    """Path parameters of `path`, with each one's regex (or enum) taken from the route's pattern."""
    bodies: dict[str, str] = {}
    if pattern is not None:
        text = pattern.removeprefix("^").removesuffix("$")
        unnamed = 0
        for match in _GROUP.finditer(text):
            if match.start() > 0 and text[match.start() - 1] == "\\":
                continue
            end = _group_end(text, match.start())
            unnamed += match.group("name") is None
            bodies[match.group("name") or f"p{unnamed}"] = text[match.end() : end]
    params = []
    for name in re.findall(r"\{(\w+)\}", path):
        body = bodies.get(name)
        schema: dict[str, Any] = {"type": "string"}
        if body and _LITERALS.match(body):
            schema["enum"] = body.split("|")
        elif body:
            schema["pattern"] = f"^(?:{body})$"
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return params


# --------------------------------------------------------------------------- document


def _schemas(docs: list[OperationDoc]) -> dict[str, Any]:
    models: list[type[BaseModel]] = [ErrorBody]
    for doc in docs:
        models += [m for m in (doc.request, doc.response, doc.error) if m is not None]
        models += [m for m in (doc.stream_events or {}).values() if m is not None]
    unique = list(dict.fromkeys(models))
    _, top = models_json_schema([(m, "validation") for m in unique], ref_template=_REF)
    return dict(sorted(top.get("$defs", {}).items()))


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _headers(*names: str) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def _error_response(status: int, doc: OperationDoc) -> dict[str, Any]:
    kinds = [t for s, t in error_types() if s == status]
    description = ", ".join(f"`{t}`" for t in kinds) or "error"
    schema: dict[str, Any] = _ref(doc.error) if doc.error is not None else _GENERIC_ERROR
    if status == 404 and doc.error is not ErrorBody:  # a path no route matched: the contract's shape
        schema = {"anyOf": [schema, _ref(ErrorBody)]}
    return {
        "description": description,
        "headers": _headers("X-Request-Id", *_STATUS_HEADERS.get(status, ())),
        "content": {"application/json": {"schema": schema}},
    }


def _operation(method: str, path_key: str, doc: OperationDoc, path: str) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": _operation_id(method, path), "summary": doc.summary}
    if doc.description:
        op["description"] = doc.description
    if doc.tags:
        op["tags"] = list(doc.tags)
    op["security"] = [] if doc.public else _ANY_OF_THE_CHECKS
    pattern = None if path_key == path else path_key
    if params := _path_parameters(pattern, path):
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
    op.update(doc.extra)
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


def build_openapi() -> dict[str, Any]:
    """The whole document as a dict (no I/O, same output for the same code)."""
    routes = list(_routes())
    paths: dict[str, dict[str, Any]] = {}
    for method, key, doc, templates in routes:
        for path in templates:
            paths.setdefault(path, {})[method.lower()] = _operation(method, key, doc, path)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Gemini gateway function",
            "version": __version__,
            "description": (
                "A Cloud Run function that apps call instead of Gemini. Generated from the function's pydantic "
                "models by `python -m gemini_gateway.openapi`; do not edit by hand. Every route also answers "
                "`OPTIONS` (CORS preflight)."
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
            "schemas": _schemas([doc for *_, doc, _ in routes]),
            "securitySchemes": _SECURITY_SCHEMES,
            "headers": _HEADERS,
        },
    }


def render() -> str:
    """The document as written to `openapi.json`."""
    return json.dumps(build_openapi(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print (or write) the OpenAPI document.")
    parser.add_argument("--out", help="write here instead of stdout (only when it changed)")
    args = parser.parse_args(argv)
    text = render()
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
