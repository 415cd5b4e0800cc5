"""The spans themselves, named as OpenTelemetry's HTTP and GenAI semantic conventions name things.

Imported only when `TRACES` is not `off`. A request's span is a SERVER span
(`POST /v1/chat/completions`); each upstream attempt is a CLIENT span under
it (`generate_content gemini-3.8-flash`). The request span's attributes are
read from the access line's fields when it settles, through an allow-list:
nothing of the prompt, the answer, a key or the caller's full identity
(a Firebase uid, an App Check app id) ever goes into a span. The attribute
list: docs/API.md, "Traces".
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

import httpx
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, set_span_in_context
from starlette.requests import Request

from .. import __version__
from ..access_log import AccessLog
from ..errors import ApiError
from ..logs import log
from ..upstream.failures import Failure
from ..upstream.metadata import gateway_header
from .export import PROPAGATOR, make_provider

__all__ = ["OPERATIONS", "PROVIDER", "Tracer"]

PROVIDER = "gcp.gemini"  # gen_ai.provider.name for Gemini's generativelanguage.googleapis.com API (AI Studio)

# gen_ai.operation.name of each route that generates, by (method, http.route).
OPERATIONS: Mapping[tuple[str, str], str] = {
    ("POST", "/"): "chat",
    ("POST", "/v1/chat/completions"): "chat",
    ("POST", "/{version}/models/{model}:generateContent"): "generate_content",
    ("POST", "/{version}/models/{model}:streamGenerateContent"): "generate_content",
    ("POST", "/{version}/models/{model}:countTokens"): "count_tokens",
    ("POST", "/{version}/interactions"): "generate_content",  # invoke_agent once the request names an agent
    ("GET", "/{version}/interactions/{id}"): "fetch_response",
}
_UPSTREAM_ACTIONS = {
    "generateContent": "generate_content",
    "streamGenerateContent": "generate_content",
    "countTokens": "count_tokens",
}
_UPSTREAM_MODEL = re.compile(r"/models/([^/:]{1,128}):(\w+)$")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})
_TRACE_HEADERS = ("traceparent", "x-cloud-trace-context")
_MAX_TRACE_HEADER = 256  # the propagators' patterns run on at most this much of a header
_MAX_PATH = 2048  # as on the access line
_MAX_USER_AGENT = 200

# Access-line fields that become attributes of the request span, under these names.
_FROM_ACCESS_LINE = {
    "model": "gen_ai.request.model",
    "model_version": "gen_ai.response.model",
    "response_id": "gen_ai.response.id",
    "input_tokens": "gen_ai.usage.input_tokens",
    "thinking_tokens": "gen_ai.usage.reasoning.output_tokens",
    "cached_tokens": "gen_ai.usage.cache_read.input_tokens",
    "agent": "gen_ai.agent.name",
    "route": "gemini_gateway.route",
    "model_alias": "gemini_gateway.model_alias",
    "key": "gemini_gateway.caller.key",  # the client key's name, never the key
    "attempts": "gemini_gateway.attempts",
    "cache_status": "gemini_gateway.cache_status",
    "total_tokens": "gemini_gateway.usage.total_tokens",
    "budget_spent": "gemini_gateway.budget_spent",
    "upstream_status": "gemini_gateway.upstream.status",
    "upstream_reason": "gemini_gateway.upstream.reason",
    "stream_error": "gemini_gateway.stream_error",
}


class Tracer:
    """The process's tracer provider and the one tracer the function uses."""

    def __init__(self, mode: str, project: str | None) -> None:
        self._provider: TracerProvider = make_provider(mode, project)
        self._tracer = self._provider.get_tracer("gemini_gateway", __version__)

    def start_request(self, request: Request, route: str | None) -> RequestSpan:
        headers = request.headers
        carrier = {name: headers[name][:_MAX_TRACE_HEADER] for name in _TRACE_HEADERS if name in headers}
        parent = PROPAGATOR.extract(carrier) if carrier else None
        method = request.method if request.method in _METHODS else "_OTHER"
        operation = OPERATIONS.get((request.method, route)) if route else None
        attributes = _present(
            {
                "http.request.method": method,
                "http.request.method_original": request.method[:32] if method == "_OTHER" else None,
                "http.route": route,
                "url.path": request.scope["path"][:_MAX_PATH],
                "url.scheme": request.scope.get("scheme"),
                "network.protocol.version": request.scope.get("http_version"),
                "user_agent.original": headers.get("user-agent", "")[:_MAX_USER_AGENT] or None,
                "gen_ai.operation.name": operation,
                "gen_ai.provider.name": PROVIDER if operation else None,
            }
        )
        name = f"{method} {route}" if route else method
        span = self._tracer.start_span(name, context=parent, kind=SpanKind.SERVER, attributes=attributes)
        return RequestSpan(self, span, operation)

    def start_attempt(self, parent: Context, name: str, attributes: dict[str, Any]) -> Span:
        return self._tracer.start_span(name, context=parent, kind=SpanKind.CLIENT, attributes=attributes)


class RequestSpan:
    __slots__ = ("_context", "_operation", "_span", "_tracer")

    def __init__(self, tracer: Tracer, span: Span, operation: str | None) -> None:
        self._tracer, self._span, self._operation = tracer, span, operation
        self._context = set_span_in_context(span)

    def attempt(self, method: str, url: httpx.URL, number: int, retry_of: Failure | None) -> AttemptSpan:
        found = _UPSTREAM_MODEL.search(url.path)
        model = found.group(1) if found else None
        operation = _UPSTREAM_ACTIONS.get(found.group(2), self._operation) if found else self._operation
        attributes = _present(
            {
                "http.request.method": method,
                "url.full": f"{url.scheme}://{url.netloc.decode()}{url.raw_path.decode()}",  # no userinfo
                "server.address": url.host,
                "server.port": url.port or (443 if url.scheme == "https" else 80),
                "http.request.resend_count": number - 1 if number > 1 else None,
                "gen_ai.operation.name": operation,
                "gen_ai.provider.name": PROVIDER if operation else None,
                "gen_ai.request.model": model,
                "gemini_gateway.attempt": number,
                "gemini_gateway.retry_reason": _retry_reason(retry_of),
            }
        )
        name = f"{operation} {model}" if operation and model else method
        return AttemptSpan(self._tracer.start_attempt(self._context, name, attributes))

    def end(self, status: int, log_line: AccessLog, max_tokens: int | None) -> None:
        try:
            self._span.set_attributes(_request_attributes(status, log_line, max_tokens, self._operation))
            if status >= 500:
                self._span.set_status(Status(StatusCode.ERROR, str(log_line.fields.get("error_type", status))))
            self._span.end()
        except Exception:  # noqa: BLE001 - a trace must never break a request
            log.error("the request's span could not be ended", extra={"fields": {"request_id": log_line.request_id}})


class AttemptSpan:
    __slots__ = ("_span",)

    def __init__(self, span: Span) -> None:
        self._span = span

    def settle(self, outcome: BaseException | Failure | httpx.Response) -> None:
        span = self._span
        try:
            if isinstance(outcome, httpx.Response):
                status = outcome.status_code
                span.set_attributes(
                    _present(
                        {
                            "http.response.status_code": status,
                            "gemini_gateway.cache_status": gateway_header(outcome, "cf-aig-cache-status"),
                            "gemini_gateway.gateway_log_id": gateway_header(outcome, "cf-aig-log-id"),
                        }
                    )
                )
                if status >= 400:
                    span.set_attribute("error.type", str(status))
                    span.set_status(Status(StatusCode.ERROR))
            else:
                error_type, description = _error(outcome)
                span.set_attribute("error.type", error_type)
                span.set_status(Status(StatusCode.ERROR, description))
            span.end()
        except Exception:  # noqa: BLE001 - a trace must never break a request
            log.error("an upstream attempt's span could not be ended")


def _request_attributes(
    status: int, log_line: AccessLog, max_tokens: int | None, operation: str | None
) -> dict[str, Any]:
    fields = log_line.fields
    attributes: dict[str, Any] = {
        "http.response.status_code": status,
        "gemini_gateway.request_id": log_line.request_id,
        "gemini_gateway.upstream_ms": round(log_line.upstream_ms, 2) if log_line.upstream_ms is not None else None,
    }
    for field, name in _FROM_ACCESS_LINE.items():
        attributes[name] = _value(fields.get(field))
    error_type = fields.get("error_type")
    if isinstance(error_type, str):
        attributes["error.type"] = error_type
    elif status >= 500:
        attributes["error.type"] = str(status)
    caller = fields.get("caller")
    if isinstance(caller, str):  # the kind only (uid, app, webhook, anonymous or the key's name), as the metrics
        attributes["gemini_gateway.caller.kind"] = caller.partition(":")[0]
    attributes["gemini_gateway.caller.layers"] = _value(fields.get("layers"))
    if operation is not None:
        if fields.get("agent") and operation == "generate_content":
            attributes["gen_ai.operation.name"] = "invoke_agent"
        attributes["gen_ai.request.max_tokens"] = max_tokens
        attributes["gen_ai.request.stream"] = fields.get("stream") is True
        finish = fields.get("finish_reason")
        attributes["gen_ai.response.finish_reasons"] = (finish,) if isinstance(finish, str) else None
        output, thinking = fields.get("output_tokens"), fields.get("thinking_tokens")
        if isinstance(output, int):  # the conventions count reasoning tokens as output; Gemini does not
            attributes["gen_ai.usage.output_tokens"] = output + (thinking if isinstance(thinking, int) else 0)
    return _present(attributes)


def _value(value: Any) -> Any:
    """An attribute value: a string, number or boolean, or a list of strings; anything else is left out."""
    if isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return None


def _present(attributes: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in attributes.items() if value is not None}


def _retry_reason(failure: Failure | None) -> str | None:
    """Why the attempt before this one was retried: `retryable (HTTP 503)`, `key_rejected (HTTP 400)`, ..."""
    if failure is None:
        return None
    return f"{failure.kind.value} ({f'HTTP {failure.status}' if failure.status else 'connection failed'})"


def _error(outcome: BaseException | Failure) -> tuple[str, str | None]:
    """`error.type` and a description for an attempt that got no answer; never a message nobody wrote."""
    if isinstance(outcome, Failure):  # the gateway could not be reached: the message names the exception class
        return "connection_failed", outcome.message
    if isinstance(outcome, asyncio.CancelledError):
        return "cancelled", "the caller left or the function is shutting down"
    if isinstance(outcome, ApiError):
        return outcome.type, outcome.message
    return type(outcome).__name__, None
