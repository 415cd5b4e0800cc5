"""`POST /`: our request in, Gemini through the gateway, our answer out (JSON or SSE)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from starlette.responses import Response

from ..chat.call import (
    Call,
    complete_upstream,
    guardrail_answer,
    open_upstream_stream,
    record_answer,
    result_body,
    tool_calls,
)
from ..chat.models import GenerateRequest, GenerateResponse, StreamDelta, ToolCallOut
from ..context import RequestContext
from ..errors import ApiError, ErrorBody, error_body
from ..intake import GenerationIntake, admit
from ..jobs.admission import ServerCallerOptions
from ..jobs.models import openapi_extra
from ..normalize import StreamTotals
from ..responses import json_response
from ..routing import Endpoint, OperationDoc
from ..streaming import records_with_deltas, stream_response
from ..upstream import UpstreamAnswer, UpstreamStream
from ..upstream.sse import encode_event

__all__ = ["ENDPOINT", "generate", "wants_event_stream"]


def _last_user_text(req: GenerateRequest) -> str:
    if req.prompt is not None:
        return req.prompt
    for message in reversed(req.messages or []):
        if message.role == "user":
            return " ".join(p.text for p in message.content or () if p.text)
    return ""


def wants_event_stream(accept: str | None) -> bool:
    return accept is not None and any(p.split(";")[0].strip().lower() == "text/event-stream" for p in accept.split(","))


def _streamed(req: GenerateRequest, headers: Mapping[str, str]) -> bool:
    return req.stream or wants_event_stream(headers.get("accept"))


INTAKE = GenerationIntake(
    GenerateRequest,
    lambda req, _: req.model,
    _last_user_text,
    prepare=Call.of,
    freeform=GenerateRequest.freeform,
    server_callers=ServerCallerOptions(idempotent=True, respond_async=True, streamed=_streamed),
)


async def generate(ctx: RequestContext) -> Response:
    _, call = await admit(ctx, INTAKE)
    if _streamed(call.req, ctx.request.headers):
        meta, stream = await open_upstream_stream(ctx, call)
        return _event_stream(call, meta, stream, ctx)
    answer, meta = await complete_upstream(ctx, call)
    record_answer(ctx, answer, meta)
    return json_response(result_body(call, answer, meta, ctx.request_id, ctx.elapsed_ms()))


def _event_stream(call: Call, meta: UpstreamAnswer, stream: UpstreamStream | None, ctx: RequestContext) -> Response:
    """`event: delta` per text piece as it arrives, `tool_call` per function call, then `done` (or `error`)."""

    async def events() -> AsyncIterator[bytes]:
        totals = StreamTotals()
        if stream is None:  # a gateway guardrail refused it before any record
            totals.add(guardrail_answer(meta))
        else:
            async for _, chunk in records_with_deltas(stream, totals, ctx):
                if chunk.text:
                    yield encode_event("delta", {"text": chunk.text})
                for tool_call in tool_calls(call, chunk.calls):
                    yield encode_event("tool_call", tool_call)
        answer = totals.result()
        record_answer(ctx, answer, meta)
        yield encode_event("done", result_body(call, answer, meta, ctx.request_id, ctx.elapsed_ms()))

    def error_event(err: ApiError) -> bytes:
        return encode_event("error", error_body(err, ctx.request_id))

    return stream_response(events(), ctx, meta, stream, error_event)


# --------------------------------------------------------------------------- documentation

ENDPOINT = Endpoint(
    generate,
    OperationDoc(
        summary="Generate an answer (JSON, or a stream of server-sent events)",
        description="Exactly one of `prompt` or `messages`; unknown fields are refused (docs/API.md).",
        request=GenerateRequest,
        response=GenerateResponse,
        stream_events={"delta": StreamDelta, "tool_call": ToolCallOut, "done": GenerateResponse, "error": ErrorBody},
        stream_description=(
            'Sent when the body has `"stream": true` or the request has `Accept: text/event-stream`. '
            "Server-sent events, forwarded as the upstream produces them: `event: delta` (data: StreamDelta) per "
            "text piece, `event: tool_call` (data: ToolCallOut) per function call, then `event: done` (data: GenerateResponse, text = all deltas joined); a failure after "
            "the stream started ends it with `event: error` (data: ErrorBody)."
        ),
        tags=("generate",),
        extra=openapi_extra(respond_async=True),
    ),
)
