"""Routing and the request path: request in → checks → upstream → response out.

Settings are read once at import (problems are logged once, naming each
variable); the upstream client, secret cache and caller checks are built on
the first request, inside the server's event loop, and shared by every
request of the process.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from . import __version__
from .callers import ApiKeyCheck, CallerCheck, CallerGate
from .cors import cors_headers, preflight_headers
from .errors import (
    ApiError,
    Internal,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    Unavailable,
    UpstreamError,
    error_body,
)
from .gemini_request import gateway_headers, to_gemini_body
from .logs import configure as configure_logs
from .logs import log, trace_fields
from .models import GenerateRequest
from .normalize import Answer, MalformedAnswer, Usage, parse_json_text, read_answer
from .payload import (
    check_content_type,
    check_declared_length,
    parse_json,
    read_limited,
    validate,
)
from .secret_store import SecretManagerFetcher, SecretRef, SecretStore
from .settings import ConfigError, Settings, load_settings
from .upstream import GatewayClient, UpstreamAnswer, make_http_client

__all__ = ["handle", "preload"]

T = TypeVar("T")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class _ClientGone(Exception):
    """The caller disconnected; whatever we were doing for it was cancelled."""


@dataclass
class _Runtime:
    settings: Settings
    gateway: GatewayClient
    callers: CallerGate


@dataclass
class _Exchange:
    """One request's facts, gathered for its access log line and headers."""

    request_id: str
    started: float
    fields: dict[str, Any] = field(default_factory=dict)
    upstream_ms: float | None = None


_config: Settings | ConfigError | None = None
_runtime: _Runtime | None = None


def preload(environ: Mapping[str, str] | None = None) -> None:
    """Read and validate the environment once; log what is wrong, by variable."""
    global _config, _runtime
    configure_logs()
    _runtime = None
    try:
        loaded = load_settings(os.environ if environ is None else environ)
    except ConfigError as exc:
        _config = exc
        for var, why in exc.problems:
            log.error(f"configuration: {var} {why}", extra={"fields": {"variable": var}})
        log.error("the function will answer 503 until its configuration is fixed")
        return
    _config = loaded.settings
    for warning in loaded.warnings:
        log.warning(f"configuration: {warning}")


def _get_runtime() -> _Runtime:
    global _runtime
    if _runtime is not None:
        return _runtime
    if _config is None:
        preload()
    if isinstance(_config, ConfigError):
        raise Unavailable(f"the function is not configured correctly ({', '.join(_config.variables)}); see its logs")
    assert isinstance(_config, Settings)
    configure_logs()  # functions-framework may have reset logging after import
    settings = _config
    secrets = SecretStore(SecretManagerFetcher(settings.secret_manager_emulator_host), settings.secret_cache_seconds)
    checks: list[CallerCheck] = []
    if settings.client_api_keys_secret or settings.client_api_keys:
        literal = settings.client_api_keys.get_secret_value() if settings.client_api_keys else None
        checks.append(ApiKeyCheck(secrets, SecretRef("client API keys", settings.client_api_keys_secret, literal)))
    _runtime = _Runtime(
        settings=settings,
        gateway=GatewayClient(settings, secrets, make_http_client()),
        callers=CallerGate(checks, settings.allow_unauthenticated),
    )
    return _runtime


# ---------------------------------------------------------------- routes

Handler = Callable[[Request, _Exchange], Awaitable[Response]]


async def _healthz(request: Request, exchange: _Exchange) -> Response:
    return _json_response({"status": "ok", "version": __version__})


async def _generate(request: Request, exchange: _Exchange) -> Response:
    runtime = _get_runtime()
    settings = runtime.settings
    headers = request.headers
    check_declared_length(headers.get("content-length"), settings.max_request_bytes)
    try:
        body = await read_limited(request.stream(), settings.max_request_bytes)
    except ClientDisconnect:
        raise _ClientGone() from None
    caller = await runtime.callers.identify(headers, body)
    exchange.fields["caller"] = caller.identity
    check_content_type(headers.get("content-type"))
    req = validate(GenerateRequest, parse_json(body))
    if req.stream or _wants_event_stream(headers.get("accept")):
        raise InvalidRequest.for_field("stream", "streaming is not available in this version yet")
    model = req.model or settings.default_model
    exchange.fields["model"] = model
    if model not in settings.allowed_models:
        raise InvalidRequest.for_field("model", f"must be one of: {', '.join(settings.allowed_models)}")
    upstream_body = json.dumps(to_gemini_body(req), separators=(",", ":"), ensure_ascii=False).encode()
    extra = gateway_headers(req, caller=caller.identity)
    answer = await _cancel_if_gone(
        request, runtime.gateway.generate(model, upstream_body, extra, exchange.started), exchange
    )
    exchange.upstream_ms = answer.upstream_ms
    result = _result(req, model, answer, exchange)
    if settings.log_payloads:
        exchange.fields["prompt"] = (req.prompt or _last_user_text(req))[:2000]
        exchange.fields["answer"] = result["text"][:2000]
    return _json_response(result)


_ROUTES: dict[str, dict[str, Handler]] = {
    "/": {"POST": _generate},
    "/healthz": {"GET": _healthz, "HEAD": _healthz},
}


def _route(method: str, path: str) -> Handler:
    methods = _ROUTES.get(path)
    if methods is None:
        raise NotFound(f"no route for {path}")
    handler = methods.get(method)
    if handler is None:
        raise MethodNotAllowed(method, [*methods, "OPTIONS"])
    return handler


# ---------------------------------------------------------------- the request path


async def handle(request: Request) -> Response:
    """The one entry point: every response, success or error, leaves from here."""
    started = time.perf_counter()
    headers = request.headers
    exchange = _Exchange(request_id=_request_id(headers.get("x-request-id")), started=started)
    origins = _config.allowed_origins if isinstance(_config, Settings) else ()
    origin = headers.get("origin")
    try:
        if request.method == "OPTIONS":
            methods = _ROUTES.get(request.url.path, {"POST": _generate})
            response = Response(
                status_code=204, headers=preflight_headers(origin, origins, ", ".join([*methods, "OPTIONS"]))
            )
        else:
            response = await _route(request.method, request.url.path)(request, exchange)
    except ApiError as err:
        response = _error_response(err, exchange)
    except _ClientGone:
        response = Response(status_code=499)
        exchange.fields["error_type"] = "client_disconnected"
    except Exception as exc:  # noqa: BLE001 - last line of defence: never a stack trace out
        log.error("unexpected failure", extra={"fields": {"request_id": exchange.request_id, **_where(exc)}})
        response = _error_response(Internal("the function failed unexpectedly; it has been logged"), exchange)
    total_ms = (time.perf_counter() - started) * 1000
    response.headers["X-Request-Id"] = exchange.request_id
    response.headers["Cache-Control"] = "no-store"
    response.headers["Server-Timing"] = _server_timing(exchange.upstream_ms, total_ms)
    if request.method != "OPTIONS":
        for name, value in cors_headers(origin, origins).items():
            response.headers[name] = value
    _access_log(request, response.status_code, total_ms, exchange)
    return response


async def _cancel_if_gone(request: Request, work: Coroutine[Any, Any, T], exchange: _Exchange) -> T:
    """Run `work`, cancelling it if the caller disconnects: nothing runs for nobody."""
    task = asyncio.current_task()
    assert task is not None
    gone = False

    async def watch() -> None:
        nonlocal gone
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                gone = True
                task.cancel()
                return

    watcher = asyncio.create_task(watch())
    try:
        return await work
    except asyncio.CancelledError:
        if gone:
            task.uncancel()
            raise _ClientGone() from None
        raise
    finally:
        watcher.cancel()


def _result(req: GenerateRequest, model: str, answer: UpstreamAnswer, exchange: _Exchange) -> dict[str, Any]:
    if answer.blocked is not None:
        read = Answer(finish_reason="blocked", blocked_reason=_guardrail(answer))
    else:
        try:
            read = read_answer(answer.body)
        except MalformedAnswer as exc:
            raise UpstreamError(f"the upstream answer was not a usable Gemini response: {exc}") from None
    finish = read.finish_reason or "other"
    usage_dict = (read.usage or Usage()).as_dict()
    exchange.fields.update(
        finish_reason=finish,
        attempts=answer.attempts,
        cache_status=answer.cache_status,
        **{k: v for k, v in usage_dict.items() if k != "cached_tokens" or v},
    )
    result: dict[str, Any] = {
        "id": read.response_id,
        "request_id": exchange.request_id,
        "model": model,
        "model_version": read.model_version,
        "text": read.text,
    }
    if req.wants_json:
        ok, value = parse_json_text(read.text)
        if ok:
            result["json"] = value
    result.update(
        finish_reason=finish,
        blocked_reason=read.blocked_reason,
        usage=usage_dict,
        gateway={"cache_status": answer.cache_status, "log_id": answer.log_id, "attempts": answer.attempts},
        timing_ms={
            "upstream": round(answer.upstream_ms),
            "total": round((time.perf_counter() - exchange.started) * 1000),
        },
    )
    return result


def _guardrail(answer: UpstreamAnswer) -> str:
    reason = answer.blocked.reason if answer.blocked else None
    return "GATEWAY_GUARDRAIL_RESPONSE" if reason == "2017" else "GATEWAY_GUARDRAIL_PROMPT"


# ---------------------------------------------------------------- small helpers


def _json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(content, status_code=status, headers=dict(headers or {}), media_type="application/json")


def _error_response(error: ApiError, exchange: _Exchange) -> Response:
    exchange.fields["error_type"] = error.type
    return _json_response(error_body(error, exchange.request_id), error.status, error.headers)


def _request_id(given: str | None) -> str:
    if given and _REQUEST_ID.match(given):
        return given
    return uuid.uuid4().hex


def _wants_event_stream(accept: str | None) -> bool:
    return accept is not None and any(p.split(";")[0].strip().lower() == "text/event-stream" for p in accept.split(","))


def _last_user_text(req: GenerateRequest) -> str:
    for message in reversed(req.messages or []):
        if message.role == "user":
            return " ".join(p.text for p in message.content if p.text)
    return ""


def _server_timing(upstream_ms: float | None, total_ms: float) -> str:
    if upstream_ms is None:
        return f"total;dur={total_ms:.1f}"
    return f"upstream;dur={upstream_ms:.1f}, app;dur={max(0.0, total_ms - upstream_ms):.1f}, total;dur={total_ms:.1f}"


def _where(exc: BaseException) -> dict[str, str]:
    """Exception class and innermost frame: enough to find the bug, no stack trace, no message."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f"{os.path.basename(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno}" if tb else "?"
    return {"exception": type(exc).__name__, "at": where}


def _access_log(request: Request, status: int, total_ms: float, exchange: _Exchange) -> None:
    settings = _config if isinstance(_config, Settings) else None
    headers = request.headers
    entry: dict[str, Any] = {
        "httpRequest": {
            "requestMethod": request.method,
            "requestUrl": request.url.path,
            "status": status,
            "latency": f"{total_ms / 1000:.4f}s",
            "userAgent": headers.get("user-agent", "")[:200],
        },
        "request_id": exchange.request_id,
        "status": status,
        "latency_ms": round(total_ms, 2),
    }
    if exchange.upstream_ms is not None:
        entry["upstream_ms"] = round(exchange.upstream_ms, 2)
    entry.update(exchange.fields)
    entry.update(trace_fields(headers, settings.google_cloud_project if settings else None))
    message = f"{request.method} {request.url.path} {status}"
    if status >= 500:
        log.error(message, extra={"fields": entry})
    elif status >= 400:
        log.warning(message, extra={"fields": entry})
    else:
        log.info(message, extra={"fields": entry})
