"""The Interactions API through the function (docs/API.md §7d), driven by google-genai's `client.interactions`.

The SDK's base URL is the function, its API key a client key; the function forwards to the AI Gateway
emulator (which speaks Interactions) with the real key. Ids the SDK sees are the function's sealed ids.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import _interactions as sdk_errors
from google.genai import types

from tests.support.node import node_with_packages, sdk_check

from .conftest import CLIENT_KEYS, GEMINI_KEY, Function, Gateway

MODEL = "gemini-3.8-flash"
KEY, OTHER = CLIENT_KEYS["ios-app"], CLIENT_KEYS["web"]
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
_clients: dict[tuple[str, str, str | None], genai.Client] = {}


def client(fn: Function, key: str = KEY, version: str | None = None) -> genai.Client:
    """A kept client per (function, key, version): the SDK closes its HTTP client when a Client is collected."""
    if (fn.url, key, version) not in _clients:
        options = types.HttpOptions(
            base_url=fn.url, api_version=version, retry_options=types.HttpRetryOptions(attempts=1)
        )
        _clients[fn.url, key, version] = genai.Client(api_key=key, http_options=options)
    return _clients[fn.url, key, version]


@pytest.fixture(scope="module")
def ifn(start_function: Any) -> Function:
    """Interactions with one built-in tool and callbacks to one prefix allowed."""
    function: Function = start_function(
        ALLOWED_TOOLS="google_search",
        CALLBACK_URL_PREFIXES="https://hooks.example.com/gemini",
        CALLBACK_SIGNING_SECRET="whsec_dGVzdC1jYWxsYmFjay1zZWNyZXQtZm9yLWludGVyYWN0aW9ucw",
        MAX_OUTPUT_TOKENS_LIMIT="2048",
        GOOGLE_CLOUD_PROJECT="interactions",
    )
    return function


def test_create_plain(ifn: Function, gateway: Gateway) -> None:
    interaction = client(ifn).interactions.create(model=MODEL, input="Where is Google based?")
    assert interaction.status == "completed"
    assert interaction.output_text == "Echo: Where is Google based?"
    assert interaction.id and interaction.id.startswith("ix_"), "Google's id never reaches the caller as it is"
    (seen,) = gateway.requests()
    assert seen["path"] == "/test-account/test-gateway/google-ai-studio/v1/interactions"  # the SDK's version
    assert seen["headers"]["x-goog-api-key"] == GEMINI_KEY, "the real key, never the caller's"
    assert json.loads(seen["headers"]["cf-aig-metadata"])["caller"] == "ios-app"
    assert seen["body"]["model"] == MODEL and seen["body"]["generation_config"] == {"max_output_tokens": 2048}
    assert interaction.id not in json.dumps(seen)


def test_v1beta_and_aliases(start_function: Any, gateway: Gateway) -> None:
    fn: Function = start_function(MODEL_ALIASES="fast=gemini-3.8-flash,smart=gemini-4-argon", ALLOWED_MODELS=None)
    interaction = client(fn, version="v1beta").interactions.create(model="smart", input="hi")
    assert interaction.output_text == "Echo: hi"
    seen = gateway.requests()[-1]
    assert seen["path"].endswith("/google-ai-studio/v1beta/interactions") and seen["body"]["model"] == "gemini-4-argon"
    with pytest.raises(sdk_errors.BadRequestError):
        client(fn).interactions.create(model="gemini-2.5-pro", input="hi")


def test_stream_seals_ids_and_charges_usage(ifn: Function, gateway: Gateway) -> None:
    events = list(client(ifn).interactions.create(model=MODEL, input="count five words please", stream=True))
    kinds = [e.event_type for e in events]
    assert kinds[0] == "interaction.created" and kinds[-1] == "interaction.completed" and "step.delta" in kinds
    assert events[0].interaction.id.startswith("ix_") and events[-1].interaction.id == events[0].interaction.id
    text = "".join(e.delta.text for e in events if e.event_type == "step.delta" and e.delta.type == "text")
    assert text == "Echo: count five words please"
    assert gateway.requests()[-1]["headers"]["accept"] == "text/event-stream"


def test_background_prepays_its_reservation_then_settles_to_its_usage_once(
    start_function: Any, gateway: Gateway
) -> None:
    """One never read back is paid for (its reservation); one read back costs its usage, charged once."""
    fn: Function = start_function(DAILY_TOKEN_BUDGET="100000", GOOGLE_CLOUD_PROJECT="interactions-budget")
    c = client(fn)
    started = c.interactions.create(model=MODEL, input="later", background=True)
    assert started.status == "in_progress"
    deadline = time.monotonic() + 5
    while (done := c.interactions.get(started.id)).status != "completed" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert done.output_text == "Echo: later" and done.id == started.id
    again = c.interactions.get(started.id)
    assert again.status == "completed"
    lines = [line for line in fn.logs() if line.get("route") == "interactions" and "httpRequest" in line]
    create, *reads = lines
    assert create["httpRequest"]["requestMethod"] == "POST"
    assert create["budget_spent"] == create["budget_reserved"] == create["interaction_prepaid"] > 2048
    charged = [line for line in reads if "budget_spent" in line]
    assert len(charged) == 1 and charged[0]["httpRequest"]["requestMethod"] == "GET", lines
    assert charged[0]["budget_spent"] == done.usage.total_tokens  # the prepayment settled to the usage


def test_a_function_call_turn_is_charged_its_usage(start_function: Any, gateway: Gateway) -> None:
    """`requires_action` ends a turn as much as `completed` does: its tokens are spent."""
    fn: Function = start_function(DAILY_TOKEN_BUDGET="100000", GOOGLE_CLOUD_PROJECT="interactions-calls")
    response = fn.post(
        {"model": MODEL, "input": "Weather in Oslo?", "tools": [WEATHER]},
        key=None,
        headers={"x-goog-api-key": KEY},
        path="/v1beta/interactions",
    )
    assert response.status_code == 200 and response.json()["status"] == "requires_action"
    used = response.json()["usage"]["total_tokens"]
    assert used > 0 and int(response.headers["x-budget-remaining"]) == 100_000 - used


def test_previous_interaction_continues_the_callers_own(ifn: Function, gateway: Gateway) -> None:
    c = client(ifn)
    first = c.interactions.create(model=MODEL, input="My name is Ada.")
    second = c.interactions.create(model=MODEL, input="What is my name?", previous_interaction_id=first.id)
    assert second.output_text == "Echo: What is my name?" and second.previous_interaction_id == first.id
    assert gateway.requests()[-1]["body"]["previous_interaction_id"].startswith("v1_"), "Google's own id upstream"


def test_function_call_and_result_with_thought_signature(ifn: Function, gateway: Gateway) -> None:
    c = client(ifn)
    asked = c.interactions.create(model=MODEL, input="Weather in Paris?", tools=[WEATHER])
    thought, call = asked.steps or []
    assert thought.type == "thought" and thought.signature and call.type == "function_call"
    result = {"type": "function_result", "call_id": call.id, "name": call.name, "result": {"temp_c": 21}}
    answered = c.interactions.create(model=MODEL, previous_interaction_id=asked.id, tools=[WEATHER], input=[result])
    assert answered.status == "completed" and answered.output_text == 'Result: {"temp_c":21}'
    # stateless: the SDK sends the steps back, the signature unchanged
    question = {"type": "user_input", "content": [{"type": "text", "text": "Weather in Rome?"}]}
    asked = c.interactions.create(model=MODEL, input=[question], tools=[WEATHER], store=False)
    steps = [s.model_dump(mode="json", exclude_none=True) for s in asked.steps or []]
    result = {"type": "function_result", "call_id": steps[1]["id"], "name": "get_weather", "result": "sunny"}
    answered = c.interactions.create(model=MODEL, input=[question, *steps, result], tools=[WEATHER], store=False)
    assert answered.output_text == 'Result: "sunny"'
    assert gateway.requests()[-1]["body"]["input"][1]["signature"] == steps[0]["signature"]


def test_another_callers_id_is_404_on_every_route(ifn: Function, gateway: Gateway) -> None:
    gateway.config(background_delay=5.0)  # still running when its owner cancels it
    mine = client(ifn).interactions.create(model=MODEL, input="mine", background=True)
    thief = client(ifn, OTHER)
    calls = [
        lambda: thief.interactions.get(mine.id),
        lambda: thief.interactions.delete(mine.id),
        lambda: thief.interactions.cancel(mine.id),
        lambda: thief.interactions.create(model=MODEL, input="and?", previous_interaction_id=mine.id),
    ]
    before = len(gateway.requests())
    for call in calls:
        with pytest.raises(sdk_errors.NotFoundError):
            call()
    assert len(gateway.requests()) == before, "nothing reached Google"
    forged = httpx.get(f"{ifn.url}/v1/interactions/v1_someone-elses-google-id", headers={"x-goog-api-key": OTHER})
    assert forged.status_code == 404 and forged.json()["error"]["status"] == "NOT_FOUND"
    assert client(ifn).interactions.cancel(mine.id).status == "cancelled"  # its owner still can


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"agent": "deep-research-preview-04-2026", "input": "x", "background": True}, "agent"),
        ({"model": MODEL, "input": "x", "tools": [{"type": "google_maps"}]}, "tools[0]"),
        (
            {"model": MODEL, "input": "x", "tools": [{"type": "mcp_server", "url": "https://mcp.example.com"}]},
            "tools[0]",
        ),
        (
            {"model": MODEL, "input": "x", "tools": [{"type": "google_search", "search_engine": "x"}]},
            "tools[0].search_engine",
        ),
        (
            {"model": MODEL, "input": "x", "tools": [{"type": "computer_use", "disabled_safety_policies": ["x"]}]},
            "tools[0].disabled_safety_policies",
        ),
        ({"model": MODEL, "input": "x", "surprise": 1}, "surprise"),
        ({"model": MODEL, "agent": "a", "input": "x"}, "model"),
        (
            {"model": MODEL, "input": "x", "generation_config": {"max_output_tokens": 4096}},
            "generation_config.max_output_tokens",
        ),
        ({"model": MODEL, "input": "x", "generation_config": {"video_config": {}}}, "generation_config.video_config"),
        (
            {"model": MODEL, "input": "x", "generation_config": {"speech_config": {"voice": "Kore"}}},
            "generation_config.speech_config",
        ),
        (
            {
                "model": MODEL,
                "input": [{"type": "user_input", "content": [{"type": "image", "uri": "https://x.test/a.png"}]}],
            },
            "input[0].content[0].uri",
        ),
        (
            {"model": MODEL, "input": "x", "webhook_config": {"uris": ["https://evil.example/hook"]}},
            "webhook_config.uris[0]",
        ),
        (
            {
                "model": MODEL,
                "input": "x",
                "webhook_config": {"uris": ["https://hooks.example.com@evil.example/gemini"]},
            },
            "webhook_config.uris[0]",
        ),
        (
            {"model": MODEL, "input": "x", "safety_settings": [{"type": "jailbreak", "threshold": "off"}]},
            "safety_settings[0].type",
        ),
    ],
)
def test_refused_by_field(ifn: Function, gateway: Gateway, body: dict[str, Any], field: str) -> None:
    r = httpx.post(f"{ifn.url}/v1beta/interactions", json=body, headers={"x-goog-api-key": KEY})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_request" and error["details"][0]["field"] == field, error
    assert gateway.requests() == []


def test_webhook_config_under_the_prefixes_is_forwarded(ifn: Function, gateway: Gateway) -> None:
    hook = {"uris": ["https://hooks.example.com/gemini/done"], "user_metadata": {"job": "1"}}
    r = httpx.post(
        f"{ifn.url}/v1beta/interactions",
        json={"model": MODEL, "input": "x", "webhook_config": hook},
        headers={"x-goog-api-key": KEY},
    )
    assert r.status_code == 200, r.text
    assert gateway.requests()[-1]["body"]["webhook_config"] == hook


def test_a_thinking_level_the_model_refuses_names_the_field(ifn: Function) -> None:
    body = {"model": MODEL, "input": "x", "generation_config": {"thinking_level": "minimal"}}
    r = httpx.post(f"{ifn.url}/v1beta/interactions", json=body, headers={"x-goog-api-key": KEY})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["details"][0]["field"] == "generation_config.thinking_level"


def test_no_credentials_and_a_bad_key_in_the_interactions_shape(ifn: Function) -> None:
    r = httpx.post(f"{ifn.url}/v1/interactions", json={"model": MODEL, "input": "x"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "authentication"
    with pytest.raises(sdk_errors.AuthenticationError):
        client(ifn, "not-a-client-key").interactions.create(model=MODEL, input="x")


# --------------------------------------------------------------------------- auth keys and deprecations on other routes


@pytest.mark.parametrize("reason", ["ACCESS_TOKEN_TYPE_UNSUPPORTED", "API_KEY_SERVICE_BLOCKED"])
def test_an_auth_key_refusal_is_named_for_the_operator(fn: Function, gateway: Gateway, reason: str) -> None:
    gateway.config(auth_error=reason)
    try:
        r = fn.post({"prompt": "x"})
    finally:
        gateway.config(auth_error=None)
    assert r.status_code == 502 and GEMINI_KEY not in r.text
    line = fn.access_line(r.headers["x-request-id"])
    assert line is not None and line["upstream_reason"] == reason and line["upstream_fix"], line
    assert GEMINI_KEY not in json.dumps(line)


def test_sampling_fields_a_current_model_ignores_are_warned(fn: Function) -> None:
    current = fn.post({"prompt": "x", "model": "gemini-3.8-flash", "temperature": 0.2, "top_k": 3}).json()
    assert current["warnings"] == ["temperature is ignored by gemini-3.8-flash", "top_k is ignored by gemini-3.8-flash"]
    older = fn.post({"prompt": "x", "model": "gemini-2.5-flash", "temperature": 0.2}).json()
    assert "warnings" not in older


def test_a_refused_thinking_level_names_the_routes_field(fn: Function) -> None:
    r = fn.post({"prompt": "x", "model": "gemini-3.8-flash", "thinking_level": "minimal"})
    assert r.status_code == 400 and r.json()["error"]["details"][0]["field"] == "thinking_level", r.text
    native = fn.post(
        {
            "contents": [{"parts": [{"text": "x"}]}],
            "generationConfig": {"thinkingConfig": {"thinkingLevel": "MINIMAL"}},
        },
        path="/v1beta/models/gemini-3.8-flash:generateContent",
        key=None,
        headers={"x-goog-api-key": KEY},
    )
    assert native.status_code == 400
    violations = native.json()["error"]["details"][0]["fieldViolations"]
    assert violations[0]["field"] == "generationConfig.thinkingConfig.thinkingLevel"


# --------------------------------------------------------------------------- @google/genai (Node)


@pytest.fixture(scope="module")
def node_sdk() -> str:
    return node_with_packages()


def run_node(node: str, fn: Function, case: str, arg: str | None = None, key: str = KEY) -> dict[str, Any]:
    return sdk_check(node, fn.url, key, MODEL, case, arg)


def test_node_sdk_interactions(node_sdk: str, ifn: Function, gateway: Gateway) -> None:
    plain = run_node(node_sdk, ifn, "interaction")
    assert plain["ok"] and plain["status"] == "completed" and plain["text"] == "Echo: interaction from node", plain
    assert plain["id"].startswith("ix_") and gateway.requests()[0]["path"].endswith("/v1beta/interactions")
    streamed = run_node(node_sdk, ifn, "interaction-stream")
    assert streamed["ok"] and streamed["text"] == "Echo: interaction-stream from node", streamed
    assert streamed["events"][0] == "interaction.created" and streamed["events"][-1] == "interaction.completed"
    tools = run_node(node_sdk, ifn, "interaction-tools", "Weather in Paris?")
    assert tools == {
        "ok": True,
        "call": "get_weather",
        "signed": True,
        "status": "completed",
        "text": 'Result: {"temp_c":21}',
    }
    stolen = run_node(node_sdk, ifn, "interaction-get", plain["id"], key=OTHER)
    assert stolen["ok"] is False and stolen["status"] == 404, stolen
    mine = run_node(node_sdk, ifn, "interaction-get", plain["id"])
    assert mine == {"ok": True, "id": plain["id"], "status": "completed"}
