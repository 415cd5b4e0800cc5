"""Routing and the one request path every response leaves from.

request → route → (route handler: body, caller, validation, upstream) → response,
with the request id, CORS, timing headers and one access log line added here.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from . import __version__
from .cors import cors_headers, preflight_headers
from .errors import ApiError, Internal, MethodNotAllowed, NotFound, error_body
from .exchange import ClientGone, ErrorRenderer, EventStream, Exchange, error_response, json_response
from .gemini_native import PATH as GEMINI_PATH
from .gemini_native import gemini_native, google_error_body
from .generate import generate
from .logs import log, trace_fields
from .openai_compat import chat_completions, openai_error_body
from .runtime import current_settings, preload

__all__ = ["PATTERN_ROUTES", "ROUTES", "Route", "handle", "preload"]

Handler = Callable[[Request, Exchange], Awaitable[Response]]
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


@dataclass(frozen=True)
class Route:
    """Handlers by method for one path (or path pattern), and the error shape its callers expect."""

    methods: Mapping[str, Handler]
    render_error: ErrorRenderer = error_body


async def _healthz(request: Request, exchange: Exchange) -> Response:
    return json_response({"status": "ok", "version": __version__})


ROUTES: dict[str, Route] = {
    "/": Route({"POST": generate}),
    "/healthz": Route({"GET": _healthz, "HEAD": _healthz}),
    "/v1/chat/completions": Route({"POST": chat_completions}, render_error=openai_error_body),
}
# Routes whose path carries parameters, tried in order after the exact ones.
PATTERN_ROUTES: list[tuple[re.Pattern[str], Route]] = [
    (GEMINI_PATH, Route({"POST": gemini_native}, render_error=google_error_body)),
]


def _find(path: str) -> Route | None:
    route = ROUTES.get(path)
    if route is None:
        route = next((r for pattern, r in PATTERN_ROUTES if pattern.fullmatch(path)), None)
    return route


def _route(method: str, path: str, exchange: Exchange) -> Handler:
    route = _find(path)
    if route is None:
        raise NotFound(f"no route for {path}")
    exchange.render_error = route.render_error
    handler = route.methods.get(method)
    if handler is None:
        raise MethodNotAllowed(method, [*route.methods, "OPTIONS"])
    return handler


async def handle(request: Request) -> Response:
    """The one entry point: every response, success or error, leaves from here."""
    started = time.perf_counter()
    headers = request.headers
    exchange = Exchange(request_id=_request_id(headers.get("x-request-id")), started=started)
    settings = current_settings()
    origins = settings.allowed_origins if settings else ()
    origin = headers.get("origin")
    path: str = request.scope["path"]  # cheaper than building request.url
    try:
        if request.method == "OPTIONS":
            methods = ", ".join([*(_find(path) or ROUTES["/"]).methods, "OPTIONS"])
            response = Response(status_code=204, headers=preflight_headers(origin, origins, methods))
        else:
            response = await _route(request.method, path, exchange)(request, exchange)
    except ApiError as err:
        response = error_response(err, exchange)
    except ClientGone:
        response = Response(status_code=499)
        exchange.fields["error_type"] = "client_disconnected"
    except Exception as exc:  # noqa: BLE001 - last line of defence: never a stack trace out
        log.error("unexpected failure", extra={"fields": {"request_id": exchange.request_id, **_where(exc)}})
        response = error_response(Internal("the function failed unexpectedly; it has been logged"), exchange)
    response.headers["X-Request-Id"] = exchange.request_id
    response.headers["Cache-Control"] = "no-store"
    if request.method != "OPTIONS":
        response.headers.update(cors_headers(origin, origins))
    if isinstance(response, EventStream):
        response.headers["Server-Timing"] = _server_timing(exchange.upstream_ms, exchange.elapsed_ms(), "first")
        exchange.log_when_done = lambda status: _access_log(request, status, exchange)
    else:
        response.headers["Server-Timing"] = _server_timing(exchange.upstream_ms, exchange.elapsed_ms())
        _access_log(request, response.status_code, exchange)
    return response


def _request_id(given: str | None) -> str:
    if given and _REQUEST_ID.match(given):
        return given
    return os.urandom(16).hex()  # 32 hex characters, like uuid4().hex, at a fraction of the cost


def _server_timing(upstream_ms: float | None, total_ms: float, total_name: str = "total") -> str:
    if upstream_ms is None:
        return f"{total_name};dur={total_ms:.1f}"
    app_ms = max(0.0, total_ms - upstream_ms)
    return f"upstream;dur={upstream_ms:.1f}, app;dur={app_ms:.1f}, {total_name};dur={total_ms:.1f}"


def _where(exc: BaseException) -> dict[str, str]:
    """Exception class and innermost frame: enough to find the bug, no stack trace, no message."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f"{os.path.basename(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno}" if tb else "?"
    return {"exception": type(exc).__name__, "at": where}


def _access_log(request: Request, status: int, exchange: Exchange) -> None:
    settings = current_settings()
    total_ms = exchange.elapsed_ms()
    headers = request.headers
    entry: dict[str, Any] = {
        "httpRequest": {
            "requestMethod": request.method,
            "requestUrl": request.scope["path"],
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
    message = f"{request.method} {request.scope['path']} {status}"
    if status >= 500:
        log.error(message, extra={"fields": entry})
    elif status >= 400:
        log.warning(message, extra={"fields": entry})
    else:
        log.info(message, extra={"fields": entry})
