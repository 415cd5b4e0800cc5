"""Google's Interactions API behind the AI Gateway emulator: create, get, delete, cancel, SSE streams.

Why: apps now call `client.interactions.create(...)` and the function must pass these calls through; its
tests need an upstream that stores interactions, continues them by `previous_interaction_id`, runs them in
the background, streams step events, and fails the way Google fails. Mounted by
`emulators.ai_gateway.create_app` under the same gateway prefix as the model routes, so the control API
(`/__emulator/...`: faults, recorded requests, stats, reset) covers it too. The wire format and its sources
are summarised in emulators/README.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from emulators import gateway_core as core
from emulators import model_answers as answers
from emulators import model_rules
from emulators.auth_errors import key_error
from emulators.interactions_body import AGENTS, BodyError, Create, parse_create, step_contents

__all__ = ["INTERACTION_LIMIT", "Stored", "add_routes"]

INTERACTION_LIMIT = 10000
"""Stored interactions kept (oldest forgotten) so long benchmarks stay bounded."""

_SERVICE = "google.learning.gemini.api.interactions.v1beta.InteractionsService"
_TERMINAL = frozenset({"completed", "failed", "cancelled", "incomplete", "budget_exceeded", "requires_action"})
_ERROR_CODES = {
    400: ("invalid_request", core.INVALID_ARGUMENT_MESSAGE),
    401: ("authentication", "The API key is missing or invalid."),
    402: ("payment_required", "Your prepayment credits are depleted."),
    403: ("permission_denied", "The caller does not have permission"),
    404: ("not_found", "Requested entity was not found."),
    416: ("out_of_range", "Request parameter is outside the valid range."),
    429: ("rate_limit_exceeded", "You exceeded your current quota, please check your plan and billing details."),
    499: ("cancelled", "The operation was cancelled."),
    500: (
        "api_error",
        "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    ),
    503: ("service_unavailable", core.OVERLOADED_MESSAGE),
    504: ("deadline_exceeded", "Deadline expired before operation could complete."),
}
_SEARCH_SUGGESTIONS = '<div class="emulator-search">search suggestions from the emulator</div>'
MALFORMED_EVENT = b'event: step.delta\r\ndata: {"index":1,"delta":{"type":"text","text":"trunc\r\n\r\n'


def _now_iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def _error_body(status: int, code: str | None = None, message: str | None = None) -> dict[str, Any]:
    default_code, default_message = _ERROR_CODES.get(status, ("api_error", f"Unknown error (HTTP {status})."))
    return {"error": {"code": code or default_code, "message": message or default_message}}


def _error(status: int, code: str | None = None, message: str | None = None) -> web.Response:
    return core.json_response(status, _error_body(status, code, message))


def _not_found(interaction_id: str) -> web.Response:
    return _error(404, "not_found", f"Interaction {interaction_id} not found.")


# --------------------------------------------------------------------------- stored interactions


@dataclass
class Stored:
    """One interaction as the emulator keeps it; `status_at` derives its status from the clock."""

    id: str
    model: str | None
    agent: str | None
    created: float
    ready_at: float
    background: bool
    store: bool
    previous_id: str | None
    input: Any
    output_steps: list[dict[str, Any]]
    final_status: str
    usage: dict[str, Any]
    history: list[dict[str, Any]]
    """generateContent-shaped contents of the whole conversation up to and including this answer."""
    cancelled_at: float | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)

    def status_at(self, now: float) -> str:
        if self.cancelled_at is not None:
            return "cancelled"
        return "in_progress" if now < self.ready_at else self.final_status

    def head(self, status: str) -> dict[str, Any]:
        view: dict[str, Any] = {"id": self.id, "status": status, "object": "interaction"}
        view["agent" if self.agent else "model"] = self.agent or self.model
        view["created"] = _now_iso(self.created)
        return view

    def view(self, now: float, include_input: bool = False) -> dict[str, Any]:
        """The Interaction JSON: steps and usage once the work is done."""
        status = self.status_at(now)
        view = self.head(status)
        view["updated"] = _now_iso(min(now, self.ready_at) if self.cancelled_at is None else self.cancelled_at)
        if self.previous_id:
            view["previous_interaction_id"] = self.previous_id
        if status not in ("in_progress", "cancelled"):
            view["steps"] = self.output_steps
            view["usage"] = self.usage
        if self.errors and status == "failed":
            view["errors"] = self.errors
        if include_input:
            view["input"] = self.input
        return view


def _remember(state: core.EmulatorState, stored: Stored) -> None:
    state.interactions[stored.id] = stored
    while len(state.interactions) > INTERACTION_LIMIT:
        del state.interactions[next(iter(state.interactions))]


def _lookup(state: core.EmulatorState, interaction_id: str) -> Stored | None:
    found = state.interactions.get(interaction_id)
    return found if isinstance(found, Stored) else None


# --------------------------------------------------------------------------- answers


def _signature_error(steps: list[dict[str, Any]], state: core.EmulatorState) -> str | None:
    """Gemini 3+ rule for steps sent back: every function call's model run starts with a signed thought step."""
    for i, step in enumerate(steps):
        signature = step.get("signature") if step.get("type") == "thought" else None
        if isinstance(signature, str):
            if core.b64decode(signature) is None:
                return f"Invalid value at 'input[{i}].signature' (TYPE_BYTES), Base64 decoding failed for \"{signature[:40]}\""
            if not state.knows_signature(signature):
                return core.CORRUPTED_SIGNATURE_MESSAGE
    user_turns = [
        i
        for i, s in enumerate(steps)
        if s.get("type") == "user_input" and any(c.get("type") == "text" for c in s.get("content") or [])
    ]
    signed = False
    for i, step in enumerate(
        steps[(user_turns[-1] + 1 if user_turns else 0) :], start=user_turns[-1] + 1 if user_turns else 0
    ):
        kind = step.get("type")
        if kind in ("user_input", "function_result"):
            signed = False
        elif kind == "thought" and step.get("signature"):
            signed = True
        elif kind == "function_call" and not signed:
            return (
                f"Function call `{step.get('name')}` at input[{i}] is missing a thought signature: resend the thought "
                "step that preceded it, unchanged. See https://ai.google.dev/gemini-api/docs/thought-signatures."
            )
    return None


def _call_ids(contents: list[dict[str, Any]]) -> set[str]:
    return {
        str(p["functionCall"].get("id"))
        for c in contents
        for p in c.get("parts", [])
        if isinstance(p.get("functionCall"), dict)
    }


def _tool_pairs(create: Create, question: str) -> list[dict[str, Any]]:
    """Call and result steps for the built-in tools asked for; the emulator has nothing real to search or run."""
    steps: list[dict[str, Any]] = []
    for tool in create.tools:
        kind, call_id = tool.get("type"), answers.new_call_id()
        if kind == "google_search":
            call = {"type": "google_search_call", "id": call_id, "arguments": {"queries": [question or "example"]}}
            result = {
                "type": "google_search_result",
                "call_id": call_id,
                "result": [{"search_suggestions": _SEARCH_SUGGESTIONS}],
            }
        elif kind == "url_context":
            urls = [w for w in question.split() if w.startswith(("http://", "https://"))] or ["https://example.com/"]
            call = {"type": "url_context_call", "id": call_id, "arguments": {"urls": urls}}
            result = {
                "type": "url_context_result",
                "call_id": call_id,
                "result": [{"url": u, "status": "success"} for u in urls],
            }
        elif kind == "code_execution":
            code = f"print({json.dumps(question[:80])})"
            call = {"type": "code_execution_call", "id": call_id, "arguments": {"language": "python", "code": code}}
            result = {"type": "code_execution_result", "call_id": call_id, "result": question[:80] + "\n"}
        else:
            continue  # maps, file search, computer use, MCP, retrieval: accepted, nothing to show
        steps += [call, result]
    return steps


@dataclass
class _Turn:
    steps: list[dict[str, Any]]
    status: str
    usage: dict[str, Any]
    contents: list[dict[str, Any]]


def _usage(prompt: int, output: int, thoughts: int, tool_use: int) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "total_input_tokens": prompt,
        "total_output_tokens": output,
        "total_thought_tokens": thoughts,
        "total_tokens": prompt + output + thoughts + tool_use,
        "input_tokens_by_modality": [{"modality": "text", "tokens": prompt}],
    }
    if tool_use:
        usage["total_tool_use_tokens"] = tool_use
    return usage


def _model_turn(create: Create, prior: list[dict[str, Any]], state: core.EmulatorState, fault: dict[str, Any]) -> _Turn:
    """The model's answer, built with the model routes' logic (echo, JSON mode, function calls, signatures)."""
    model = create.model or ""
    contents = prior + step_contents(create.steps)
    body: dict[str, Any] = {"contents": contents}
    if create.system:
        body["systemInstruction"] = {"parts": [{"text": create.system}]}
    json_mode = create.json_mode
    if json_mode is not None:
        body["generationConfig"] = {
            "responseMimeType": "application/json",
            "responseJsonSchema": json_mode.get("schema"),
        }
    choice = create.generation.get("tool_choice") or "auto"
    allowed = choice.get("allowed_tools", {}) if isinstance(choice, dict) else {}
    mode = str(allowed.get("mode", "auto") if isinstance(choice, dict) else choice).upper()
    declarations = [
        {"name": t["name"], "parameters": t.get("parameters")} for t in create.tools if t.get("type") == "function"
    ]
    calls = answers.planned_calls(body, answers.Tools(declarations, mode, list(allowed.get("tools", []))), fault)
    thinking = model_rules.thinks(create.level)
    summary = thinking and (create.generation.get("thinking_summaries") == "auto" or bool(fault.get("thoughts")))
    steps: list[dict[str, Any]] = []
    if (model_rules.signs_thoughts(model) and (thinking or calls)) or summary:
        thought: dict[str, Any] = {"type": "thought"}
        if model_rules.signs_thoughts(model):
            thought["signature"] = state.issue_signature()
        if summary:
            thought["summary"] = [{"type": "text", "text": answers.THOUGHT_TEXT}]
        steps.append(thought)
    question = answers.last_text(body)
    tools = [] if calls else _tool_pairs(create, question)
    steps += tools
    text = (
        str(fault["text"])
        if isinstance(fault.get("text"), str)
        else ("" if calls else answers.answer_text(body, fault))
    )
    thoughts = answers.tokens(answers.THOUGHT_TEXT) if thinking else 0
    status = "requires_action" if calls else "completed"
    limit = create.generation.get("max_output_tokens")
    if isinstance(limit, int) and thoughts + answers.tokens(text) > limit:
        text, status = text[: max(0, limit - thoughts) * 4], "incomplete"
    if text or not calls:
        steps.append({"type": "model_output", "content": [{"type": "text", "text": text}]})
    steps += [{"type": "function_call", "id": c["id"], "name": c["name"], "arguments": c["args"]} for c in calls]
    output = (answers.tokens(text) if text else 0) + (answers.tokens(json.dumps(calls)) if calls else 0)
    tool_use = sum(answers.tokens(json.dumps(s)) for s in tools if s["type"].endswith("_result"))
    usage = _usage(answers.prompt_tokens(body), output, thoughts, tool_use)
    return _Turn(steps, str(fault.get("interaction_status") or status), usage, contents + step_contents(steps))


def _agent_turn(create: Create, prior: list[dict[str, Any]], fault: dict[str, Any]) -> _Turn:
    """A research agent's report: a plan, one search, and a text report about the question."""
    contents = prior + step_contents(create.steps)
    question = answers.last_text({"contents": contents})
    call_id = answers.new_call_id()
    text = str(fault["text"]) if isinstance(fault.get("text"), str) else ("Research report: " + question)[:400]
    steps: list[dict[str, Any]] = [
        {"type": "thought", "summary": [{"type": "text", "text": "Planning the research: one search, then a report."}]},
        {"type": "google_search_call", "id": call_id, "arguments": {"queries": [question or "example"]}},
        {"type": "google_search_result", "call_id": call_id, "result": [{"search_suggestions": _SEARCH_SUGGESTIONS}]},
        {"type": "model_output", "content": [{"type": "text", "text": text}]},
    ]
    usage = _usage(
        answers.prompt_tokens({"contents": contents}),
        answers.tokens(text),
        4 * answers.tokens(answers.THOUGHT_TEXT),
        258,
    )
    return _Turn(steps, str(fault.get("interaction_status") or "completed"), usage, contents + step_contents(steps))


# --------------------------------------------------------------------------- events


def _event_id(interaction_id: str, seq: int) -> str:
    return base64.urlsafe_b64encode(f"{interaction_id}/{seq}".encode()).decode().rstrip("=")


def _event_seq(interaction_id: str, event_id: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(event_id + "=" * (-len(event_id) % 4)).decode()
    except (binascii.Error, ValueError):
        return None
    owner, _, seq = text.rpartition("/")
    return int(seq) if owner == interaction_id and seq.isdigit() else None


def _step_events(index: int, step: dict[str, Any]) -> list[dict[str, Any]]:
    kind = step["type"]
    deltas: list[dict[str, Any]] = []
    start: dict[str, Any] = {"type": kind}
    if kind == "thought":
        deltas += [{"type": "thought_summary", "content": c} for c in step.get("summary", [])]
        if step.get("signature"):
            deltas.append({"type": "thought_signature", "signature": step["signature"]})
    elif kind == "model_output":
        text = "".join(c.get("text", "") for c in step.get("content", []))
        deltas += [{"type": "text", "text": piece} for piece in (answers.split_words(text) if text else [])]
    elif kind == "function_call":
        start = {"type": kind, "id": step["id"], "name": step["name"], "arguments": {}}
        deltas.append({"type": "arguments_delta", "arguments": json.dumps(step["arguments"], separators=(",", ":"))})
    else:
        start = step  # built-in tool calls and results arrive whole
    events: list[dict[str, Any]] = [
        {"event_type": "step.start", "index": index, "step": start},
        *({"event_type": "step.delta", "index": index, "delta": d} for d in deltas),
        {"event_type": "step.stop", "index": index},
    ]
    return events


def _events(stored: Stored, now: float) -> list[dict[str, Any]]:
    """Every event of the interaction's stream, as far as its status at `now` allows."""
    events: list[dict[str, Any]] = [
        {"event_type": "interaction.created", "interaction": stored.head("in_progress")},
        {"event_type": "interaction.status_update", "interaction_id": stored.id, "status": "in_progress"},
    ]
    status = stored.status_at(now)
    if status == "cancelled":
        events.append({"event_type": "interaction.status_update", "interaction_id": stored.id, "status": "cancelled"})
    elif status != "in_progress":
        for index, step in enumerate(stored.output_steps):
            events += _step_events(index, step)
        done = {**stored.head(status), "updated": _now_iso(stored.ready_at), "usage": stored.usage}
        events.append({"event_type": "interaction.completed", "interaction": done})
    return events


def _frame(event: dict[str, Any]) -> bytes:
    return f"event: {event['event_type']}\r\ndata: ".encode() + core.dumps(event) + b"\r\n\r\n"


async def _stream(
    request: web.Request,
    record: dict[str, Any],
    stored: Stored,
    fault: dict[str, Any],
    after: int = -1,
) -> web.StreamResponse:
    """Send the interaction's events after `after` as SSE; wait for background work; end with [DONE]."""
    state = request.app[core.STATE_KEY]
    response = web.StreamResponse(status=200, headers=core.model_headers(core.SSE_CT))
    response.enable_chunked_encoding()
    record["status"] = 200
    request[core.PREPARED] = response
    await response.prepare(request)
    drop_after, error_after = fault.get("stream_drop_after"), fault.get("stream_error_after")
    first_delay, stream_delay = float(fault.get("stream_first_delay") or 0), state.config.stream_delay
    sent, seq, first_delta = 0, after + 1, True
    while True:
        now = time.time()
        events = _events(stored, now)
        if seq >= len(events):
            if stored.status_at(now) != "in_progress":
                break
            if not await core.sleep(request, min(core.POLL_SECONDS * 5, max(0.0, stored.ready_at - now))):
                raise core.Gone
            continue
        event = dict(events[seq])
        if sent == drop_after:
            core.abort(request, record)
        if sent == error_after:
            return await _mid_stream_error(response, state, stored, fault, seq)
        if sent and stream_delay > 0 and not await core.sleep(request, stream_delay):
            raise core.Gone
        if event["event_type"] == "step.delta" and first_delta:
            first_delta = False
            if first_delay > 0 and not await core.sleep(request, first_delay):
                raise core.Gone
        if stored.store:
            event["event_id"] = _event_id(stored.id, seq)
        await response.write(_frame(event))
        sent, seq = sent + 1, seq + 1
    if drop_after is not None and sent <= int(drop_after):
        core.abort(request, record)
    if error_after is not None and sent <= int(error_after):
        return await _mid_stream_error(response, state, stored, fault, seq)
    await response.write(b"event: done\r\ndata: [DONE]\r\n\r\n")
    await response.write_eof()
    return response


async def _mid_stream_error(
    response: web.StreamResponse, state: core.EmulatorState, stored: Stored, fault: dict[str, Any], seq: int
) -> web.StreamResponse:
    """An `error` event ends the stream (no [DONE]); the interaction is then `failed`."""
    error = {
        "code": str(fault.get("error_code") or "service_unavailable"),
        "message": str(fault.get("message") or core.OVERLOADED_MESSAGE),
    }
    event: dict[str, Any] = {"event_type": "error", "error": error}
    if stored.store:
        event["event_id"] = _event_id(stored.id, seq)
    stored.final_status, stored.errors = "failed", [error]
    await response.write(_frame(event))
    await response.write_eof()
    return response


# --------------------------------------------------------------------------- handlers


async def _front(
    request: web.Request, state: core.EmulatorState, record: dict[str, Any], op: str
) -> tuple[dict[str, Any], web.StreamResponse | None]:
    """What every route does before its own work: fault, gateway token, delay, key, answer-replacing fault."""
    fault: dict[str, Any] = state.faults.popleft() if state.faults else {}
    if fault:
        record["fault"] = fault
    config = state.config
    stream = request.method == "POST" and "text/event-stream" in request.headers.get("accept", "")
    if fault.get("before_auth"):
        done = await _apply_fault(request, record, fault, stream)
        if done is not None:
            return fault, done
    if (
        config.gateway_token is not None
        and request.headers.get("cf-aig-authorization") != f"Bearer {config.gateway_token}"
    ):
        return fault, core.unauthorized()
    if config.delay > 0 and not await state.watcher.sleep(request, config.delay):
        raise core.Gone
    refused = key_error(request.headers, config.keys, config.auth_error, f"{_SERVICE}.{op}InteractionHttp", fault)
    if refused is not None:
        return fault, core.json_response(refused[0], [refused[1]])  # the front end wraps these in an array here
    if fault and not fault.get("before_auth"):
        return fault, await _apply_fault(request, record, fault, stream)
    return fault, None


async def _apply_fault(
    request: web.Request, record: dict[str, Any], fault: dict[str, Any], stream: bool
) -> web.StreamResponse | None:
    """Faults that replace the answer (delay, drop, gateway error, HTTP error, raw body, malformed)."""
    done = await core.gateway_fault(request, record, fault)
    if done is not None:
        return done
    extra = core.fault_headers(fault)
    if "status" in fault and "auth_error" not in fault:
        status = int(fault["status"])
        body = fault["body"] if "body" in fault else _error_body(status, fault.get("error_code"), fault.get("message"))
        return core.raw_response(status, body, extra, core.JSON_CT)
    if "body" in fault:
        return core.raw_response(200, fault["body"], extra, core.JSON_CT)
    if fault.get("malformed"):
        if stream:
            return core.raw_response(200, MALFORMED_EVENT, extra, core.SSE_CT)
        return core.raw_response(200, core.MALFORMED_BODY, extra, core.JSON_CT)
    return None


async def _create(
    request: web.Request, state: core.EmulatorState, record: dict[str, Any], body: Any
) -> web.StreamResponse:
    fault, done = await _front(request, state, record, "Create")
    if done is not None:
        return done
    try:
        create = parse_create(body)
    except BodyError as exc:
        return _error(exc.status, exc.code, exc.message)
    previous: Stored | None = None
    if create.previous_id is not None:
        previous = _lookup(state, create.previous_id)
        if previous is None:
            return _not_found(create.previous_id)
        if previous.status_at(time.time()) == "in_progress":
            return _error(400, "failed_precondition", "The previous interaction has not finished yet.")
    prior = previous.history if previous else []
    if create.agent is not None:
        if create.agent not in AGENTS:
            return _error(404, "not_found", f"Agent {create.agent} not found.")
        turn = _agent_turn(create, prior, fault)
    else:
        known = _call_ids(prior) | {str(s.get("id")) for s in create.steps if s.get("type") == "function_call"}
        stray = [s["call_id"] for s in create.steps if s.get("type") == "function_result" and s["call_id"] not in known]
        if stray:
            return _error(
                400, "invalid_request", f"function_result call_id {stray[0]} does not match any function_call."
            )
        refused = _signature_error(create.steps, state) if model_rules.signs_thoughts(create.model or "") else None
        if refused:
            return _error(400, "invalid_request", refused)
        turn = _model_turn(create, prior, state, fault)
    now = time.time()
    background = create.background or create.agent is not None
    stored = Stored(
        id="v1_" + secrets.token_urlsafe(24),
        model=create.model,
        agent=create.agent,
        created=now,
        ready_at=now + (state.config.background_delay if background else 0.0),
        background=background,
        store=create.store,
        previous_id=create.previous_id,
        input=body.get("input"),
        output_steps=turn.steps,
        final_status=turn.status,
        usage=turn.usage,
        history=turn.contents,
    )
    if create.store:
        _remember(state, stored)
    if create.stream:
        return await _stream(request, record, stored, fault)
    return core.json_response(200, stored.view(now))


async def _get(request: web.Request, state: core.EmulatorState, record: dict[str, Any], _: Any) -> web.StreamResponse:
    fault, done = await _front(request, state, record, "Get")
    if done is not None:
        return done
    interaction_id = request.match_info["id"]
    stored = _lookup(state, interaction_id)
    if stored is None:
        return _not_found(interaction_id)
    query = request.query
    if query.get("stream", "false").lower() == "true":
        after = -1
        if "last_event_id" in query:
            seq = _event_seq(stored.id, query["last_event_id"])
            if seq is None:
                return _error(
                    400, "invalid_request", f"Invalid value at 'last_event_id', \"{query['last_event_id'][:40]}\""
                )
            after = seq
        return await _stream(request, record, stored, fault, after)
    return core.json_response(200, stored.view(time.time(), query.get("include_input", "false").lower() == "true"))


async def _delete(
    request: web.Request, state: core.EmulatorState, record: dict[str, Any], _: Any
) -> web.StreamResponse:
    _, done = await _front(request, state, record, "Delete")
    if done is not None:
        return done
    interaction_id = request.match_info["id"]
    if state.interactions.pop(interaction_id, None) is None:
        return _not_found(interaction_id)
    return core.json_response(200, {})


async def _cancel(
    request: web.Request, state: core.EmulatorState, record: dict[str, Any], _: Any
) -> web.StreamResponse:
    _, done = await _front(request, state, record, "Cancel")
    if done is not None:
        return done
    interaction_id = request.match_info["id"]
    stored = _lookup(state, interaction_id)
    if stored is None:
        return _not_found(interaction_id)
    now = time.time()
    if not stored.background:
        return _error(400, "invalid_request", "Only background interactions can be cancelled.")
    status = stored.status_at(now)
    if status in _TERMINAL:
        return _error(400, "failed_precondition", f"The interaction is already {status}.")
    stored.cancelled_at = now
    return core.json_response(200, stored.view(now))


def _route(handler: Any) -> Any:
    async def serve(request: web.Request) -> web.StreamResponse:
        if request.match_info["version"] not in core.VERSIONS:
            return await core.no_route(request)

        async def answer(
            state: core.EmulatorState, record: dict[str, Any], raw: bytes, body: Any
        ) -> web.StreamResponse:
            response: web.StreamResponse = await handler(request, state, record, body)
            return response

        return await core.tracked(request, answer)

    return serve


def add_routes(router: web.UrlDispatcher, base: str) -> None:
    """Mount create/get/delete/cancel under `base` (`.../{version}/interactions`)."""
    router.add_post(base, _route(_create))
    router.add_get(base + "/{id}", _route(_get))
    router.add_delete(base + "/{id}", _route(_delete))
    router.add_post(base + "/{id}/cancel", _route(_cancel))
