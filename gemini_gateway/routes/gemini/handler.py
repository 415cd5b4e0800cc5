"""Gemini-native route: the official Gemini SDKs with the function as base URL.

The caller's `x-goog-api-key` is checked as a client key (the intake) and
never forwarded: the upstream client sends the real key. The request is
validated by `GeminiRequest` (or `CountTokensRequest`) and re-serialised from
the validated model, so only what was checked travels upstream; the answer
is relayed in Gemini's shape, each stream record as it arrives, and errors
in Google's shape so the SDKs raise their usual exceptions. A failure after
the first streamed byte is a last `data:`-framed error record (both SDKs
raise on it; a bare block, as Google sends, only sometimes reaches the JS
SDK's parser). docs/API.md ("Gemini-native route") has the details.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
from starlette.responses import Response

from ...context import RequestContext
from ...errors import ApiError, InvalidRequest, UpstreamError
from ...intake import GenerationIntake, admit
from ...model_rules import thinking_refusal
from ...normalize import MalformedAnswer, StreamTotals, read_answer
from ...responses import cancel_if_gone, json_response
from ...routing import Endpoint, OperationDoc
from ...streaming import records_with_deltas, stream_response
from ...upstream.client import UpstreamAnswer, model_path
from ...upstream.metadata import metadata_header
from ...upstream.stream import UpstreamStream
from .answers import CountTokensResponse, GenerateContentResponse, GoogleErrorBody
from .errors import google_error_body
from .models import Content, CountTokensRequest, GeminiRequest

__all__ = [
    "COUNT_TOKENS",
    "GENERATE_CONTENT",
    "STREAM_GENERATE_CONTENT",
    "count_tokens",
    "generate_content",
    "google_error_body",
    "stream_generate_content",
]


def _last_user_text(contents: list[Content]) -> str:
    for content in reversed(contents):
        if content.role in (None, "user"):
            return " ".join(p.text for p in content.parts if p.text and not p.thought)
    return ""


def _path_model(_: object, params: Mapping[str, str]) -> str:
    return params["model"]


_THINKING_FIELD = "generationConfig.thinkingConfig.thinkingLevel"


def _upstream_body(ctx: RequestContext, req: GeminiRequest) -> bytes:
    """What travels upstream: the validated request re-serialised, with the output ceiling when none was set."""
    return req.upstream_body(ctx.output_ceiling, ctx.safety_settings)


def _counted_body(ctx: RequestContext, req: CountTokensRequest) -> bytes:
    """`generateContentRequest.model`, when given, must be the path's model (`models/` prefix optional)."""
    counted = req.generate_content_request
    if counted is not None and counted.model is not None:
        name = counted.model.removeprefix("models/")
        if ctx.runtime.settings.model_aliases.get(name, name) != ctx.model:
            raise InvalidRequest.for_field(
                "generateContentRequest.model",
                f"must be models/{ctx.params['model']} (the model of the path) or left out",
            )
    return req.upstream_body(ctx.model)


INTAKE = GenerationIntake(
    GeminiRequest, _path_model, lambda req: _last_user_text(req.contents), _upstream_body, GeminiRequest.freeform
)
COUNT_INTAKE = GenerationIntake(
    CountTokensRequest,
    _path_model,
    lambda req: _last_user_text(req.all_contents),
    _counted_body,
    CountTokensRequest.freeform,
    metered=False,
)


def _headers(ctx: RequestContext) -> dict[str, str]:
    assert ctx.caller is not None
    return metadata_header(ctx.caller.identity)


async def generate_content(ctx: RequestContext) -> Response:
    _, body = await admit(ctx, INTAKE)
    path = model_path(ctx.model, "generateContent")
    work = ctx.runtime.gateway.request("POST", path, body, _headers(ctx), ctx.started)
    try:
        meta = await cancel_if_gone(ctx.request, work)
    except InvalidRequest as exc:
        raise thinking_refusal(exc, _THINKING_FIELD) from None
    answer_body = _guardrail_body(meta, ctx.model) if meta.blocked is not None else meta.body
    try:
        answer = read_answer(answer_body)
    except MalformedAnswer as exc:
        raise UpstreamError(f"the upstream answer was not a usable Gemini response: {exc}") from None
    ctx.record_answer(answer, meta)
    return json_response(answer_body)


async def stream_generate_content(ctx: RequestContext) -> Response:
    _, body = await admit(ctx, INTAKE)
    ctx.log.record_stream()
    path = model_path(ctx.model, "streamGenerateContent") + "?alt=sse"
    opening = ctx.runtime.gateway.open_stream("POST", path, body, _headers(ctx), ctx.started)
    try:
        meta, stream = await cancel_if_gone(ctx.request, opening)
    except InvalidRequest as exc:
        raise thinking_refusal(exc, _THINKING_FIELD) from None
    return _relay_stream(ctx.model, meta, stream, ctx.request.query_params.get("alt") == "sse", ctx)


async def count_tokens(ctx: RequestContext) -> Response:
    """Gemini's `countTokens`, passed through; it costs no tokens, so no usage is recorded."""
    _, body = await admit(ctx, COUNT_INTAKE)
    path = model_path(ctx.model, "countTokens")
    meta = await cancel_if_gone(
        ctx.request, ctx.runtime.gateway.request("POST", path, body, _headers(ctx), ctx.started)
    )
    ctx.log.record_upstream(meta)
    if meta.blocked is not None:
        raise InvalidRequest("the AI Gateway's guardrails blocked the prompt")
    answer = meta.body
    if not isinstance(answer, dict) or not isinstance(answer.get("totalTokens", 0), int):
        raise UpstreamError("the upstream answer was not a usable countTokens response")
    return json_response(answer)


def _guardrail_body(meta: UpstreamAnswer, model: str) -> dict[str, Any]:
    """A gateway guardrail refusal, as Gemini itself reports a refused prompt or answer."""
    reason = meta.blocked.reason if meta.blocked else None
    if reason == "2017":  # the answer was blocked
        message = "The AI Gateway's guardrails blocked the answer."
        candidate = {"index": 0, "finishReason": "SAFETY", "finishMessage": message}
        return {"candidates": [candidate], "modelVersion": model}
    message = "The AI Gateway's guardrails blocked the prompt."
    return {"promptFeedback": {"blockReason": "OTHER", "blockReasonMessage": message}, "modelVersion": model}


def _relay_stream(
    model: str, meta: UpstreamAnswer, stream: UpstreamStream | None, sse: bool, ctx: RequestContext
) -> Response:
    """Each upstream record re-emitted as it arrives; never buffered."""
    sent = 0

    def frame(record: Any) -> bytes:
        data = orjson.dumps(record)
        if sse:
            return b"data: " + data + b"\r\n\r\n"
        return (b"[" if sent == 0 else b",\r\n") + data

    async def records() -> AsyncIterator[bytes]:
        nonlocal sent
        totals = StreamTotals(keep=False)  # every record is forwarded as it comes; the end needs only the totals
        if stream is None:  # a gateway guardrail refused it before any record
            guard = _guardrail_body(meta, model)
            totals.add(read_answer(guard, require_candidate=False))
            yield frame(guard)
            sent += 1
        else:
            async for record, _ in records_with_deltas(stream, totals, ctx):
                yield frame(record)
                sent += 1
        answer = totals.result()
        ctx.record_answer(answer, meta)
        if not sse:
            yield b"]" if sent else b"[]"

    def error_record(err: ApiError) -> bytes:
        return frame(google_error_body(err, ctx.request_id)) + (b"" if sse else b"]")

    media_type = "text/event-stream" if sse else "application/json"
    return stream_response(records(), ctx, meta, stream, error_record, media_type)


_DESCRIPTION = "Gemini's own request and answer; the caller's client key in `x-goog-api-key` (docs/API.md)."
GENERATE_CONTENT = Endpoint(
    generate_content,
    OperationDoc(
        summary="Gemini-native generateContent for the official Gemini SDKs",
        description=_DESCRIPTION,
        request=GeminiRequest,
        response=GenerateContentResponse,
        error=GoogleErrorBody,
        tags=("gemini",),
    ),
)
STREAM_GENERATE_CONTENT = Endpoint(
    stream_generate_content,
    OperationDoc(
        summary="Gemini-native streamGenerateContent for the official Gemini SDKs",
        description=_DESCRIPTION + " With `?alt=sse` (what the SDKs send): Gemini's own `data:` records, passed"
        " through as they arrive; without it, one JSON array written element by element.",
        request=GeminiRequest,
        response=GenerateContentResponse,
        stream_description="`?alt=sse`: Gemini's own `data:` records, passed through.",
        stream_events={"message": GenerateContentResponse},
        error=GoogleErrorBody,
        tags=("gemini",),
    ),
)
COUNT_TOKENS = Endpoint(
    count_tokens,
    OperationDoc(
        summary="Gemini-native countTokens for the official Gemini SDKs",
        description="Gemini's own countTokens request (`contents` or a whole `generateContentRequest`) and answer;"
        " the caller's client key in `x-goog-api-key` (docs/API.md). Counting costs no tokens: nothing is recorded"
        " as usage.",
        request=CountTokensRequest,
        response=CountTokensResponse,
        error=GoogleErrorBody,
        tags=("gemini",),
    ),
)
