"""The one request path every response leaves from.

request → its `RequestContext` → route (routes.ROUTES) → endpoint (which
calls the intake, then the upstream) → response, with the request id, CORS
and timing headers added here, and the request settled (charge, then the
access line) here for a JSON answer or by the stream when it ends.
"""

from __future__ import annotations

import asyncio
import os
import re
import time

from starlette.requests import Request
from starlette.responses import Response

from . import tracing
from .access_log import AccessLog
from .context import RequestContext
from .cors import cors_headers, preflight_headers
from .errors import ApiError, Internal, MethodNotAllowed, NotFound, Unavailable
from .jobs.seams import Answered, JobRun, open_front_door
from .logs import exception_place, log
from .responses import ClientGone, error_response
from .routes import ROUTES
from .routing import Endpoint, Route, find
from .runtime import current_settings, preload
from .shutdown import draining

__all__ = ["handle", "preload"]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_GET_ROOT = (
    'this is an API: POST a JSON body such as {"prompt": "Hi"} (docs/API.md); '
    "`make run` also serves a demo chat page on http://localhost:8081"
)


async def handle(request: Request, *, job: JobRun | None = None) -> Response:
    """The one entry point: every response, success or error, leaves from here (a job's run too: `job`)."""
    started = time.perf_counter()
    headers = request.headers
    settings = current_settings()
    path: str = request.scope["path"]  # cheaper than building request.url
    log_line = AccessLog(
        request_id=_request_id(headers.get("x-request-id")),
        started=started,
        method=request.method,
        path=path,
        headers=headers,
        project=settings.google_cloud_project if settings else None,
        log_payloads=settings.log_payloads if settings else False,
    )
    ctx = RequestContext(request, log_line, job=job)
    if job is not None:
        log_line.note(job_id=job.id, job="run")
    origins = settings.allowed_origins if settings else ()
    origin = headers.get("origin")
    found = find(ROUTES, path)
    ctx.span = tracing.request_span(settings, request, found[0].path if found else None)
    try:
        if request.method == "OPTIONS":
            route = found[0] if found else ROUTES[0]
            response = Response(status_code=204, headers=preflight_headers(origin, origins, ", ".join(route.allow)))
        else:
            if found is None:
                raise NotFound(f"no route for {path}")
            route, ctx.params = found
            ctx.render_error = route.render_error
            log_line.record_route(route.name)
            response = await _run(_endpoint(route, request.method), ctx)
    except Answered as answered:  # by the intake: a replayed Idempotency-Key answer, a job's 202
        response = answered.response
    except ApiError as err:
        response = error_response(err, ctx)
    except ClientGone:
        response = Response(status_code=499)
        log_line.record_gone()
    except Exception as exc:  # noqa: BLE001 - last line of defence: never a stack trace out
        place = exception_place(exc)
        log_line.note(**place)
        log.error("unexpected failure", extra={"fields": {"request_id": ctx.request_id, **place}})
        response = error_response(Internal("the function failed unexpectedly; it has been logged"), ctx)
    response.headers["X-Request-Id"] = ctx.request_id
    response.headers["Cache-Control"] = "no-store"
    if request.method != "OPTIONS":
        response.headers.update(cors_headers(origin, origins))
    for hook in ctx.on_answer:
        await hook(response)
    if ctx.deferred:  # a stream: charged and logged when it ends
        response.headers["Server-Timing"] = _server_timing(log_line.upstream_ms, ctx.elapsed_ms(), "first")
    else:
        await ctx.settle(response.status_code)
        response.headers["Server-Timing"] = _server_timing(log_line.upstream_ms, ctx.elapsed_ms())
    if ctx.ticket is not None:
        response.headers["X-Budget-Remaining"] = str(ctx.ticket.remaining)
    return response


open_front_door(handle)  # a job runs through this same path (jobs/runner.py)


async def _run(endpoint: Endpoint, ctx: RequestContext) -> Response:
    """The handler, ended with 503 if it is still running when a shutdown's grace period is over."""
    with draining.tracked():
        try:
            return await endpoint.handler(ctx)
        except asyncio.CancelledError as exc:
            if not draining.ended(exc):
                raise
    raise Unavailable(draining.reason)


def _endpoint(route: Route, method: str) -> Endpoint:
    endpoint = route.endpoint(method)
    if endpoint is None and method == "GET" and route.path == "/":
        raise MethodNotAllowed(method, route.allow, hint=_GET_ROOT)
    if endpoint is None:
        raise MethodNotAllowed(method, route.allow)
    return endpoint


def _request_id(given: str | None) -> str:
    if given and _REQUEST_ID.match(given):
        return given
    return os.urandom(16).hex()  # 32 hex characters, like uuid4().hex, at a fraction of the cost


def _server_timing(upstream_ms: float | None, total_ms: float, total_name: str = "total") -> str:
    if upstream_ms is None:
        return f"{total_name};dur={total_ms:.1f}"
    app_ms = max(0.0, total_ms - upstream_ms)
    return f"upstream;dur={upstream_ms:.1f}, app;dur={app_ms:.1f}, {total_name};dur={total_ms:.1f}"
