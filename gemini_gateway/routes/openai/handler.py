"""`POST /v1/chat/completions`: the OpenAI chat API on top of the same path as `POST /`.

The OpenAI request is validated by its own strict models (unsupported fields
refused by name, with the reason), then converted into our `GenerateRequest`,
so there is one mapping to Gemini, one upstream call and one answer builder
(`chat/`). Answers are `chat.completion` objects or `chat.completion.chunk`
SSE ending in `data: [DONE]`; errors are OpenAI's shape with the function's
statuses. Every mapping decision is in docs/API.md ("OpenAI-compatible route").
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace

from starlette.responses import Response

from ...chat.call import (
    Call,
    complete_upstream,
    guardrail_answer,
    open_upstream_stream,
    result_body,
    tool_calls,
)
from ...context import RequestContext
from ...errors import ApiError, InvalidRequest
from ...intake import GenerationIntake, admit
from ...jobs.admission import ServerCallerOptions
from ...jobs.models import openapi_extra
from ...normalize import StreamTotals
from ...responses import json_response
from ...routing import Endpoint, OperationDoc
from ...streaming import records_with_deltas, stream_response
from ...upstream.client import UpstreamAnswer
from ...upstream.stream import UpstreamStream
from .answers import (
    DONE,
    ChatCompletion,
    ChatCompletionChunk,
    Chunks,
    OpenAIErrorBody,
    completion_body,
    data_line,
    finish_reason_of,
    openai_tool_calls,
    refusal,
)
from .convert import bare_model, convert
from .errors import openai_error_body
from .models import ChatCompletionRequest

__all__ = ["ENDPOINT", "chat_completions", "openai_error_body"]


def _last_user_text(chat: ChatCompletionRequest) -> str:
    for message in reversed(chat.messages):
        if message.role == "user":
            return message.text()
    return ""


def _prepare(ctx: RequestContext, chat: ChatCompletionRequest) -> Call:
    """The request in `POST /` terms, and its upstream body (a tool-call id handed out elsewhere fails here)."""
    req, in_openai_terms = convert(chat, ctx.model)
    try:
        return replace(Call.of(ctx, req), thinking_field="reasoning_effort")
    except InvalidRequest as exc:
        raise in_openai_terms(exc) from None


INTAKE = GenerationIntake(
    ChatCompletionRequest,
    lambda chat, _: bare_model(chat.model),
    _last_user_text,
    _prepare,
    ChatCompletionRequest.freeform,
    server_callers=ServerCallerOptions(idempotent=True, streamed=lambda chat, _: bool(chat.stream)),
)


async def chat_completions(ctx: RequestContext) -> Response:
    chat, call = await admit(ctx, INTAKE)
    created = int(time.time())
    if call.req.stream:
        meta, stream = await open_upstream_stream(ctx, call)
        return _chunk_stream(chat, call, created, meta, stream, ctx)
    answer, meta = await complete_upstream(ctx, call)
    ctx.record_answer(answer, meta)
    result = result_body(call, answer, meta, ctx.request_id, ctx.elapsed_ms())
    return json_response(completion_body(result, created))


def _chunk_stream(
    chat: ChatCompletionRequest,
    call: Call,
    created: int,
    meta: UpstreamAnswer,
    stream: UpstreamStream | None,
    ctx: RequestContext,
) -> Response:
    """Role chunk, a chunk per text piece and per tool call as they arrive, the finish chunk, usage, `[DONE]`."""
    encode = Chunks(ctx.request_id, call.model, created, chat.include_usage)

    async def chunks() -> AsyncIterator[bytes]:
        totals = StreamTotals(keep=False)  # every piece is forwarded as it comes; the end needs only the totals
        yield encode.delta({"role": "assistant", "content": ""})
        if stream is None:  # a gateway guardrail refused it before any record
            totals.add(guardrail_answer(meta))
        else:
            async for _, chunk in records_with_deltas(stream, totals, ctx):
                if chunk.text:
                    yield encode.delta({"content": chunk.text})
                if chunk.calls:
                    calls = openai_tool_calls(tool_calls(call, chunk.calls), indexed=True)
                    for item in calls:
                        item["index"] += totals.calls_seen - len(chunk.calls)
                    yield encode.delta({"tool_calls": calls})
        answer = totals.result()
        ctx.record_answer(answer, meta)
        result = result_body(call, answer, meta, ctx.request_id, ctx.elapsed_ms())
        refused = refusal(result)
        if refused is not None:
            yield encode.delta({"refusal": refused})
        yield encode.delta({}, finish_reason_of(result["finish_reason"]))
        if chat.include_usage:
            yield encode.usage(result["usage"])
        yield DONE

    def error_then_done(err: ApiError) -> bytes:
        return data_line(openai_error_body(err, ctx.request_id)) + DONE

    return stream_response(chunks(), ctx, meta, stream, error_then_done)


DOC = OperationDoc(
    summary="OpenAI-compatible chat completions",
    description="The OpenAI chat request in, `chat.completion` out (docs/API.md, OpenAI-compatible route).",
    request=ChatCompletionRequest,
    response=ChatCompletion,
    stream_description=(
        'With `"stream": true`: `chat.completion.chunk` objects as `data:` lines, ending with `data: [DONE]`.'
    ),
    stream_events={"message": ChatCompletionChunk},
    error=OpenAIErrorBody,
    tags=("openai",),
    extra=openapi_extra(respond_async=False),
)
ENDPOINT = Endpoint(chat_completions, DOC)
