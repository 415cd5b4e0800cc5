"""The one request path every response leaves from.

request → route (routes.ROUTES) → handler (which calls the intake, then the
upstream) → response, with the request id, CORS, timing headers and one
access-log line added here.
"""

from __future__ import annotations

import asyncio
import os
import re
import time

from starlette.requests import Request
from starlette.responses import Response

from .cors import cors_headers, preflight_headers
from .errors import ApiError, Internal, MethodNotAllowed, NotFound, Unavailable
from .exchange import Exchange
from .logs import log
from .responses import ClientGone, error_response
from .routes import ROUTES
from .routing import Handler, Route, find
from .runtime import current_settings, preload
from .shutdown import draining
from .streaming import EventStream

__all__ = ["handle", "preload"]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_GET_ROOT = (
    'this is an API: POST a JSON body such as {"prompt": "Hi"} (docs/API.md); '
    "`make run` also serves a demo chat page on http://localhost:8081"
)


async def handle(request: Request) -> Response:
    """The one entry point: every response, success or error, leaves from here."""
    started = time.perf_counter()
    headers = request.headers
    settings = current_settings()
    path: str = request.scope["path"]  # cheaper than building request.url
    exchange = Exchange(
        request_id=_request_id(headers.get("x-request-id")),
        started=started,
        method=request.method,
        path=path,
        headers=headers,
        project=settings.google_cloud_project if settings else None,
        log_payloads=settings.log_payloads if settings else False,
    )
    origins = settings.allowed_origins if settings else ()
    origin = headers.get("origin")
    found = find(ROUTES, path)
    try:
        if request.method == "OPTIONS":
            route = found[0] if found else ROUTES[0]
            response = Response(status_code=204, headers=preflight_headers(origin, origins, ", ".join(route.allow)))
        else:
            if found is None:
                raise NotFound(f"no route for {path}")
            route, params = found
            exchange.render_error = route.render_error
            request.scope["path_params"] = params
            response = await _run(_handler(route, request.method), request, exchange)
    except ApiError as err:
        response = error_response(err, exchange)
    except ClientGone:
        response = Response(status_code=499)
        exchange.record_gone()
    except Exception as exc:  # noqa: BLE001 - last line of defence: never a stack trace out
        exchange.note(**_where(exc))
        log.error("unexpected failure", extra={"fields": {"request_id": exchange.request_id, **_where(exc)}})
        response = error_response(Internal("the function failed unexpectedly; it has been logged"), exchange)
    response.headers["X-Request-Id"] = exchange.request_id
    response.headers["Cache-Control"] = "no-store"
    if request.method != "OPTIONS":
        response.headers.update(cors_headers(origin, origins))
    if isinstance(response, EventStream):  # its tokens are charged and its access line written when it ends
        response.headers["Server-Timing"] = _server_timing(exchange.upstream_ms, exchange.elapsed_ms(), "first")
    else:
        await exchange.settle()
        response.headers["Server-Timing"] = _server_timing(exchange.upstream_ms, exchange.elapsed_ms())
    if exchange.ticket is not None:
        response.headers["X-Budget-Remaining"] = str(exchange.ticket.remaining)
    if not isinstance(response, EventStream):
        exchange.log_access(response.status_code)
    return response


async def _run(handler: Handler, request: Request, exchange: Exchange) -> Response:
    """The handler, ended with 503 if it is still running when a shutdown's grace period is over."""
    with draining.tracked():
        try:
            return await handler(request, exchange)
        except asyncio.CancelledError as exc:
            if not draining.ended(exc):
                raise
    raise Unavailable(draining.reason)


def _handler(route: Route, method: str) -> Handler:
    handler = route.handler(method)
    if handler is None and method == "GET" and route.path == "/":
        raise MethodNotAllowed(method, route.allow, hint=_GET_ROOT)
    if handler is None:
        raise MethodNotAllowed(method, route.allow)
    return handler


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
