"""The emulator's Interactions API answers the official SDK and plain HTTP the way Google does.

Why these tests: the function's Interactions routes are built and tested against this emulator, so
paths, bodies, event sequences, errors and the control API must hold. The SDK tests use google-genai
with its base URL set to the gateway prefix, exactly as an app pointed at the function would.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import _interactions as sdk_errors
from google.genai import types

from tests.emulators.conftest import AUTH_KEY, GATEWAY_TOKEN, GEMINI_KEY, Gateway

__all__: list[str] = []

MODEL = "gemini-3.8-flash"
AUTH = {"x-goog-api-key": AUTH_KEY}
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
EVENTS_TEXT = [
    "interaction.created",
    "interaction.status_update",
    "step.start",
    "step.delta",
    "step.stop",
    "step.start",
    "step.delta",
    "step.delta",
    "step.delta",
    "step.stop",
    "interaction.completed",
]


def _client(gw: Gateway, version: str | None = None, base: str | None = None) -> genai.Client:
    options = types.HttpOptions(
        base_url=base or gw.studio_url, api_version=version, retry_options=types.HttpRetryOptions(attempts=1)
    )
    return genai.Client(api_key=AUTH_KEY, http_options=options)


def _url(gw: Gateway, tail: str = "", version: str = "v1beta") -> str:
    return f"{gw.studio_url}/{version}/interactions{tail}"


def _create(gw: Gateway, body: dict[str, Any], headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
    return gw.client.post(_url(gw, **kw), json=body, headers=AUTH if headers is None else headers)


def _sse(raw: bytes) -> tuple[list[dict[str, Any]], bool]:
    """Events of an Interactions SSE body, and whether it ended with `event: done` / `data: [DONE]`."""
    frames = raw.split(b"\r\n\r\n")
    assert frames[-1] == b"", raw[-80:]
    events, done = [], False
    for frame in frames[:-1]:
        lines = frame.split(b"\r\n")
        assert len(lines) == 2 and lines[0].startswith(b"event: ") and lines[1].startswith(b"data: "), frame
        if lines[1] == b"data: [DONE]":
            assert lines[0] == b"event: done"
            done = True
            continue
        assert not done
        event = json.loads(lines[1][len(b"data: ") :])
        assert lines[0] == b"event: " + event["event_type"].encode()
        events.append(event)
    return events, done


def _error(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    return dict(body["error"])


# --------------------------------------------------------------------------- the SDK, end to end


def test_sdk_create_plain(gateway: Gateway) -> None:
    client = _client(gateway)  # kept in a name: the SDK closes its HTTP client when the Client is collected
    interaction = client.interactions.create(model=MODEL, input="Where is Google based?")
    assert interaction.id and interaction.id.startswith("v1_")
    assert interaction.status == "completed"
    assert interaction.output_text == "Echo: Where is Google based?"
    assert [s.type for s in interaction.steps or []] == ["thought", "model_output"]
    usage = interaction.usage
    assert usage is not None and usage.total_input_tokens and usage.total_output_tokens and usage.total_thought_tokens
    assert usage.total_tokens == usage.total_input_tokens + usage.total_output_tokens + usage.total_thought_tokens
    [record] = gateway.requests()
    assert record["path"] == "/test-account/test-gateway/google-ai-studio/v1/interactions"  # google-genai 3.x: v1
    assert record["headers"]["x-goog-api-key"] == AUTH_KEY and record["headers"]["accept"] == "application/json"
    assert record["body"] == {"model": MODEL, "input": "Where is Google based?"} and record["status"] == 200


@pytest.mark.parametrize("prefix", ["", "/v1"])
def test_sdk_v1beta_and_both_gateway_prefixes(gateway: Gateway, prefix: str) -> None:
    base = gateway.url + prefix + "/test-account/test-gateway/google-ai-studio"
    client = _client(gateway, "v1beta", base)
    interaction = client.interactions.create(model="gemini-3.6-flash", input="hi")
    assert interaction.output_text == "Echo: hi"
    assert gateway.requests()[-1]["path"] == prefix + "/test-account/test-gateway/google-ai-studio/v1beta/interactions"


def test_sdk_stream(gateway: Gateway) -> None:
    text = "count these five words please"
    client = _client(gateway)
    stream = client.interactions.create(model=MODEL, input=text, stream=True)
    events = list(stream)
    assert [e.event_type for e in events] == EVENTS_TEXT
    deltas = [e.delta.text for e in events if e.event_type == "step.delta" and e.delta.type == "text"]
    assert "".join(deltas) == "Echo: " + text
    completed = events[-1].interaction
    assert completed.status == "completed" and completed.usage.total_tokens > 0 and not completed.steps
    assert len({e.event_id for e in events}) == len(events)
    assert gateway.requests()[-1]["headers"]["accept"] == "text/event-stream"


def test_sdk_background_then_get(gateway: Gateway) -> None:
    client = _client(gateway)
    started = client.interactions.create(model=MODEL, input="later", background=True)
    assert started.status == "in_progress" and not started.steps and started.usage is None
    assert client.interactions.get(started.id).status == "in_progress"
    time.sleep(0.35)
    done = client.interactions.get(started.id)
    assert done.status == "completed" and done.output_text == "Echo: later"
    assert gateway.requests()[-1]["query"] == {"stream": "false"}


def test_sdk_previous_interaction_id(gateway: Gateway) -> None:
    client = _client(gateway)
    first = client.interactions.create(model=MODEL, input="My name is Ada.")
    second = client.interactions.create(model=MODEL, input="What is my name?", previous_interaction_id=first.id)
    assert second.output_text == "Echo: What is my name?"
    assert second.previous_interaction_id == first.id
    assert second.usage.total_input_tokens > first.usage.total_input_tokens  # the stored turn is billed as input
    with pytest.raises(sdk_errors.NotFoundError) as caught:
        client.interactions.create(model=MODEL, input="x", previous_interaction_id="v1_test-unknown")
    assert caught.value.body == {"error": {"code": "not_found", "message": "Interaction v1_test-unknown not found."}}


def test_sdk_function_call_and_result_stateful(gateway: Gateway) -> None:
    client = _client(gateway)
    asked = client.interactions.create(model=MODEL, input="Weather in Paris?", tools=[WEATHER])
    assert asked.status == "requires_action"
    thought, call = asked.steps or []
    assert thought.type == "thought" and thought.signature  # the signature sits on the thought before the call
    assert call.type == "function_call" and call.name == "get_weather" and call.arguments == {"city": "example"}
    result = {"type": "function_result", "call_id": call.id, "name": call.name, "result": {"temp_c": 21}}
    answered = client.interactions.create(
        model=MODEL, previous_interaction_id=asked.id, tools=[WEATHER], input=[result]
    )
    assert answered.status == "completed" and answered.output_text == 'Result: {"temp_c":21}'


def test_sdk_function_call_stateless_replays_the_signature(gateway: Gateway) -> None:
    client = _client(gateway)
    question = {"type": "user_input", "content": [{"type": "text", "text": "Weather in Paris?"}]}
    asked = client.interactions.create(model=MODEL, input=[question], tools=[WEATHER], store=False)
    steps = [s.model_dump(mode="json", exclude_none=True) for s in asked.steps or []]
    result = {"type": "function_result", "call_id": steps[1]["id"], "name": "get_weather", "result": "sunny"}
    answered = client.interactions.create(model=MODEL, input=[question, *steps, result], tools=[WEATHER], store=False)
    assert answered.output_text == 'Result: "sunny"'
    with pytest.raises(sdk_errors.NotFoundError):
        client.interactions.get(asked.id)  # store: false is never retrievable
    unsigned = [question, steps[1], result]
    with pytest.raises(sdk_errors.BadRequestError) as caught:
        client.interactions.create(model=MODEL, input=unsigned, tools=[WEATHER], store=False)
    assert "missing a thought signature" in str(caught.value)
    forged = [question, {**steps[0], "signature": base64.b64encode(b"test-forged" * 8).decode()}, steps[1], result]
    with pytest.raises(sdk_errors.BadRequestError) as caught:
        client.interactions.create(model=MODEL, input=forged, tools=[WEATHER], store=False)
    assert "Corrupted thought signature." in str(caught.value)


def test_sdk_cancel_and_delete(gateway: Gateway) -> None:
    client = _client(gateway)
    running = client.interactions.create(model=MODEL, input="slow", background=True)
    cancelled = client.interactions.cancel(running.id)
    assert cancelled.status == "cancelled"
    time.sleep(0.35)
    assert client.interactions.get(running.id).status == "cancelled"
    with pytest.raises(sdk_errors.BadRequestError):
        client.interactions.cancel(running.id)
    done = client.interactions.create(model=MODEL, input="quick")
    with pytest.raises(sdk_errors.BadRequestError):
        client.interactions.cancel(done.id)  # only background interactions can be cancelled
    client.interactions.delete(done.id)
    with pytest.raises(sdk_errors.NotFoundError):
        client.interactions.get(done.id)
    with pytest.raises(sdk_errors.NotFoundError):
        client.interactions.delete(done.id)


def test_sdk_thinking_level_refused_like_google(gateway: Gateway) -> None:
    client = _client(gateway)
    with pytest.raises(sdk_errors.BadRequestError) as caught:
        client.interactions.create(model=MODEL, input="x", generation_config={"thinking_level": "minimal"})
    assert caught.value.body == {
        "error": {
            "code": "invalid_request",
            "message": "'minimal' is not a supported thinking level for this model. Allowed values are: medium, low, high.",
        }
    }
    fast = client.interactions.create(
        model="gemini-3.6-flash", input="x", generation_config={"thinking_level": "minimal"}
    )
    assert [s.type for s in fast.steps or []] == ["model_output"] and fast.usage.total_thought_tokens == 0


# --------------------------------------------------------------------------- the wire format over plain HTTP


def test_stream_framing_event_ids_and_resume(gateway: Gateway) -> None:
    r = _create(gateway, {"model": MODEL, "input": "count these five words please", "stream": True})
    assert r.status_code == 200 and r.headers["content-type"] == "text/event-stream"
    events, done = _sse(r.content)
    assert done and [e["event_type"] for e in events] == EVENTS_TEXT
    created = events[0]["interaction"]
    assert created == {
        "id": created["id"],
        "status": "in_progress",
        "object": "interaction",
        "model": MODEL,
        "created": created["created"],
    }
    assert events[1] == {
        "event_type": "interaction.status_update",
        "interaction_id": created["id"],
        "status": "in_progress",
        "event_id": events[1]["event_id"],
    }
    assert events[2]["step"] == {"type": "thought"} and events[3]["delta"]["type"] == "thought_signature"
    assert events[5]["step"] == {"type": "model_output"} and events[6]["delta"]["type"] == "text"
    replay = gateway.client.get(_url(gateway, "/" + created["id"]), params={"stream": "true"}, headers=AUTH)
    assert _sse(replay.content) == (events, True)
    resumed = gateway.client.get(
        _url(gateway, "/" + created["id"]),
        params={"stream": "true", "last_event_id": events[6]["event_id"]},
        headers=AUTH,
    )
    assert _sse(resumed.content) == (events[7:], True)
    bad = gateway.client.get(
        _url(gateway, "/" + created["id"]), params={"stream": "true", "last_event_id": "x"}, headers=AUTH
    )
    assert bad.status_code == 400 and _error(bad)["code"] == "invalid_request"


def test_stream_function_call_events(gateway: Gateway) -> None:
    r = _create(gateway, {"model": MODEL, "input": "Weather?", "tools": [WEATHER], "stream": True, "store": False})
    events, done = _sse(r.content)
    assert done and all("event_id" not in e for e in events)  # nothing to resume when nothing is stored
    starts = [e["step"] for e in events if e["event_type"] == "step.start"]
    assert starts[0] == {"type": "thought"}
    assert starts[1] == {"type": "function_call", "id": starts[1]["id"], "name": "get_weather", "arguments": {}}
    deltas = [e["delta"] for e in events if e["event_type"] == "step.delta"]
    assert [d["type"] for d in deltas] == ["thought_signature", "arguments_delta"]
    assert json.loads(deltas[1]["arguments"]) == {"city": "example"}
    assert events[-1]["interaction"]["status"] == "requires_action"


def test_background_stream_waits_for_the_work(gateway: Gateway) -> None:
    started = time.monotonic()
    r = _create(gateway, {"model": MODEL, "input": "later", "background": True, "stream": True})
    events, done = _sse(r.content)
    assert done and time.monotonic() - started >= 0.25
    assert events[-1]["interaction"]["status"] == "completed"


def test_get_view_and_include_input(gateway: Gateway) -> None:
    created = _create(gateway, {"model": MODEL, "input": "keep me", "system_instruction": "Be terse."}).json()
    assert set(created) == {"id", "status", "object", "model", "created", "updated", "steps", "usage"}
    got = gateway.client.get(_url(gateway, "/" + created["id"]), headers=AUTH).json()
    assert got == created
    full = gateway.client.get(_url(gateway, "/" + created["id"]), params={"include_input": "true"}, headers=AUTH)
    assert full.json() == {**created, "input": "keep me"}


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"model": MODEL, "input": "x", "top_k": 3}, "parameter_unknown", 'Unknown name "top_k"'),
        ({"model": MODEL, "input": "x", "generation_config": {"top_k": 3}}, "parameter_unknown", "'generation_config'"),
        ({"model": MODEL, "agent": "deep-research-pro-preview-12-2025", "input": "x"}, "invalid_request", "Only one"),
        ({"input": "x"}, "invalid_request", "Either model or agent"),
        ({"model": MODEL}, "invalid_request", "input is required"),
        ({"model": MODEL, "input": "x", "background": True, "store": False}, "invalid_request", "requires store"),
        ({"model": MODEL, "input": "x", "stream": "yes"}, "invalid_request", "'stream'"),
        ({"model": MODEL, "input": [{"type": "nope"}]}, "invalid_request", "input[0].type"),
        ({"model": MODEL, "input": "x", "tools": [{"type": "web_browser"}]}, "invalid_request", "tools[0].type"),
        (
            {"model": MODEL, "input": "x", "tools": [{"type": "function", "name": "1bad"}]},
            "invalid_request",
            "function name",
        ),
        ({"model": MODEL, "input": "x", "system_instruction": {"parts": []}}, "invalid_request", "system_instruction"),
        (
            {"model": MODEL, "input": "x", "generation_config": {"thinking_level": "max"}},
            "invalid_request",
            "thinking_level",
        ),
        (
            {"model": "gemini-4-argon", "input": "x", "generation_config": {"thinking_level": "minimal"}},
            "invalid_request",
            "'minimal'",
        ),
        (
            {"model": "gemini-2.5-flash", "input": "x", "generation_config": {"thinking_level": "low"}},
            "invalid_request",
            "not supported",
        ),
        (
            {"model": MODEL, "input": "x", "webhook_config": {"uris": "https://example.com"}},
            "invalid_request",
            "webhook",
        ),
        ({"model": MODEL, "input": "x", "service_tier": "gold"}, "invalid_request", "service_tier"),
        ({"agent": "deep-research-pro-preview-12-2025", "input": "x"}, "invalid_request", "background=true"),
        (
            {"model": MODEL, "input": [{"type": "function_result", "call_id": "c1", "result": "x"}]},
            "invalid_request",
            "c1",
        ),
    ],
)
def test_validation_like_google(gateway: Gateway, body: dict[str, Any], code: str, message: str) -> None:
    r = _create(gateway, body)
    assert r.status_code == 400, r.text
    error = _error(r)
    assert set(error) == {"code", "message"} and error["code"] == code and message in error["message"]


def test_accepted_fields(gateway: Gateway) -> None:
    body = {
        "model": "gemini-4-argon",
        "input": [{"type": "text", "text": "look"}, {"type": "image", "data": "AA==", "mime_type": "image/png"}],
        "generation_config": {
            "temperature": 0.2,
            "top_p": 0.9,
            "thinking_level": "high",
            "thinking_summaries": "auto",
            "max_output_tokens": 4096,
            "stop_sequences": ["END"],
            "seed": 7,
            "tool_choice": {"allowed_tools": {"mode": "auto", "tools": ["get_weather"]}},
        },
        "safety_settings": [{"type": "harassment", "threshold": "block_none"}],
        "service_tier": "flex",
        "labels": {"team": "test"},
        "webhook_config": {"uris": ["https://example.com/hook"], "user_metadata": {"k": "v"}},
        "response_format": {"type": "text", "mime_type": "text/plain"},
    }
    r = _create(gateway, body)
    assert r.status_code == 200, r.text
    steps = r.json()["steps"]
    assert steps[0]["summary"][0]["text"].startswith("**Thinking**")
    assert steps[-1]["content"] == [{"type": "text", "text": "Echo: look"}]


def test_json_mode_and_output_limit(gateway: Gateway) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "n": {"type": "integer"}}}
    fmt = {"type": "text", "mime_type": "application/json", "schema": schema}
    answer = _create(gateway, {"model": MODEL, "input": "x", "response_format": fmt}).json()
    assert json.loads(answer["steps"][-1]["content"][0]["text"]) == {"city": "example", "n": 1}
    cut = _create(gateway, {"model": MODEL, "input": "word " * 50, "generation_config": {"max_output_tokens": 40}})
    assert cut.json()["status"] == "incomplete"


def test_built_in_tools_by_type(gateway: Gateway) -> None:
    tools = [{"type": "google_search"}, {"type": "url_context"}, {"type": "code_execution"}, {"type": "google_maps"}]
    answer = _create(gateway, {"model": MODEL, "input": "read https://example.org/a", "tools": tools}).json()
    kinds = [s["type"] for s in answer["steps"]]
    assert kinds == [
        "thought",
        "google_search_call",
        "google_search_result",
        "url_context_call",
        "url_context_result",
        "code_execution_call",
        "code_execution_result",
        "model_output",
    ]
    assert answer["steps"][3]["arguments"] == {"urls": ["https://example.org/a"]}
    assert answer["steps"][2]["call_id"] == answer["steps"][1]["id"]
    assert answer["usage"]["total_tool_use_tokens"] > 0


def test_deep_research_agent_runs_in_background(gateway: Gateway) -> None:
    agent = "deep-research-pro-preview-12-2025"
    started = _create(
        gateway,
        {"agent": agent, "input": "history of SSE", "background": True, "agent_config": {"type": "deep-research"}},
    ).json()
    assert started["status"] == "in_progress" and started["agent"] == agent and "model" not in started
    time.sleep(0.35)
    done = gateway.client.get(_url(gateway, "/" + started["id"]), headers=AUTH).json()
    assert done["status"] == "completed"
    assert [s["type"] for s in done["steps"]] == [
        "thought",
        "google_search_call",
        "google_search_result",
        "model_output",
    ]
    assert done["steps"][-1]["content"][0]["text"] == "Research report: history of SSE"
    unknown = _create(gateway, {"agent": "deep-research-test-unknown", "input": "x", "background": True})
    assert unknown.status_code == 404 and _error(unknown)["code"] == "not_found"
    both = _create(gateway, {"model": MODEL, "input": "x", "agent_config": {"type": "deep-research"}})
    assert both.status_code == 400


# --------------------------------------------------------------------------- auth keys and faults


def test_auth_errors_are_arrays_on_interactions(gateway: Gateway) -> None:
    missing = _create(gateway, {"model": MODEL, "input": "x"}, headers={})
    assert missing.status_code == 403 and missing.json()[0]["error"]["status"] == "PERMISSION_DENIED"
    unknown = _create(gateway, {"model": MODEL, "input": "x"}, headers={"x-goog-api-key": "AQ.Ab8RN6test-unknown-fake"})
    assert unknown.status_code == 401
    [error] = unknown.json()
    assert error["error"]["status"] == "UNAUTHENTICATED"
    assert error["error"]["details"][0]["reason"] == "ACCESS_TOKEN_TYPE_UNSUPPORTED"
    method = "google.learning.gemini.api.interactions.v1beta.InteractionsService.CreateInteractionHttp"
    assert error["error"]["details"][0]["metadata"] == {
        "service": "generativelanguage.googleapis.com",
        "method": method,
    }
    standard = _create(gateway, {"model": MODEL, "input": "x"}, headers={"x-goog-api-key": GEMINI_KEY})
    assert standard.status_code == 200  # both key formats work
    gateway.faults({"auth_error": "API_KEY_SERVICE_BLOCKED"})
    blocked = gateway.client.get(_url(gateway, "/v1_x"), headers=AUTH)
    assert (
        blocked.status_code == 403 and blocked.json()[0]["error"]["details"][0]["reason"] == "API_KEY_SERVICE_BLOCKED"
    )
    gateway.config(auth_error="ACCESS_TOKEN_TYPE_UNSUPPORTED")
    client = _client(gateway)
    with pytest.raises(sdk_errors.AuthenticationError):
        client.interactions.create(model=MODEL, input="x")


def test_gateway_token_and_unknown_version(gateway: Gateway) -> None:
    gateway.config(gateway_token=GATEWAY_TOKEN)
    assert _create(gateway, {"model": MODEL, "input": "x"}).status_code == 401
    ok = _create(
        gateway, {"model": MODEL, "input": "x"}, headers={**AUTH, "cf-aig-authorization": f"Bearer {GATEWAY_TOKEN}"}
    )
    assert ok.status_code == 200
    assert gateway.client.post(_url(gateway, version="v2"), json={}, headers=AUTH).status_code == 400


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "invalid_request"), (429, "rate_limit_exceeded"), (500, "api_error"), (503, "service_unavailable")],
)
def test_status_faults_use_the_interactions_error_shape(gateway: Gateway, status: int, code: str) -> None:
    gateway.faults({"status": status, "headers": {"retry-after": "2"}})
    r = _create(gateway, {"model": MODEL, "input": "x"})
    assert r.status_code == status and r.headers["retry-after"] == "2"
    assert set(_error(r)) == {"code", "message"} and _error(r)["code"] == code
    assert _create(gateway, {"model": MODEL, "input": "x"}).status_code == 200


def test_gateway_error_delay_drop_and_malformed(gateway: Gateway) -> None:
    gateway.faults({"gateway_error": 2003}, {"delay": 0.2}, {"drop": True}, {"malformed": True})
    limited = _create(gateway, {"model": MODEL, "input": "x"})
    assert limited.status_code == 429 and limited.json()["internalCode"] == 2003
    started = time.monotonic()
    assert _create(gateway, {"model": MODEL, "input": "x"}).status_code == 200
    assert time.monotonic() - started >= 0.2
    with pytest.raises(httpx.TransportError):
        _create(gateway, {"model": MODEL, "input": "x"})
    broken = _create(gateway, {"model": MODEL, "input": "x"})
    with pytest.raises(json.JSONDecodeError):
        broken.json()
    records = gateway.requests()
    assert [r["fault"] is not None for r in records] == [True, True, True, True]
    assert records[2]["dropped"] is True
    assert gateway.stats()["total"] == 4


def test_mid_stream_error_then_failed(gateway: Gateway) -> None:
    gateway.faults({"stream_error_after": 4, "message": "test overloaded"})
    r = _create(gateway, {"model": MODEL, "input": "a b c d e f", "stream": True})
    events, done = _sse(r.content)
    assert not done and len(events) == 5
    assert events[-1]["event_type"] == "error"
    assert events[-1]["error"] == {"code": "service_unavailable", "message": "test overloaded"}
    interaction_id = events[0]["interaction"]["id"]
    got = gateway.client.get(_url(gateway, "/" + interaction_id), headers=AUTH).json()
    assert got["status"] == "failed" and got["errors"] == [events[-1]["error"]]


def test_dropped_stream_resumes_from_last_event_id(gateway: Gateway) -> None:
    gateway.faults({"stream_drop_after": 4})
    seen: list[dict[str, Any]] = []
    body = {"model": MODEL, "input": "a b c d e f", "stream": True}
    with (
        pytest.raises(httpx.TransportError),
        gateway.client.stream("POST", _url(gateway), json=body, headers=AUTH) as r,
    ):
        buffer = b""
        for chunk in r.iter_bytes():
            buffer += chunk
            while b"\r\n\r\n" in buffer:
                frame, buffer = buffer.split(b"\r\n\r\n", 1)
                seen.append(json.loads(frame.split(b"\r\n")[1][len(b"data: ") :]))
    assert len(seen) == 4 and gateway.requests()[-1]["dropped"] is True
    rest = gateway.client.get(
        _url(gateway, "/" + seen[0]["interaction"]["id"]),
        params={"stream": "true", "last_event_id": seen[-1]["event_id"]},
        headers=AUTH,
    )
    events, done = _sse(rest.content)
    tail = ["step.start", "step.delta", "step.delta", "step.delta", "step.stop", "interaction.completed"]
    assert done and [e["event_type"] for e in seen + events] == [*EVENTS_TEXT[:5], *tail]


def test_first_delta_delay_and_scripted_calls(gateway: Gateway) -> None:
    gateway.faults(
        {"stream_first_delay": 0.2}, {"function_calls": [{"name": "lookup", "args": {"q": "x"}}, {"name": "other"}]}
    )
    started = time.monotonic()
    r = _create(gateway, {"model": MODEL, "input": "x", "stream": True})
    assert _sse(r.content)[1] and time.monotonic() - started >= 0.2
    answer = _create(gateway, {"model": MODEL, "input": "x"}).json()
    calls = [s for s in answer["steps"] if s["type"] == "function_call"]
    assert [(c["name"], c["arguments"]) for c in calls] == [("lookup", {"q": "x"}), ("other", {})]
    assert answer["steps"][0]["type"] == "thought" and answer["status"] == "requires_action"


def test_reset_forgets_interactions(gateway: Gateway) -> None:
    created = _create(gateway, {"model": MODEL, "input": "x"}).json()
    gateway.reset()
    assert gateway.client.get(_url(gateway, "/" + created["id"]), headers=AUTH).status_code == 404


ODD_VALUES: list[Any] = [None, 0, -1, 1.5, True, "", "x", [], {}, [None], [{}], [[]], {"type": {}}, [{"type": []}]]


def test_hostile_bodies_never_500(gateway: Gateway) -> None:
    fields = ["model", "agent", "input", "generation_config", "tools", "response_format", "webhook_config", "labels"]
    fields += ["safety_settings", "service_tier", "store", "background", "stream", "previous_interaction_id"]
    bodies: list[Any] = [None, [], "x", 1, {}]
    for name in fields:
        bodies += [{"model": MODEL, "input": "x", name: value} for value in ODD_VALUES]
    for name in ("thinking_level", "thinking_summaries", "tool_choice", "max_output_tokens", "stop_sequences"):
        bodies += [{"model": MODEL, "input": "x", "generation_config": {name: v}} for v in ODD_VALUES]
    for step in (
        {"type": "user_input", "content": {}},
        {"type": "function_call", "id": 1},
        {"type": "thought", "signature": 5},
    ):
        bodies.append({"model": MODEL, "input": [step]})
    bodies += [{"model": MODEL, "input": [{"type": "user_input", "content": [v]}]} for v in ODD_VALUES]
    bodies += [
        {"model": MODEL, "input": "x", "tools": [{"type": "function", "name": "f", "parameters": v}]}
        for v in ODD_VALUES
    ]
    for body in bodies:
        r = gateway.client.post(_url(gateway), content=json.dumps(body), headers=AUTH)
        assert r.status_code in (200, 400, 404), (body, r.status_code, r.text)
        if r.status_code != 200:
            assert set(_error(r)) == {"code", "message"}
