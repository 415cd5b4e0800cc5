"""One answer for a `GenerateRequest`: whole, or as an opened stream; and the answer object built from it.

`POST /` and the OpenAI route share these (the OpenAI request is converted
into a `GenerateRequest` first), so there is one mapping to Gemini and one
answer builder. `result_body` is pure: it builds, it does not record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request

from .errors import UpstreamError
from .exchange import Exchange
from .intake import Admitted
from .models import GenerateRequest
from .normalize import Answer, FunctionCall, MalformedAnswer, Usage, parse_json_text, read_answer
from .responses import cancel_if_gone
from .runtime import Runtime
from .tool_ids import ToolCallRef
from .upstream import UpstreamAnswer, UpstreamStream
from .upstream.gemini_body import gateway_headers, to_gemini_body

__all__ = ["Call", "complete_upstream", "guardrail_answer", "open_upstream_stream", "result_body", "tool_calls"]


@dataclass(frozen=True)
class Call:
    """One admitted request in `POST /` terms, with its upstream body built (a bad tool-call id fails here)."""

    runtime: Runtime
    req: GenerateRequest
    model: str
    alias: str | None
    caller: str
    body: bytes
    headers: dict[str, str]

    @classmethod
    def of(cls, admitted: Admitted[Any], req: GenerateRequest) -> Call:
        runtime, caller = admitted.runtime, admitted.caller.identity
        gemini = to_gemini_body(req, ids=runtime.tool_ids, max_output_tokens=admitted.max_output_tokens)
        body = orjson.dumps(gemini)  # validated: finite numbers only
        return cls(runtime, req, admitted.model, admitted.alias, caller, body, gateway_headers(req, caller=caller))


async def complete_upstream(request: Request, call: Call, exchange: Exchange) -> tuple[Answer, UpstreamAnswer]:
    """One whole answer for `call` (cancelled if the caller leaves), read into our terms."""
    work = call.runtime.gateway.generate(call.model, call.body, call.headers, exchange.started)
    meta = await cancel_if_gone(request, work)
    if meta.blocked is not None:
        return guardrail_answer(meta), meta
    try:
        return read_answer(meta.body), meta
    except MalformedAnswer as exc:
        raise UpstreamError(f"the upstream answer was not a usable Gemini response: {exc}") from None


async def open_upstream_stream(
    request: Request, call: Call, exchange: Exchange
) -> tuple[UpstreamAnswer, UpstreamStream | None]:
    """The upstream stream for `call`, opened up to its first record (cancelled if the caller leaves)."""
    exchange.record_stream()
    opening = call.runtime.gateway.open_stream(call.model, call.body, call.headers, exchange.started)
    return await cancel_if_gone(request, opening)


def tool_calls(call: Call, calls: list[FunctionCall]) -> list[dict[str, Any]]:
    """The answer's calls, each with the opaque id that carries what the next turn must send back."""
    ids = call.runtime.tool_ids
    return [
        {"id": ids.encode(ToolCallRef(c.name, c.call_id, c.signature)), "name": c.name, "arguments": c.args}
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
