"""`POST /`: our request in, Gemini through the gateway, our answer out (JSON or SSE)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from .errors import ApiError, InvalidRequest, UpstreamError, error_body
from .exchange import ClientGone, Exchange, cancel_if_gone, json_response
from .gemini_request import gateway_headers, to_gemini_body
from .models import GenerateRequest
from .normalize import Answer, MalformedAnswer, StreamTotals, Usage, parse_json_text, read_answer
from .payload import check_content_type, check_declared_length, parse_json, read_limited, validate
from .runtime import Runtime, get_runtime
from .sse import encode_event
from .streaming import records_with_deltas, stream_response
from .upstream import UpstreamAnswer, UpstreamStream

__all__ = [
    "complete_upstream",
    "generate",
    "guardrail_answer",
    "open_upstream_stream",
    "read_body",
    "result_body",
    "wants_event_stream",
]


async def read_body(request: Request, runtime: Runtime) -> bytes:
    """The raw body, refused past MAX_REQUEST_BYTES before or while it is read."""
    limit = runtime.settings.max_request_bytes
    check_declared_length(request.headers.get("content-length"), limit)
    try:
        return await read_limited(request.stream(), limit)
    except ClientDisconnect:
        raise ClientGone() from None


def wants_event_stream(accept: str | None) -> bool:
    return accept is not None and any(p.split(";")[0].strip().lower() == "text/event-stream" for p in accept.split(","))


async def generate(request: Request, exchange: Exchange) -> Response:
    runtime = get_runtime()
    settings = runtime.settings
    headers = request.headers
    body = await read_body(request, runtime)
    caller = await runtime.admit(headers, body)
    exchange.fields["caller"] = caller.identity
    check_content_type(headers.get("content-type"))
    req = validate(GenerateRequest, parse_json(body))
    model = req.model or settings.default_model
    exchange.fields["model"] = model
    if model not in settings.allowed_models:
        raise InvalidRequest.for_field("model", f"must be one of: {', '.join(settings.allowed_models)}")
    if settings.log_payloads:
        exchange.fields["prompt"] = (req.prompt or _last_user_text(req))[:2000]
    if req.stream or wants_event_stream(headers.get("accept")):
        meta, stream = await open_upstream_stream(request, runtime, model, req, caller.identity, exchange)
        return _event_stream(req, model, meta, stream, exchange, runtime)
    answer, meta = await complete_upstream(request, runtime, model, req, caller.identity, exchange)
    result = result_body(req, model, answer, meta, exchange)
    if settings.log_payloads:
        exchange.fields["answer"] = result["text"][:2000]
    return json_response(result)


def _upstream_call(req: GenerateRequest, caller: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(to_gemini_body(req), separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    return body, gateway_headers(req, caller=caller)


async def complete_upstream(
    request: Request, runtime: Runtime, model: str, req: GenerateRequest, caller: str, exchange: Exchange
) -> tuple[Answer, UpstreamAnswer]:
    """One whole answer for `req` (cancelled if the caller leaves), read into our terms."""
    body, headers = _upstream_call(req, caller)
    meta = await cancel_if_gone(request, runtime.gateway.generate(model, body, headers, exchange.started))
    if meta.blocked is not None:
        return guardrail_answer(meta), meta
    try:
        return read_answer(meta.body), meta
    except MalformedAnswer as exc:
        raise UpstreamError(f"the upstream answer was not a usable Gemini response: {exc}") from None


async def open_upstream_stream(
    request: Request, runtime: Runtime, model: str, req: GenerateRequest, caller: str, exchange: Exchange
) -> tuple[UpstreamAnswer, UpstreamStream | None]:
    """The upstream stream for `req`, opened up to its first record (cancelled if the caller leaves)."""
    exchange.fields["stream"] = True
    body, headers = _upstream_call(req, caller)
    return await cancel_if_gone(request, runtime.gateway.open_stream(model, body, headers, exchange.started))


def result_body(
    req: GenerateRequest, model: str, answer: Answer, meta: UpstreamAnswer, exchange: Exchange
) -> dict[str, Any]:
    """The contract's section 4 object."""
    exchange.upstream_ms = meta.upstream_ms
    finish = answer.finish_reason or "other"
    usage = (answer.usage or Usage()).as_dict()
    exchange.fields.update(finish_reason=finish, attempts=meta.attempts, cache_status=meta.cache_status, **usage)
    result: dict[str, Any] = {
        "id": answer.response_id,
        "request_id": exchange.request_id,
        "model": model,
        "model_version": answer.model_version,
        "text": answer.text,
    }
    if req.wants_json:
        ok, value = parse_json_text(answer.text)
        if ok:
            result["json"] = value
    result.update(
        finish_reason=finish,
        blocked_reason=answer.blocked_reason,
        usage=usage,
        gateway={"cache_status": meta.cache_status, "log_id": meta.log_id, "attempts": meta.attempts},
        timing_ms={"upstream": round(meta.upstream_ms), "total": round(exchange.elapsed_ms())},
    )
    return result


def guardrail_answer(meta: UpstreamAnswer) -> Answer:
    reason = meta.blocked.reason if meta.blocked else None
    blocked = "GATEWAY_GUARDRAIL_RESPONSE" if reason == "2017" else "GATEWAY_GUARDRAIL_PROMPT"
    return Answer(finish_reason="blocked", blocked_reason=blocked)


def _event_stream(
    req: GenerateRequest,
    model: str,
    meta: UpstreamAnswer,
    stream: UpstreamStream | None,
    exchange: Exchange,
    runtime: Runtime,
) -> Response:
    """`event: delta` per text piece as it arrives, then `done` (or `error`)."""

    async def events() -> AsyncIterator[bytes]:
        totals = StreamTotals()
        if stream is None:  # a gateway guardrail refused it before any record
            totals.add(guardrail_answer(meta))
        else:
            async for _, delta in records_with_deltas(stream, totals):
                if delta:
                    yield encode_event("delta", {"text": delta})
        result = result_body(req, model, totals.result(), meta, exchange)
        if runtime.settings.log_payloads:
            exchange.fields["answer"] = result["text"][:2000]
        yield encode_event("done", result)

    def error_event(err: ApiError) -> bytes:
        return encode_event("error", error_body(err, exchange.request_id))

    return stream_response(events(), exchange, stream, error_event)


def _last_user_text(req: GenerateRequest) -> str:
    for message in reversed(req.messages or []):
        if message.role == "user":
            return " ".join(p.text for p in message.content if p.text)
    return ""
