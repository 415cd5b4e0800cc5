"""One answer for a `GenerateRequest`: whole, or as an opened stream; and the answer object built from it.

`POST /` and the OpenAI route share these (the OpenAI request is converted
into a `GenerateRequest` first), so there is one mapping to Gemini and one
answer builder. `result_body` is pure: it builds, it does not record.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from .errors import UpstreamError
from .exchange import Exchange
from .models import GenerateRequest
from .normalize import Answer, MalformedAnswer, Usage, parse_json_text, read_answer
from .responses import cancel_if_gone
from .runtime import Runtime
from .upstream import UpstreamAnswer, UpstreamStream
from .upstream.gemini_body import gateway_headers, to_gemini_body

__all__ = ["complete_upstream", "guardrail_answer", "open_upstream_stream", "result_body"]


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
    exchange.record_stream()
    body, headers = _upstream_call(req, caller)
    return await cancel_if_gone(request, runtime.gateway.open_stream(model, body, headers, exchange.started))


def result_body(
    req: GenerateRequest, model: str, answer: Answer, meta: UpstreamAnswer, request_id: str, total_ms: float
) -> dict[str, Any]:
    """The section-4 answer object (README, "POST /"): a pure function of what happened."""
    result: dict[str, Any] = {
        "id": answer.response_id,
        "request_id": request_id,
        "model": model,
        "model_version": answer.model_version,
        "text": answer.text,
    }
    if req.wants_json:
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
