"""Optional traces (docs/API.md §11): one span per request, one per upstream attempt.

`TRACES` chooses: `off` (the default), `cloud_trace` (exported to Cloud
Trace) or `console` (one JSON line per finished span on stdout, for local
development and the tests). Off, nothing of OpenTelemetry is imported and
each hook below is one comparison or one context-variable read: the cold
start and the request path stay as they are.

The hooks: `app.handle` opens the request's span (`request_span`, which
continues the caller's `traceparent` / `X-Cloud-Trace-Context`), the request
ends it as it settles (`RequestContext.settle`, from the access line's
fields), and the upstream client opens one span per attempt under it
(`upstream_attempt`). What the spans hold: docs/API.md, "Traces".
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the types only: at run time, with traces off, this module is a few names
    from typing import Protocol

    import httpx
    from starlette.requests import Request

    from ..access_log import AccessLog
    from ..settings import Settings
    from ..upstream.failures import Failure

    class AttemptSpan(Protocol):
        def settle(self, outcome: BaseException | Failure | httpx.Response) -> None:
            """The attempt is over: its answer, the failure it was classified as, or what was raised."""

    class RequestSpan(Protocol):
        def attempt(self, method: str, url: httpx.URL, number: int, retry_of: Failure | None) -> AttemptSpan:
            """A child span for upstream attempt `number` (1-based), retrying after `retry_of`."""

        def end(self, status: int, log: AccessLog, max_tokens: int | None) -> None:
            """The request settled with `status`; its attributes come from the access line's fields."""

    class _Tracer(Protocol):
        def start_request(self, request: Request, route: str | None) -> RequestSpan: ...


__all__ = ["preload", "request_span", "upstream_attempt"]  # and, for type checking, AttemptSpan and RequestSpan

_current: ContextVar[RequestSpan | None] = ContextVar("gemini_gateway_request_span", default=None)
_tracer: _Tracer | None = None


def preload(mode: str) -> None:
    """Import what `mode` uses at start, before the server forks; nothing is built (no thread, no channel)."""
    if mode != "off":
        from . import export, spans  # noqa: F401

        if mode == "cloud_trace":
            export.preload_cloud_trace()


def request_span(settings: Settings | None, request: Request, route: str | None) -> RequestSpan | None:
    """The request's span, a child of the caller's trace if it sent one; None when traces are off.

    `route` is the matched route's path template (`http.route`), None when no route matched.
    """
    if settings is None or settings.traces == "off":
        return None
    span = _tracer_for(settings).start_request(request, route)
    _current.set(span)  # this request's task only: the upstream attempts find their parent here
    return span


def upstream_attempt(method: str, url: httpx.URL, number: int, retry_of: Failure | None) -> AttemptSpan:
    """A span for one upstream attempt under the current request's span; a no-op when traces are off."""
    parent = _current.get()
    return _NO_SPAN if parent is None else parent.attempt(method, url, number, retry_of)


class _NoSpan:
    __slots__ = ()

    def settle(self, outcome: BaseException | Failure | httpx.Response) -> None:
        pass


_NO_SPAN = _NoSpan()


def _tracer_for(settings: Settings) -> _Tracer:
    """Built on the first traced request, inside the worker (exporter threads and channels never cross a fork)."""
    global _tracer
    if _tracer is None:
        from .spans import Tracer

        _tracer = Tracer(settings.traces, settings.google_cloud_project)
    return _tracer
