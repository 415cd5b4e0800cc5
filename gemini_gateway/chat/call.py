"""One admitted chat request run upstream: whole, or as an opened stream; and the answer object built from it.

`POST /` and the OpenAI route share these (the OpenAI request is converted
into a `GenerateRequest` first), so there is one mapping to Gemini and one
answer builder. `result_body` is pure: it builds, it does not record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from ..answer import Answer, FunctionCall, Usage
from ..context import RequestContext
from ..errors import InvalidRequest, UpstreamError
from ..model_rules import sampling_warnings, thinking_refusal
from ..normalize import MalformedAnswer, parse_json_text, read_answer
from ..responses import cancel_if_gone
from ..tool_ids import ToolCallRef, ToolIds
from ..upstream.client import UpstreamAnswer, model_path
from ..upstream.stream import UpstreamStream
from .gemini_body import gateway_headers, to_gemini_body
from .models import GenerateRequest

__all__ = [
    "Call",
    "complete_upstream",
    "guardrail_answer",
    "open_upstream_stream",
    "result_body",
    "tool_calls",
]


@dataclass(frozen=True)
class Call:
    """One admitted request in `POST /` terms, with its upstream body built (a bad tool-call id fails here)."""

    req: GenerateRequest
    model: str
    alias: str | None
    ids: ToolIds
    body: bytes
    headers: dict[str, str]
    thinking_field: str = "thinking_level"  # the route's name for it, in a refused thinking level's 400

    @classmethod
    def of(cls, ctx: RequestContext, req: GenerateRequest) -> Call:
        """The call for `req` as the intake admitted it (model, output ceiling, caller)."""
        assert ctx.choice is not None and ctx.caller is not None
        ids = ctx.tool_ids
        gemini = to_gemini_body(req, ids=ids, max_output_tokens=ctx.output_ceiling, safety_settings=ctx.safety_settings)
        body = orjson.dumps(gemini)  # validated: finite numbers only
        headers = gateway_headers(req, caller=ctx.caller.identity)
        return cls(req, ctx.choice.model, ctx.choice.alias, ids, body, headers)


async def complete_upstream(ctx: RequestContext, call: Call) -> tuple[Answer, UpstreamAnswer]:
    """One whole answer for `call` (cancelled if the caller leaves), read into our terms."""
    path = model_path(call.model, "generateContent")
    work = ctx.runtime.gateway.request("POST", path, call.body, call.headers, ctx.started)
    try:
        meta = await cancel_if_gone(ctx.request, work)
    except InvalidRequest as exc:
        raise thinking_refusal(exc, call.thinking_field) from None
    if meta.blocked is not None:
        return guardrail_answer(meta), meta
    try:
        return read_answer(meta.body), meta
    except MalformedAnswer as exc:
        raise UpstreamError(f"the upstream answer was not a usable Gemini response: {exc}") from None


async def open_upstream_stream(ctx: RequestContext, call: Call) -> tuple[UpstreamAnswer, UpstreamStream | None]:
    """The upstream stream for `call`, opened up to its first record (cancelled if the caller leaves)."""
    ctx.log.record_stream()
    path = model_path(call.model, "streamGenerateContent") + "?alt=sse"
    opening = ctx.runtime.gateway.open_stream("POST", path, call.body, call.headers, ctx.started)
    try:
        return await cancel_if_gone(ctx.request, opening)
    except InvalidRequest as exc:
        raise thinking_refusal(exc, call.thinking_field) from None


def tool_calls(call: Call, calls: list[FunctionCall]) -> list[dict[str, Any]]:
    """The answer's calls, each with the opaque id that carries what the next turn must send back."""
    return [
        {"id": call.ids.encode(ToolCallRef(c.name, c.call_id, c.signature)), "name": c.name, "arguments": c.args}
        for c in calls
    ]


def result_body(call: Call, answer: Answer, meta: UpstreamAnswer, request_id: str, total_ms: float) -> dict[str, Any]:
    """The answer object (docs/API.md, "Response"): a pure function of what happened."""
    result: dict[str, Any] = {
        "id": answer.response_id,
        "request_id": request_id,
        "model": call.model,
    }
    if call.alias is not None:
        result["model_alias"] = call.alias
    result.update(model_version=answer.model_version, text=answer.text)
    if answer.calls:
        result["tool_calls"] = tool_calls(call, answer.calls)
    if call.req.wants_json:
        ok, value = parse_json_text(answer.text)
        if ok:
            result["json"] = value
    warnings = sampling_warnings(
        call.model, [f for f in ("temperature", "top_p", "top_k") if getattr(call.req, f) is not None]
    )
    if warnings:
        result["warnings"] = warnings
    result.update(
        finish_reason=answer.finish_reason or "other",
        blocked_reason=answer.blocked_reason,
        usage=(answer.usage or Usage()).as_dict(),
        gateway={"cache_status": meta.cache_status, "log_id": meta.log_id, "attempts": meta.attempts},
        timing_ms={"upstream": round(meta.upstream_ms), "total": round(total_ms)},
    )
    return result


def guardrail_answer(meta: UpstreamAnswer) -> Answer:
    reason = meta.blocked.reason if meta.blocked else None
    blocked = "GATEWAY_GUARDRAIL_RESPONSE" if reason == "2017" else "GATEWAY_GUARDRAIL_PROMPT"
    return Answer(finish_reason="blocked", blocked_reason=blocked)
