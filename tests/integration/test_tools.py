"""Gemini 3 and tools over real sockets: function calling with thought signatures, thinking, aliases, ceilings.

Every tool test asserts what went upstream: declarations mapped, the
signature echoed on the second turn, function responses named.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from .conftest import CLIENT_KEYS, Function, Gateway

MODEL = "gemini-3.8-flash"
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def upstream_bodies(gateway: Gateway) -> list[dict[str, Any]]:
    return [r["body"] for r in gateway.requests()]


def first_turn(fn: Function, **extra: Any) -> dict[str, Any]:
    response = fn.post({"prompt": "Weather in Rome?", "model": MODEL, "tools": [WEATHER], **extra})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_function_call_round_trip_carries_the_thought_signature(fn: Function, gateway: Gateway) -> None:
    answer = first_turn(fn, tool_choice="required")
    assert answer["finish_reason"] == "tool_calls"
    (call,) = answer["tool_calls"]
    assert call["name"] == "get_weather" and call["arguments"] == {"city": "example"}
    assert call["id"].startswith("call_")
    sent = upstream_bodies(gateway)[0]
    assert sent["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "parametersJsonSchema": WEATHER["parameters"],
                }
            ]
        }
    ]
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert sent["generationConfig"]["maxOutputTokens"] == 8192  # the ceiling, since none was asked

    second = fn.post(
        {
            "model": MODEL,
            "tools": [WEATHER],
            "messages": [
                {"role": "user", "content": "Weather in Rome?"},
                {"role": "assistant", "content": "", "tool_calls": [call]},
                {"role": "tool", "tool_call_id": call["id"], "content": {"temp_c": 21}},
            ],
        }
    )
    assert second.status_code == 200, second.text
    assert second.json()["text"].startswith("Result: ")
    contents = upstream_bodies(gateway)[1]["contents"]
    model_turn, tool_turn = contents[1], contents[2]
    assert model_turn["role"] == "model"
    (part,) = model_turn["parts"]
    assert part["functionCall"]["name"] == "get_weather" and part["thoughtSignature"]
    assert tool_turn == {
        "role": "user",
        "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}, **_id(part)}}],
    }


def _id(part: dict[str, Any]) -> dict[str, str]:
    return {"id": part["functionCall"]["id"]} if "id" in part["functionCall"] else {}


def test_parallel_calls_and_string_results(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"function_calls": [{"name": "get_weather", "args": {"city": "Rome"}}, {"name": "get_weather"}]})
    calls = first_turn(fn)["tool_calls"]
    assert len(calls) == 2
    second = fn.post(
        {
            "model": MODEL,
            "tools": [WEATHER],
            "messages": [
                {"role": "user", "content": "Weather?"},
                {"role": "assistant", "tool_calls": calls, "content": ""},
                {"role": "tool", "tool_call_id": calls[0]["id"], "content": "sunny"},
                {"role": "tool", "tool_call_id": calls[1]["id"], "content": "rain"},
            ],
        }
    )
    assert second.status_code == 200, second.text
    contents = upstream_bodies(gateway)[1]["contents"]
    signed = [p for p in contents[1]["parts"] if "thoughtSignature" in p]
    assert len(signed) == 1 and contents[1]["parts"][0] is signed[0]  # on the first call only, as Gemini sent it
    responses = [p["functionResponse"] for p in contents[2]["parts"]]
    assert [r["response"] for r in responses] == [{"result": "sunny"}, {"result": "rain"}]
    assert len(contents) == 3  # both results in one turn


@pytest.mark.parametrize(
    ("tool_id", "field"),
    [("call_abc", "messages[1].tool_calls[0].id"), ("not-ours", "messages[1].tool_calls[0].id")],
)
def test_foreign_or_forged_ids_are_a_400(fn: Function, gateway: Gateway, tool_id: str, field: str) -> None:
    call = {"id": tool_id, "name": "get_weather", "arguments": {}}
    response = fn.post(
        {
            "model": MODEL,
            "tools": [WEATHER],
            "messages": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "tool_calls": [call]},
                {"role": "tool", "tool_call_id": tool_id, "content": "x"},
            ],
        }
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == field
    assert gateway.requests() == []


def test_altered_id_is_a_400(fn: Function, gateway: Gateway) -> None:
    call = first_turn(fn)["tool_calls"][0]
    altered = call["id"][:-3] + ("AAA" if not call["id"].endswith("AAA") else "BBB")
    response = fn.post(
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": altered, "content": "1"}],
        }
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == "messages[1].tool_call_id"


def test_streamed_tool_call_event(fn: Function) -> None:
    response = fn.post({"prompt": "Weather?", "model": MODEL, "tools": [WEATHER], "stream": True})
    events = [block.split("\n", 1) for block in response.text.strip().split("\n\n")]
    names = [e[0].removeprefix("event: ") for e in events]
    assert "tool_call" in names and names[-1] == "done"
    call = json.loads(events[names.index("tool_call")][1].removeprefix("data: "))
    done = json.loads(events[-1][1].removeprefix("data: "))
    assert done["tool_calls"] == [call] and done["finish_reason"] == "tool_calls"


def test_builtin_tools_only_when_allowed(fn: Function, start_function: Any, gateway: Gateway) -> None:
    body = {"prompt": "news?", "model": MODEL, "tools": [WEATHER, {"builtin": "google_search"}]}
    refused = fn.post(body)
    assert refused.status_code == 400
    assert refused.json()["error"]["details"][0]["field"] == "tools[1]"
    allowed: Function = start_function(ALLOWED_TOOLS="google_search")
    assert allowed.post(body).status_code == 200
    assert upstream_bodies(gateway)[-1]["tools"][1] == {"googleSearch": {}}


def test_thinking_level_and_budget(fn: Function, gateway: Gateway) -> None:
    assert fn.post({"prompt": "x", "model": MODEL, "thinking_level": "low"}).status_code == 200
    assert upstream_bodies(gateway)[0]["generationConfig"]["thinkingConfig"] == {"thinkingLevel": "LOW"}
    both = fn.post({"prompt": "x", "thinking_level": "low", "thinking_budget": 100})
    assert both.status_code == 400 and both.json()["error"]["details"][0]["field"] == "thinking_level"


def test_no_sampling_defaults_are_added(fn: Function, gateway: Gateway) -> None:
    assert fn.post({"prompt": "x", "model": MODEL}).status_code == 200
    config = upstream_bodies(gateway)[0]["generationConfig"]
    assert config == {"maxOutputTokens": 8192}


def test_aliases_resolve_and_are_reported(start_function: Any, gateway: Gateway) -> None:
    aliased: Function = start_function(
        MODEL_ALIASES="fast=gemini-3.8-flash,gemini-2.0-flash=gemini-3.8-flash", ALLOWED_MODELS=None, DEFAULT_MODEL=None
    )
    answer = aliased.post({"prompt": "x", "model": "gemini-2.0-flash"}).json()
    assert answer["model"] == "gemini-3.8-flash" and answer["model_alias"] == "gemini-2.0-flash"
    assert "/models/gemini-3.8-flash:generateContent" in gateway.requests()[-1]["path"]
    refused = aliased.post({"prompt": "x", "model": "gemini-2.5-pro"})
    message = refused.json()["error"]["message"]
    assert refused.status_code == 400 and "gemini-3.8-flash" in message
    assert "fast" not in message and "gemini-2.0-flash" not in message, "alias names are the operator's, not listed"


def test_output_ceiling(start_function: Any, gateway: Gateway) -> None:
    capped: Function = start_function(MAX_OUTPUT_TOKENS_LIMIT="100")
    over = capped.post({"prompt": "x", "max_output_tokens": 101})
    assert over.status_code == 400 and over.json()["error"]["details"][0]["field"] == "max_output_tokens"
    assert capped.post({"prompt": "x", "max_output_tokens": 50}).status_code == 200
    assert capped.post({"prompt": "x"}).status_code == 200
    sent = [b["generationConfig"]["maxOutputTokens"] for b in upstream_bodies(gateway)]
    assert sent == [50, 100]


# --------------------------------------------------------------------------- OpenAI SDK


def sdk(fn: Function) -> openai.OpenAI:
    return openai.OpenAI(base_url=fn.url + "/v1", api_key=CLIENT_KEYS["ios-app"], max_retries=0)


OPENAI_TOOL: Any = {"type": "function", "function": WEATHER}


def test_openai_sdk_tool_round_trip(fn: Function, gateway: Gateway) -> None:
    client = sdk(fn)
    messages: list[Any] = [{"role": "user", "content": "Weather in Rome?"}]
    first = client.chat.completions.create(model=MODEL, messages=messages, tools=[OPENAI_TOOL], tool_choice="required")
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls or []
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "example"}
    messages.append(choice.message.model_dump())
    messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temp_c": 21})})
    second = client.chat.completions.create(model=MODEL, messages=messages, tools=[OPENAI_TOOL])
    assert (second.choices[0].message.content or "").startswith("Result: ")
    contents = upstream_bodies(gateway)[1]["contents"]
    assert contents[1]["parts"][0]["thoughtSignature"]
    assert contents[2]["parts"][0]["functionResponse"]["response"] == {"temp_c": 21}
    assert upstream_bodies(gateway)[0]["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}


def test_openai_sdk_streamed_tool_calls(fn: Function) -> None:
    stream = sdk(fn).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Weather?"}], tools=[OPENAI_TOOL], stream=True
    )
    calls: list[Any] = []
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            calls += choice.delta.tool_calls or []
            finish = choice.finish_reason or finish
    assert finish == "tool_calls"
    assert [c.function.name for c in calls] == ["get_weather"] and calls[0].id.startswith("call_")


def test_openai_reasoning_effort_by_family(fn: Function, gateway: Gateway) -> None:
    client = sdk(fn)
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}], reasoning_effort="low")
    client.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "x"}], reasoning_effort="low"
    )
    configs = [b["generationConfig"]["thinkingConfig"] for b in upstream_bodies(gateway)]
    assert configs == [{"thinkingLevel": "LOW"}, {"thinkingBudget": 1024}]


def test_openai_forged_tool_call_id_is_a_bad_request(fn: Function) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        sdk(fn).chat.completions.create(
            model=MODEL,
            messages=[
                {"role": "user", "content": "x"},
                {"role": "tool", "tool_call_id": "call_forged", "content": "1"},
            ],
        )
    assert info.value.body["param"] == "messages[1].tool_call_id"  # type: ignore[index]
