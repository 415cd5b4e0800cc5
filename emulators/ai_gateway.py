"""Cloudflare AI Gateway + Google AI Studio (Gemini) emulator.

Why: the function must be tested and benchmarked against something that
speaks the real wire format (paths, headers, error bodies, SSE framing with
CRLF, mid-stream errors) without a network, a Google key or a Cloudflare
account. Behaviour is deterministic by default and bent per request through
a FIFO queue of faults set over a small JSON control API (`/__emulator/...`).
It follows the current (Gemini 3) API closely enough that clients fail here
the way they would fail against Google: thinkingLevel rules, function calls
whose thought signatures must be replayed, countTokens.

Run: ``python -m emulators.ai_gateway --port 8787 [--key K]... [--gateway-token T]``
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from emulators import interactions, model_rules
from emulators.auth_errors import AUTH_ERRORS, key_error
from emulators.gateway_core import (
    CORRUPTED_SIGNATURE_MESSAGE,
    INVALID_ARGUMENT_MESSAGE,
    JSON_CT,
    MALFORMED_BODY,
    OVERLOADED_MESSAGE,
    PREPARED,
    RECORD_LIMIT,
    SSE_CT,
    STATE_KEY,
    VERSIONS,
    EmulatorConfig,
    EmulatorState,
    Gone,
    abort,
    b64decode,
    dumps,
    fault_headers,
    gateway_fault,
    json_response,
    model_headers,
    no_route,
    raw_response,
    sleep,
    state_of,
    tracked,
    unauthorized,
)
from emulators.model_answers import (
    THOUGHT_TEXT,
    Tools,
    answer_text,
    content_parts,
    is_user_text,
    parse_tools,
    planned_calls,
    prompt_tokens,
    split_words,
    tokens,
)
from emulators.serve import cli_parser, serve_app

__all__ = [
    "RECORD_LIMIT",
    "EmulatorConfig",
    "EmulatorState",
    "create_app",
    "main",
    "run",
    "state_of",
]

CACHE_LIMIT = 10000
"""Cached answers kept before the cache is emptied."""

_ACTIONS = ("generateContent", "streamGenerateContent", "countTokens")
THINKING_LEVELS = ("THINKING_LEVEL_UNSPECIFIED", *model_rules.LEVELS)

QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. "
    "For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
)
BOTH_THINKING_MESSAGE = "You can only set only one of thinking budget and thinking level."
MISSING_SIGNATURE_MESSAGE = (
    "Function call is missing a thought_signature in functionCall parts. This is required for tools to work "
    "correctly, and missing thought_signature may lead to degraded model performance. Additional data, "
    "function call `default_api:{name}` , position {position}. Please refer to "
    "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
)

_STATUS_NAMES: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", INVALID_ARGUMENT_MESSAGE),
    401: (
        "UNAUTHENTICATED",
        (
            "Request had invalid authentication credentials. Expected OAuth 2 access token, "
            "login cookie or other valid authentication credential."
        ),
    ),
    403: ("PERMISSION_DENIED", "The caller does not have permission"),
    404: ("NOT_FOUND", ""),  # message depends on the model; see _google_error
    408: ("DEADLINE_EXCEEDED", "Request timed out."),
    409: ("ABORTED", "The operation was aborted."),
    429: ("RESOURCE_EXHAUSTED", QUOTA_MESSAGE),
    499: ("CANCELLED", "The operation was cancelled."),
    500: (
        "INTERNAL",
        (
            "An internal error has occurred. Please retry or report in "
            "https://developers.generativeai.google/guide/troubleshooting"
        ),
    ),
    501: ("UNIMPLEMENTED", "Method not implemented."),
    502: ("UNAVAILABLE", OVERLOADED_MESSAGE),
    503: ("UNAVAILABLE", OVERLOADED_MESSAGE),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}

_SAFETY_RATINGS: list[dict[str, Any]] = [
    {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True},
]


# --------------------------------------------------------------------------- helpers


def _response_id() -> str:
    """22 url-safe chars, like Gemini's responseId."""
    return secrets.token_urlsafe(16)[:22]


def _google_error(status: int, model: str, version: str, action: str, fault: dict[str, Any]) -> dict[str, Any]:
    """Google's google.rpc.Status JSON for an HTTP status, with realistic details."""
    name, message = _STATUS_NAMES.get(status, ("UNKNOWN", f"Unknown error (HTTP {status})."))
    if status == 404:
        message = (
            f"models/{model} is not found for API version {version}, or is not supported for {action}. "
            "Call ListModels to see the list of available models and their supported methods."
        )
    error: dict[str, Any] = {"code": status, "message": fault.get("message", message), "status": name}
    details: list[dict[str, Any]] = []
    if status == 429:
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                        "quotaDimensions": {"location": "global", "model": model},
                        "quotaValue": "10",
                    }
                ],
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [
                    {
                        "description": "Learn more about Gemini API quotas",
                        "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                    }
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": str(fault.get("retry_delay", "1s"))},
        ]
    if "debug_info" in fault:
        details.append({"@type": "type.googleapis.com/google.rpc.DebugInfo", "detail": str(fault["debug_info"])})
    if details:
        error["details"] = details
    return {"error": error}


def _thinking_config(body: dict[str, Any]) -> dict[str, Any]:
    config = body.get("generationConfig")
    thinking = config.get("thinkingConfig") if isinstance(config, dict) else None
    return thinking if isinstance(thinking, dict) else {}


def _thinking(body: dict[str, Any]) -> bool:
    """Whether the model thinks (and bills thoughtsTokenCount): off only at budget 0 or level MINIMAL."""
    thinking = _thinking_config(body)
    level = thinking.get("thinkingLevel")
    return thinking.get("thinkingBudget") != 0 and model_rules.thinks(level if isinstance(level, str) else None)


def _include_thoughts(body: dict[str, Any]) -> bool:
    """Gemini sends thought summaries only when asked; thinking happens (and is billed) either way."""
    return _thinking_config(body).get("includeThoughts") is True


def _thinking_error(body: dict[str, Any], model: str) -> str | None:
    thinking = _thinking_config(body)
    level = thinking.get("thinkingLevel")
    if level is None:
        return None
    if thinking.get("thinkingBudget") is not None:
        return BOTH_THINKING_MESSAGE
    if not isinstance(level, str) or level.upper() not in THINKING_LEVELS:
        return (
            "Invalid value at 'generation_config.thinking_config.thinking_level' "
            f"(type.googleapis.com/google.ai.generativelanguage.v1beta.ThinkingConfig.ThinkingLevel), {json.dumps(level)}"
        )
    upper = level.upper()
    return None if upper == "THINKING_LEVEL_UNSPECIFIED" else model_rules.content_level_error(model, upper)


# --------------------------------------------------------------------------- function calling


def _call_parts(calls: list[dict[str, Any]], model: str, state: EmulatorState) -> list[dict[str, Any]]:
    """Parts for calls; on Gemini 3+ the first one carries the thought signature, as Gemini sends it."""
    parts: list[dict[str, Any]] = [{"functionCall": call} for call in calls]
    if parts and model_rules.signs_thoughts(model):
        parts[0]["thoughtSignature"] = state.issue_signature()
    return parts


def _contents_error(body: dict[str, Any], model: str, state: EmulatorState) -> str | None:
    """Proto-level checks on every part, then Gemini 3's thought-signature rule; None when valid."""
    contents: list[Any] = body["contents"]
    for i, content in enumerate(contents):
        for j, part in enumerate(content_parts(content)):
            error = _part_error(part, f"contents[{i}].parts[{j}]")
            if error:
                return error
    if not model_rules.signs_thoughts(model):
        return None
    start = max((i for i, c in enumerate(contents) if is_user_text(c)), default=-1)
    for i, content in enumerate(contents):
        if not isinstance(content, dict) or content.get("role") != "model":
            continue
        calls = [p for p in content_parts(content) if isinstance(p.get("functionCall"), dict)]
        signatures = [
            p["thoughtSignature"] for p in content_parts(content) if isinstance(p.get("thoughtSignature"), str)
        ]
        if any(not state.knows_signature(s) for s in signatures):
            return CORRUPTED_SIGNATURE_MESSAGE
        if i > start and calls and not calls[0].get("thoughtSignature"):
            return MISSING_SIGNATURE_MESSAGE.format(name=calls[0]["functionCall"].get("name"), position=i + 1)
    return None


def _part_error(part: dict[str, Any], where: str) -> str | None:
    """What Google's JSON → proto parser rejects in a part."""
    signature = part.get("thoughtSignature")
    if signature is not None and (not isinstance(signature, str) or b64decode(signature) is None):
        return f"Invalid value at '{where}.thought_signature' (TYPE_BYTES), Base64 decoding failed for {json.dumps(signature)}"
    call = part.get("functionCall")
    if call is not None:
        if not isinstance(call, dict) or not isinstance(call.get("args", {}), dict):
            return f"Invalid value at '{where}.function_call' (type.googleapis.com/google.protobuf.Struct)"
        if "thoughtSignature" in call:
            return (
                f"Invalid JSON payload received. Unknown name \"thoughtSignature\" at '{where}.function_call': "
                "Cannot find field."
            )
    response = part.get("functionResponse")
    if response is not None:
        value = response.get("response") if isinstance(response, dict) else response
        if not isinstance(value, dict):
            return (
                f"Invalid value at '{where}.function_response.response' "
                f"(type.googleapis.com/google.protobuf.Struct), {json.dumps(value)}"
            )
    return None


def _usage(prompt: int, candidates: int, thoughts: int) -> dict[str, Any]:
    usage: dict[str, Any] = {"promptTokenCount": prompt}
    if candidates:
        usage["candidatesTokenCount"] = candidates
    usage["totalTokenCount"] = prompt + candidates + thoughts
    usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


@dataclass
class _Answer:
    """One model answer, before it is framed as a body or a stream."""

    model: str
    response_id: str
    prompt_tokens: int
    thought: str | None
    """The thought summary part, sent only when asked for (includeThoughts or the `thoughts` fault)."""
    thoughts_tokens: int
    """Billed whenever the model thinks, whether or not a summary is sent."""
    text: str
    finish_reason: str
    calls: list[dict[str, Any]] = field(default_factory=list)
    """functionCall parts (signature included), after any text; a call answer has text only if scripted."""

    @property
    def content_withheld(self) -> bool:
        return self.finish_reason == "SAFETY"

    @property
    def candidates_tokens(self) -> int:
        calls = tokens(json.dumps([p["functionCall"] for p in self.calls])) if self.calls else 0
        return (tokens(self.text) if self.text or not self.calls else 0) + calls

    def whole(self) -> dict[str, Any]:
        parts: list[dict[str, Any]] = []
        if self.thought:
            parts.append({"text": self.thought, "thought": True})
        candidate: dict[str, Any]
        if self.content_withheld:
            candidate = {"finishReason": self.finish_reason, "index": 0, "safetyRatings": _SAFETY_RATINGS}
            candidates = 0
        else:
            if self.text or not self.calls:
                parts.append({"text": self.text})
            parts.extend(self.calls)
            candidate = {"content": {"parts": parts, "role": "model"}, "finishReason": self.finish_reason, "index": 0}
            candidates = self.candidates_tokens
        return self._wrap([candidate], _usage(self.prompt_tokens, candidates, self.thoughts_tokens))

    def chunks(self) -> Iterator[dict[str, Any]]:
        thoughts = self.thoughts_tokens
        if self.thought:
            part = {"text": self.thought, "thought": True}
            yield self._wrap(
                [{"content": {"parts": [part], "role": "model"}, "index": 0}], _usage(self.prompt_tokens, 0, thoughts)
            )
        if self.content_withheld:
            candidate = {"finishReason": self.finish_reason, "index": 0, "safetyRatings": _SAFETY_RATINGS}
            yield self._wrap([candidate], _usage(self.prompt_tokens, 0, thoughts))
            return
        pieces = split_words(self.text) if self.text or not self.calls else []
        so_far = ""
        for i, piece in enumerate(pieces):
            so_far += piece
            last = i == len(pieces) - 1 and not self.calls
            candidate = {"content": {"parts": [{"text": piece}], "role": "model"}, "index": 0}
            if last:
                candidate = {
                    "content": candidate["content"],
                    "finishReason": self.finish_reason,
                    "index": 0,
                }
            count = tokens(self.text) if last else min(tokens(so_far), tokens(self.text))
            yield self._wrap([candidate], _usage(self.prompt_tokens, count, thoughts))
        if self.calls:
            # Gemini streams function calls whole: every call (and the signature) in one chunk.
            content = {"parts": self.calls, "role": "model"}
            candidate = {"content": content, "finishReason": self.finish_reason, "index": 0}
            yield self._wrap([candidate], _usage(self.prompt_tokens, self.candidates_tokens, thoughts))

    def _wrap(self, candidates: list[dict[str, Any]], usage: dict[str, Any]) -> dict[str, Any]:
        return {
            "candidates": candidates,
            "usageMetadata": usage,
            "modelVersion": self.model,
            "responseId": self.response_id,
        }


def _special_body(fault: dict[str, Any], body: dict[str, Any], model: str) -> dict[str, Any] | None:
    """Bodies for faults that replace the whole answer with one odd-shaped object."""
    base = {"usageMetadata": _usage(prompt_tokens(body), 0, 0), "modelVersion": model, "responseId": _response_id()}
    if fault.get("block_reason"):
        return {"promptFeedback": {"blockReason": str(fault["block_reason"]), "safetyRatings": _SAFETY_RATINGS}, **base}
    if fault.get("no_candidates"):
        return base
    if fault.get("empty_parts"):
        return {"candidates": [{"content": {"role": "model"}, "finishReason": "STOP", "index": 0}], **base}
    return None


# --------------------------------------------------------------------------- handlers


async def _model_handler(request: web.Request) -> web.StreamResponse:
    info = request.match_info
    model, _, action = info["target"].rpartition(":")
    if info["version"] not in VERSIONS or action not in _ACTIONS or not model:
        return await no_route(request)

    async def answer(state: EmulatorState, record: dict[str, Any], raw: bytes, body: Any) -> web.StreamResponse:
        return await _answer(request, state, record, raw, body, model, info["version"], action)

    return await tracked(request, answer)


async def _answer(
    request: web.Request,
    state: EmulatorState,
    record: dict[str, Any],
    raw: bytes,
    body: Any,
    model: str,
    version: str,
    action: str,
) -> web.StreamResponse:
    config = state.config
    fault: dict[str, Any] = state.faults.popleft() if state.faults else {}
    if fault:
        record["fault"] = fault
    headers = request.headers
    stream = action == "streamGenerateContent"

    if fault.get("before_auth"):
        done = await _apply_fault(request, record, fault, model, version, action, stream)
        if done is not None:
            return done

    if config.gateway_token is not None and headers.get("cf-aig-authorization") != f"Bearer {config.gateway_token}":
        return unauthorized()

    key = headers.get("x-goog-api-key", "")
    cache_key: tuple[str, bytes, str] | None = None
    if (
        action == "generateContent"
        and not fault
        and "cf-aig-cache-ttl" in headers
        and headers.get("cf-aig-skip-cache", "").lower() != "true"
    ):
        cache_key = (request.path, raw, key)
        hit = state.cache.get(cache_key)
        if hit is not None:
            return web.Response(body=hit, headers=model_headers(cache_status="HIT"))

    if config.delay > 0 and not await state.watcher.sleep(request, config.delay):
        raise Gone

    method = f"google.ai.generativelanguage.{version}.GenerativeService.{action[0].upper()}{action[1:]}"
    refused = key_error(headers, config.keys, config.auth_error, method, fault)
    if refused is not None:
        return json_response(*refused)

    if fault and not fault.get("before_auth"):
        done = await _apply_fault(request, record, fault, model, version, action, stream)
        if done is not None:
            return done

    if action == "countTokens":
        return _count_tokens(body)
    if not _has_contents(body):
        return _invalid_argument()
    assert isinstance(body, dict)
    tools = parse_tools(body)
    if isinstance(tools, str):
        return _invalid_argument(tools)
    error = _thinking_error(body, model) or _contents_error(body, model, state)
    if error:
        return _invalid_argument(error)

    special = _special_body(fault, body, model)
    if special is not None:
        if stream:
            return await _stream(request, record, [special], fault, config.stream_delay)
        return json_response(200, special)

    answer = _make_answer(body, model, fault, tools, state)
    if stream:
        return await _stream(request, record, answer.chunks(), fault, config.stream_delay)
    data = dumps(answer.whole())
    if cache_key is not None:
        if len(state.cache) >= CACHE_LIMIT:
            state.cache.clear()  # crude, but keeps benchmarks with unique bodies bounded
        state.cache[cache_key] = data
    return web.Response(body=data, headers=model_headers())


def _has_contents(body: Any) -> bool:
    contents = body.get("contents") if isinstance(body, dict) else None
    return isinstance(contents, list) and bool(contents)


def _invalid_argument(message: str = INVALID_ARGUMENT_MESSAGE) -> web.Response:
    return json_response(400, {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}})


def _make_answer(
    body: dict[str, Any], model: str, fault: dict[str, Any], tools: Tools, state: EmulatorState
) -> _Answer:
    thinking = _thinking(body)
    show_thought = bool(fault.get("thoughts")) or (thinking and _include_thoughts(body))
    calls = _call_parts(planned_calls(body, tools, fault), model, state)
    if calls:
        text = str(fault["text"]) if isinstance(fault.get("text"), str) else ""
    else:
        text = answer_text(body, fault)
    thoughts = tokens(THOUGHT_TEXT) if thinking or show_thought else 0
    finish = str(fault.get("finish_reason") or "STOP")
    limit = _max_output_tokens(body)
    if limit is not None and not calls and thoughts + tokens(text) > limit:
        # Gemini stops at maxOutputTokens, thinking included: the answer is cut, finishReason MAX_TOKENS.
        thoughts = min(thoughts, limit)
        text, finish = text[: max(0, limit - thoughts - 1) * 4], "MAX_TOKENS"
    return _Answer(
        model=model,
        response_id=_response_id(),
        prompt_tokens=prompt_tokens(body),
        thought=THOUGHT_TEXT if show_thought else None,
        thoughts_tokens=thoughts,
        text=text,
        finish_reason=finish,
        calls=calls,
    )


def _max_output_tokens(body: dict[str, Any]) -> int | None:
    config = body.get("generationConfig")
    limit = config.get("maxOutputTokens") if isinstance(config, dict) else None
    return limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else None


def _count_tokens(body: Any) -> web.Response:
    """`:countTokens` takes `contents` or a whole `generateContentRequest`, never both."""
    if not isinstance(body, dict) or ("contents" in body) == ("generateContentRequest" in body):
        return _invalid_argument()
    request = body.get("generateContentRequest", body)
    if not _has_contents(request):
        return _invalid_argument()
    total = prompt_tokens(request)
    return json_response(
        200, {"totalTokens": total, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}]}
    )


async def _apply_fault(
    request: web.Request,
    record: dict[str, Any],
    fault: dict[str, Any],
    model: str,
    version: str,
    action: str,
    stream: bool,
) -> web.StreamResponse | None:
    """Apply the answer-replacing parts of a fault; None = carry on with the normal answer."""
    done = await gateway_fault(request, record, fault)
    if done is not None:
        return done
    extra = fault_headers(fault)
    if "status" in fault:
        status = int(fault["status"])
        body_value = fault["body"] if "body" in fault else _google_error(status, model, version, action, fault)
        return raw_response(status, body_value, extra, JSON_CT)
    if "body" in fault:
        return raw_response(200, fault["body"], extra, JSON_CT)
    if fault.get("malformed"):
        if stream and request.query.get("alt") == "sse":
            resp = raw_response(200, b"data: " + MALFORMED_BODY + b"\r\n\r\n", extra, SSE_CT)
            return resp
        return raw_response(200, MALFORMED_BODY, extra, JSON_CT)
    return None


async def _stream(
    request: web.Request,
    record: dict[str, Any],
    chunks: Any,
    fault: dict[str, Any],
    stream_delay: float,
) -> web.StreamResponse:
    """Write chunks one by one as SSE (alt=sse) or as a streamed JSON array, flushing each."""
    sse = request.query.get("alt") == "sse"
    response = web.StreamResponse(status=200, headers=model_headers(SSE_CT if sse else JSON_CT))
    response.enable_chunked_encoding()
    record["status"] = 200
    request[PREPARED] = response
    await response.prepare(request)
    drop_after = fault.get("stream_drop_after")
    error_after = fault.get("stream_error_after")
    first_delay = float(fault.get("stream_first_delay") or 0)
    sent = 0
    for chunk in chunks:
        if sent == drop_after:
            abort(request, record)
        if sent == error_after:
            return await _mid_stream_error(response, str(fault.get("message") or OVERLOADED_MESSAGE))
        if sent and stream_delay > 0 and not await sleep(request, stream_delay):
            raise Gone
        if sent == 1 and first_delay > 0 and not await sleep(request, first_delay):
            raise Gone
        data = dumps(chunk)
        if sse:
            frame = b"data: " + data + b"\r\n\r\n"
        else:
            frame = (b"[" if sent == 0 else b",\r\n") + data
        await response.write(frame)
        sent += 1
    if drop_after is not None and sent <= int(drop_after):
        abort(request, record)
    if error_after is not None and sent <= int(error_after):
        return await _mid_stream_error(response, str(fault.get("message") or OVERLOADED_MESSAGE))
    if not sse:
        await response.write(b"]" if sent else b"[]")
    await response.write_eof()
    return response


async def _mid_stream_error(response: web.StreamResponse, message: str) -> web.StreamResponse:
    """Google appends a pretty-printed error object, without `data:`, to an SSE stream."""
    error = {"error": {"code": 503, "message": message, "status": "UNAVAILABLE"}}
    await response.write(json.dumps(error, indent=2).encode() + b"\n")
    await response.write_eof()
    return response


# --------------------------------------------------------------------------- control API


async def _control_reset(request: web.Request) -> web.Response:
    request.app[STATE_KEY].reset()
    return web.json_response({"ok": True})


async def _control_config(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    if request.method == "GET":
        return web.json_response(state.config.as_dict())
    try:
        update = await request.json()
        if not isinstance(update, dict):
            raise TypeError("body must be an object")
        unknown = set(update) - set(EmulatorConfig().as_dict())
        if unknown:
            raise ValueError(f"unknown config fields: {sorted(unknown)}")
        new = copy.deepcopy(state.config)
        if "keys" in update:
            if not isinstance(update["keys"], list) or not all(isinstance(k, str) for k in update["keys"]):
                raise ValueError("keys must be a list of strings")
            new.keys = list(update["keys"])
        if "gateway_token" in update:
            token = update["gateway_token"]
            if token is not None and not isinstance(token, str):
                raise ValueError("gateway_token must be a string or null")
            new.gateway_token = token or None
        for name in ("delay", "stream_delay", "background_delay"):
            if name in update:
                setattr(new, name, max(0.0, float(update[name])))
        if "auth_error" in update:
            if update["auth_error"] is not None and update["auth_error"] not in AUTH_ERRORS:
                raise ValueError(f"auth_error must be null or one of {list(AUTH_ERRORS)}")
            new.auth_error = update["auth_error"]
    except (ValueError, TypeError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    state.config = new
    return web.json_response(new.as_dict())


async def _control_faults(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    if request.method == "GET":
        return web.json_response({"faults": list(state.faults)})
    if request.method == "DELETE":
        state.faults.clear()
        return web.json_response({"queued": 0})
    try:
        payload = await request.json()
        faults = payload["faults"] if isinstance(payload, dict) else None
        if not isinstance(faults, list) or not all(isinstance(f, dict) for f in faults):
            raise ValueError
    except (ValueError, KeyError):
        return web.json_response({"error": 'body must be {"faults": [{...}, ...]}'}, status=400)
    state.faults.extend(faults)
    return web.json_response({"queued": len(state.faults)})


async def _control_requests(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    return web.json_response({"requests": list(state.requests)})


async def _control_stats(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    return web.json_response({"total": state.total, "in_flight": state.in_flight, "max_in_flight": state.max_in_flight})


# --------------------------------------------------------------------------- app and CLI


def create_app(state: EmulatorState | None = None) -> web.Application:
    """The aiohttp app; pass a state to share or inspect it in-process."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STATE_KEY] = state if state is not None else EmulatorState()
    router = app.router
    router.add_post("/__emulator/reset", _control_reset)
    router.add_route("*", "/__emulator/config", _control_config)
    router.add_route("*", "/__emulator/faults", _control_faults)
    router.add_get("/__emulator/requests", _control_requests)
    router.add_get("/__emulator/stats", _control_stats)
    model_path = "/{account}/{gateway}/google-ai-studio/{version}/models/{target}"
    router.add_post(model_path, _model_handler)
    router.add_post("/v1" + model_path, _model_handler)  # the real base URL ends in /v1
    interactions.add_routes(router, "/{account}/{gateway}/google-ai-studio/{version}/interactions")
    interactions.add_routes(router, "/v1/{account}/{gateway}/google-ai-studio/{version}/interactions")
    router.add_route("*", "/{tail:.*}", no_route)
    return app


async def run(host: str, port: int, state: EmulatorState, ready: asyncio.Event | None = None) -> None:
    """Serve until cancelled or SIGTERM/SIGINT."""
    banner = f"AI Gateway emulator listening on http://{host}:{port}"
    await serve_app(create_app(state), host, port, banner, backlog=4096, ready=ready)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = cli_parser("emulators.ai_gateway", __doc__)
    parser.add_argument(
        "--key", action="append", default=[], help="a valid x-goog-api-key, AIza... or AQ... (repeatable)"
    )
    parser.add_argument("--gateway-token", default=None, help="require cf-aig-authorization: Bearer TOKEN")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before every model answer")
    parser.add_argument("--stream-delay", type=float, default=0.0, help="seconds between stream chunks")
    parser.add_argument(
        "--background-delay", type=float, default=0.3, help="seconds a background interaction or agent runs"
    )
    parser.add_argument("--auth-error", choices=AUTH_ERRORS, default=None, help="refuse every key with this reason")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    initial = EmulatorConfig(
        keys=list(args.key),
        gateway_token=args.gateway_token,
        delay=max(0.0, args.delay),
        stream_delay=max(0.0, args.stream_delay),
        background_delay=max(0.0, args.background_delay),
        auth_error=args.auth_error,
    )
    coro = run(args.host, args.port, EmulatorState(initial=initial))
    if os.environ.get("EMULATOR_NO_UVLOOP") != "1":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(coro)
            return
    asyncio.run(coro)


if __name__ == "__main__":
    main()
