"""Gemini-native route (contract 7b): the official Gemini SDKs with the function as base URL.

`POST /{v1|v1beta}/models/{model}:generateContent` and `:streamGenerateContent`
take Gemini's own request body. The caller's `x-goog-api-key` is checked as a
client key (like every route, through `runtime.admit`) and never forwarded:
the upstream client sends the real key from Secret Manager. The request is
validated by `GeminiRequest`, re-serialised from the validated model (so only
what was checked travels upstream), and the upstream answer is relayed in
Gemini's shape: the JSON body as is, or each stream record as it arrives.
Errors use Google's `{"error": {"code", "message", "status"}}` so the SDKs
raise their usual exceptions.

Streams: with `?alt=sse` (what both SDKs send) each record is
`data: <json>\\r\\n\\r\\n`, as Google frames it; without it, one JSON array
written element by element, as Google does. A failure after the first byte
ends the stream with an `{"error": ...}` record: `data:`-framed (SSE) or the
last array element. Google itself appends a bare block without `data:`, but
@google/genai (JS) only raises its ApiError for that when the block arrives
in a network read of its own; framed, both SDKs raise their usual error
every time (tests/integration/test_gemini_native.py drives both).

The upstream API version is the configured `GEMINI_API_VERSION` whatever
the path says: v1beta accepts every v1 request.
"""

from __future__ import annotations

import binascii
import json
import math
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError
from starlette.requests import Request
from starlette.responses import Response

from .errors import ApiError, InvalidRequest, RateLimited, UpstreamError
from .exchange import Exchange, cancel_if_gone, json_response
from .generate import read_body
from .normalize import Answer, MalformedAnswer, StreamTotals, Usage, read_answer
from .payload import check_content_type, parse_json, validate
from .runtime import get_runtime
from .streaming import records_with_deltas, stream_response
from .upstream import UpstreamAnswer, UpstreamStream

__all__ = [
    "PATH",
    "GeminiRequest",
    "GenerationConfig",
    "gemini_native",
    "google_error_body",
    "google_status",
]

PATH = re.compile(r"/(?P<version>v1|v1beta)/models/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent)")

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_MIME = r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$"
_UNSUPPORTED = "not supported by this function"


def _field_error(field: str, problem: str) -> PydanticCustomError:
    """A model-level error that names its field (`payload.problems_from` reads `field_rule`)."""
    return PydanticCustomError("field_rule", "{problem}", {"field": field, "problem": problem})


def _base64(value: str) -> str:
    """Standard or URL-safe base64, padded or not: proto3 JSON accepts all four (the Python SDK sends URL-safe)."""
    text = value.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        raise PydanticCustomError("base64", "must be valid base64") from None
    return value


def _finite(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise PydanticCustomError("finite", "must be a finite number")
    return value


class _Wire(BaseModel):
    """Gemini's proto3 JSON: camelCase on the wire, snake_case names accepted too (as proto3 parsers do).

    The Python SDK itself sends `thinkingConfig` with snake_case keys.
    Documented fields this function does not serve are refused by name
    with a clearer message than "unknown field".
    """

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
    )
    unsupported: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _refuse_unsupported(cls, data: Any) -> Any:
        if isinstance(data, dict) and cls.unsupported:
            for key in data:
                if isinstance(key, str) and to_camel(key) in cls.unsupported:
                    raise _field_error(to_camel(key), _UNSUPPORTED)
        return data


class Blob(_Wire):
    mime_type: Annotated[str, Field(pattern=_MIME)]
    data: Annotated[str, Field(min_length=1)]

    @field_validator("data")
    @classmethod
    def _is_base64(cls, value: str) -> str:
        return _base64(value)


class Part(_Wire):
    """A text or inline-data part; `thought`/`thoughtSignature` ride along as the SDKs echo them back."""

    unsupported = (
        "fileData",
        "functionCall",
        "functionResponse",
        "executableCode",
        "codeExecutionResult",
        "videoMetadata",
    )

    text: str | None = None
    inline_data: Blob | None = None
    thought: bool | None = None
    thought_signature: str | None = None

    @field_validator("thought_signature")
    @classmethod
    def _signature_is_base64(cls, value: str | None) -> str | None:
        return None if value is None else _base64(value)

    @model_validator(mode="after")
    def _one_kind(self) -> Part:
        if (self.text is None) == (self.inline_data is None):
            raise _field_error("text", "a part needs exactly one of text or inlineData")
        return self


class Content(_Wire):
    role: Literal["user", "model"] | None = None
    parts: Annotated[list[Part], Field(min_length=1)]


class SystemInstruction(_Wire):
    """Text only, as Gemini documents it; its role is ignored upstream."""

    role: Annotated[str | None, Field(max_length=16)] = None
    parts: Annotated[list[Part], Field(min_length=1)]

    @model_validator(mode="after")
    def _text_only(self) -> SystemInstruction:
        if any(part.text is None for part in self.parts):
            raise _field_error("parts", "systemInstruction takes text parts only")
        return self


class ThinkingConfig(_Wire):
    include_thoughts: bool | None = None
    thinking_budget: Annotated[int | None, Field(ge=-1, le=_INT32_MAX)] = None
    thinking_level: Literal["THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH"] | None = None


Modality = Literal["MODALITY_UNSPECIFIED", "TEXT", "IMAGE", "AUDIO"]


class GenerationConfig(_Wire):
    """The documented `generationConfig` fields, with the ranges Gemini documents."""

    unsupported = ("routingConfig", "modelSelectionConfig", "audioTimestamp")

    candidate_count: Annotated[int | None, Field(ge=1, le=8)] = None
    stop_sequences: Annotated[list[Annotated[str, Field(min_length=1)]] | None, Field(max_length=5)] = None
    max_output_tokens: Annotated[int | None, Field(ge=1, le=_INT32_MAX)] = None
    temperature: Annotated[float | None, Field(ge=0, le=2)] = None
    top_p: Annotated[float | None, Field(ge=0, le=1)] = None
    top_k: Annotated[int | float | None, Field(ge=1, le=_INT32_MAX)] = None  # the Python SDK sends 40.0
    seed: Annotated[int | None, Field(ge=_INT32_MIN, le=_INT32_MAX)] = None
    response_mime_type: Annotated[str | None, Field(pattern=_MIME)] = None
    response_schema: dict[str, Any] | None = None
    response_json_schema: dict[str, Any] | bool | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    response_logprobs: bool | None = None
    logprobs: Annotated[int | None, Field(ge=0, le=20)] = None
    enable_enhanced_civic_answers: bool | None = None
    response_modalities: Annotated[list[Modality] | None, Field(max_length=4)] = None
    speech_config: dict[str, Any] | None = None
    thinking_config: ThinkingConfig | None = None
    image_config: dict[str, Any] | None = None
    media_resolution: (
        Literal[
            "MEDIA_RESOLUTION_UNSPECIFIED", "MEDIA_RESOLUTION_LOW", "MEDIA_RESOLUTION_MEDIUM", "MEDIA_RESOLUTION_HIGH"
        ]
        | None
    ) = None

    @field_validator("temperature", "top_p", "presence_penalty", "frequency_penalty")
    @classmethod
    def _finite_floats(cls, value: float | None) -> float | None:
        return _finite(value)

    @field_validator("top_k")
    @classmethod
    def _whole(cls, value: float | None) -> float | None:
        if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
            raise PydanticCustomError("whole", "must be a whole number")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> GenerationConfig:
        if self.response_schema is not None and self.response_json_schema is not None:
            raise _field_error("responseJsonSchema", "give responseSchema or responseJsonSchema, not both")
        if (self.response_schema is not None or self.response_json_schema is not None) and not self.response_mime_type:
            field = "responseSchema" if self.response_schema is not None else "responseJsonSchema"
            raise _field_error(field, "needs responseMimeType (application/json or text/x.enum)")
        if self.logprobs is not None and self.response_logprobs is not True:
            raise _field_error("logprobs", "needs responseLogprobs: true")
        return self


Threshold = Literal[
    "HARM_BLOCK_THRESHOLD_UNSPECIFIED",
    "BLOCK_LOW_AND_ABOVE",
    "BLOCK_MEDIUM_AND_ABOVE",
    "BLOCK_ONLY_HIGH",
    "BLOCK_NONE",
    "OFF",
]


class SafetySetting(_Wire):
    unsupported = ("method",)  # Vertex AI only

    category: Annotated[str, Field(pattern=r"^HARM_CATEGORY_[A-Z_]{1,64}$")]
    threshold: Threshold


class GeminiRequest(_Wire):
    """The body of `generateContent` / `streamGenerateContent`, as far as this function serves it."""

    unsupported = ("tools", "toolConfig", "cachedContent")

    contents: Annotated[list[Content], Field(min_length=1)]
    system_instruction: SystemInstruction | None = None
    generation_config: GenerationConfig | None = None
    safety_settings: Annotated[list[SafetySetting] | None, Field(max_length=16)] = None

    @model_validator(mode="after")
    def _one_per_category(self) -> GeminiRequest:
        seen: set[str] = set()
        for setting in self.safety_settings or ():
            if setting.category in seen:
                raise _field_error("safetySettings", f"one setting per category ({setting.category} repeats)")
            seen.add(setting.category)
        return self

    def upstream_body(self) -> bytes:
        """The validated request, camelCase, exactly the fields the caller set."""
        body = self.model_dump(mode="json", by_alias=True, exclude_unset=True)
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


# --------------------------------------------------------------------------- errors in Google's shape

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def google_status(error: ApiError) -> str:
    """The google.rpc.Code name for one of our errors (HTTP status as in contract section 8)."""
    if error.status == 502:
        return "UNAVAILABLE" if error.retryable else "INTERNAL"
    return _STATUS_NAMES.get(error.status, "UNKNOWN")


def google_error_body(error: ApiError, request_id: str) -> dict[str, Any]:
    """`{"error": {"code", "message", "status", "details"}}`, details as google.rpc types.

    Field problems become `google.rpc.BadRequest` field violations, a retry
    hint `google.rpc.RetryInfo`, and the request id `google.rpc.RequestInfo`.
    Nothing from an upstream error body is here but its scrubbed message.
    """
    details: list[dict[str, Any]] = []
    if error.details:
        violations = [{"field": d.field, "description": d.problem} for d in error.details]
        details.append({"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": violations})
    if isinstance(error, RateLimited):
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{error.retry_after}s"})
    details.append({"@type": "type.googleapis.com/google.rpc.RequestInfo", "requestId": request_id})
    return {
        "error": {"code": error.status, "message": error.message, "status": google_status(error), "details": details}
    }


# --------------------------------------------------------------------------- the route


async def gemini_native(request: Request, exchange: Exchange) -> Response:
    match = PATH.fullmatch(request.scope["path"])
    if match is None:  # registered with the same pattern; only a misregistration gets here
        raise InvalidRequest("not a Gemini model path")
    model, method = match["model"], match["method"]
    runtime = get_runtime()
    settings = runtime.settings
    headers = request.headers
    body = await read_body(request, runtime)
    caller = await runtime.admit(headers, body)
    exchange.fields.update(caller=caller.identity, route="gemini", model=model)
    check_content_type(headers.get("content-type"))
    req = validate(GeminiRequest, parse_json(body))
    if model not in settings.allowed_models:
        raise InvalidRequest.for_field("model", f"must be one of: {', '.join(settings.allowed_models)}")
    extra = {"cf-aig-metadata": json.dumps({"caller": caller.identity}, separators=(",", ":"), ensure_ascii=True)}
    if settings.log_payloads:
        exchange.fields["prompt"] = _last_user_text(req)[:2000]
    if method == "streamGenerateContent":
        exchange.fields["stream"] = True
        opening = runtime.gateway.open_stream(model, req.upstream_body(), extra, exchange.started)
        meta, stream = await cancel_if_gone(request, opening)
        sse = request.query_params.get("alt") == "sse"
        return _relay_stream(model, meta, stream, sse, exchange, settings.log_payloads)
    meta = await cancel_if_gone(request, runtime.gateway.generate(model, req.upstream_body(), extra, exchange.started))
    answer_body = _guardrail_body(meta, model) if meta.blocked is not None else meta.body
    try:
        answer = read_answer(answer_body)
    except MalformedAnswer as exc:
        raise UpstreamError(f"the upstream answer was not a usable Gemini response: {exc}") from None
    _account(exchange, meta, answer, settings.log_payloads)
    return json_response(answer_body)


def _account(exchange: Exchange, meta: UpstreamAnswer, answer: Answer, log_payloads: bool) -> None:
    """The access log's view of the answer: same fields as `POST /`."""
    exchange.upstream_ms = meta.upstream_ms
    usage = (answer.usage or Usage()).as_dict()
    exchange.fields.update(
        finish_reason=answer.finish_reason or "other", attempts=meta.attempts, cache_status=meta.cache_status, **usage
    )
    if log_payloads:
        exchange.fields["answer"] = answer.text[:2000]


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
    model: str,
    meta: UpstreamAnswer,
    stream: UpstreamStream | None,
    sse: bool,
    exchange: Exchange,
    log_payloads: bool,
) -> Response:
    """Each upstream record re-emitted as it arrives; never buffered."""
    sent = 0

    def frame(record: Any) -> bytes:
        data = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()
        if sse:
            return b"data: " + data + b"\r\n\r\n"
        return (b"[" if sent == 0 else b",\r\n") + data

    async def records() -> AsyncIterator[bytes]:
        nonlocal sent
        totals = StreamTotals()
        if stream is None:  # a gateway guardrail refused it before any record
            guard = _guardrail_body(meta, model)
            totals.add(read_answer(guard, require_candidate=False))
            yield frame(guard)
            sent += 1
        else:
            async for record, _ in records_with_deltas(stream, totals):
                yield frame(record)
                sent += 1
        _account(exchange, meta, totals.result(), log_payloads)
        if not sse:
            yield b"]" if sent else b"[]"

    def error_record(err: ApiError) -> bytes:
        exchange.upstream_ms = meta.upstream_ms
        return frame(google_error_body(err, exchange.request_id)) + (b"" if sse else b"]")

    media_type = "text/event-stream" if sse else "application/json"
    return stream_response(records(), exchange, stream, error_record, media_type)


def _last_user_text(req: GeminiRequest) -> str:
    for content in reversed(req.contents):
        if content.role in (None, "user"):
            return " ".join(p.text for p in content.parts if p.text and not p.thought)
    return ""
