"""gemini_gateway.routes.openai: the OpenAI chat request → our request → Gemini, and the answers back."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as fuzz_settings
from hypothesis import strategies as st

from gemini_gateway.chat.gemini_body import gateway_headers, to_gemini_body
from gemini_gateway.errors import InvalidRequest, Problem, RateLimited, Unauthenticated, UpstreamError, UpstreamTimeout
from gemini_gateway.intake import resolve_model as resolve_bare_model
from gemini_gateway.json_body import validate
from gemini_gateway.routes.openai.answers import (
    ChatCompletion,
    completion_body,
    finish_reason_of,
    usage_body,
)
from gemini_gateway.routes.openai.convert import _in_openai_terms, bare_model, to_generate_request
from gemini_gateway.routes.openai.errors import openai_error_body
from gemini_gateway.routes.openai.models import ChatCompletionRequest
from gemini_gateway.settings import load_settings

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n fake").decode()
USER = [{"role": "user", "content": "Hi"}]


def chat(**body: Any) -> ChatCompletionRequest:
    body.setdefault("messages", USER)
    return validate(ChatCompletionRequest, {"model": "gemini-2.5-flash", **body})


def gemini(**body: Any) -> dict[str, Any]:
    return to_gemini_body(to_generate_request(chat(**body)))


def refusal(**body: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        to_generate_request(chat(**body))
    return info.value


def refused_field(**body: Any) -> str:
    error = refusal(**body)
    return error.details[0].field


# --- request mapping ---------------------------------------------------------


def test_string_messages_and_system_developer_become_system_instruction() -> None:
    body = gemini(
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            {"role": "user", "content": "Bye", "name": "sam"},
        ]
    )
    assert body == {
        "contents": [
            {"role": "user", "parts": [{"text": "Hi"}]},
            {"role": "model", "parts": [{"text": "Hello!"}]},
            {"role": "user", "parts": [{"text": "Bye"}]},
        ],
        "systemInstruction": {"parts": [{"text": "You are terse.\n\nAnswer in French."}]},
    }


def test_image_data_url_becomes_inline_data() -> None:
    body = gemini(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "low"}},
                ],
            }
        ]
    )
    assert body["contents"][0]["parts"] == [
        {"text": "What is this?"},
        {"inlineData": {"mimeType": "image/png", "data": PNG}},
    ]


def test_sampling_fields_map_to_generation_config() -> None:
    body = gemini(temperature=0.5, top_p=0.9, max_tokens=100, stop="END", seed=7, reasoning_effort="low")
    assert body["generationConfig"] == {
        "temperature": 0.5,
        "topP": 0.9,
        "maxOutputTokens": 100,
        "stopSequences": ["END"],
        "seed": 7,
        "thinkingConfig": {"thinkingBudget": 1024},
    }
    assert gemini(max_completion_tokens=50, stop=["a", "b"])["generationConfig"] == {
        "maxOutputTokens": 50,
        "stopSequences": ["a", "b"],
    }
    assert gemini(reasoning_effort="none")["generationConfig"] == {"thinkingConfig": {"thinkingBudget": 0}}


@pytest.mark.parametrize(
    ("response_format", "config"),
    [
        ({"type": "text"}, None),
        ({"type": "json_object"}, {"responseMimeType": "application/json"}),
        (
            {"type": "json_schema", "json_schema": {"name": "city", "strict": True, "schema": {"type": "object"}}},
            {"responseMimeType": "application/json", "responseJsonSchema": {"type": "object"}},
        ),
        ({"type": "json_schema", "json_schema": {"name": "city"}}, {"responseMimeType": "application/json"}),
    ],
)
def test_response_format(response_format: dict[str, Any], config: dict[str, Any] | None) -> None:
    assert gemini(response_format=response_format).get("generationConfig") == config


def test_defaults_that_change_nothing_are_accepted() -> None:
    body = gemini(
        n=1,
        logprobs=False,
        presence_penalty=0,
        frequency_penalty=0.0,
        store=False,
        tools=[],
        tool_choice=None,
        modalities=["text"],
        stream=False,
        stream_options={"include_usage": True, "include_obfuscation": False},
        prompt_cache_key="k",
    )
    assert body == {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}


def test_assistant_echo_fields_that_are_null_are_dropped() -> None:
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello", "refusal": None, "tool_calls": None, "annotations": []},
        {"role": "user", "content": "Again"},
    ]
    assert len(gemini(messages=messages)["contents"]) == 3


def test_an_empty_assistant_turn_in_the_history_is_left_out() -> None:
    for empty in ("", None):
        messages = [*USER, {"role": "assistant", "content": empty, "refusal": "blocked"}, *USER]
        assert [c["role"] for c in gemini(messages=messages)["contents"]] == ["user", "user"]
    assert len(gemini(messages=[*USER, {"role": "assistant", "content": ""}])["contents"]) == 1


def test_stream_flag_and_include_usage() -> None:
    request = chat(stream=True, stream_options={"include_usage": True})
    assert to_generate_request(request).stream and request.include_usage
    assert not chat(stream=True).include_usage


def test_user_and_metadata_go_to_gateway_metadata_and_cache_to_gateway_headers() -> None:
    request = to_generate_request(chat(user="u-42", metadata={"screen": "chat"}, cache={"ttl_seconds": 3600}))
    headers = gateway_headers(request, caller="ios-app")
    assert json.loads(headers["cf-aig-metadata"]) == {"screen": "chat", "user": "u-42", "caller": "ios-app"}
    assert headers["cf-aig-cache-ttl"] == "3600"
    safety = to_generate_request(chat(user="old", safety_identifier="new"))
    assert safety.metadata == {"user": "new"}


# --- refusals, naming the field ----------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"tools": [{"type": "function", "function": {"name": "1f"}}]}, "tools[0].function.name", "pattern"),
        ({"tool_choice": {"type": "function", "function": {"name": "f"}}}, "tool_choice", "names no declared"),
        ({"functions": [{"name": "f"}]}, "functions", "legacy"),
        ({"logprobs": True}, "logprobs", "log probabilities"),
        ({"top_logprobs": 3}, "top_logprobs", "log probabilities"),
        ({"n": 2}, "n", "only 1"),
        ({"audio": {"voice": "alloy", "format": "mp3"}}, "audio", "audio"),
        ({"modalities": ["text", "audio"]}, "modalities", "text"),
        ({"presence_penalty": 0.5}, "presence_penalty", "not supported"),
        ({"store": True}, "store", "store"),
        ({"frobnicate": 1}, "frobnicate", "unknown field"),
        ({"temperature": 3}, "temperature", "<= 2"),
        ({"top_p": "1"}, "top_p", "number"),
        ({"stop": ["a", "b", "c", "d", "e", "f"]}, "stop", "at most 5"),
        ({"max_tokens": 10, "max_completion_tokens": 10}, "max_tokens", "not both"),
        ({"max_tokens": 0}, "max_tokens", ">= 1"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort", "one of"),
        ({"response_format": {"type": "json_schema"}}, "response_format.json_schema", "required"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "a b"}}},
            "response_format.json_schema.name",
            "",
        ),
        ({"metadata": {"a": "1", "b": "2", "c": "3", "d": "4"}, "user": "u"}, "metadata", "at most 4"),
        ({"metadata": {"caller": "me"}}, "metadata.caller", "reserved"),
        ({"messages": []}, "messages", "must not be empty"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages", "user message"),
        ({"messages": [{"role": "user", "content": ""}]}, "messages[0].content", "must not be empty"),
        (
            {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
            "messages[1].role",
            "last",
        ),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id", "required"),
        ({"messages": [{"role": "function", "content": "x", "name": "f"}]}, "messages[0].role", "legacy"),
        ({"messages": [{"role": "user"}]}, "messages[0].content", "required"),
        (
            {"messages": [{"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]}, *USER]},
            "messages[0].tool_calls[0].function",
            "required",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
            "messages[0].content[0].type",
            "not supported",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}
                ]
            },
            "messages[0].content[0].image_url.url",
            "does not fetch",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "data:image/_gif;base64,R0lG"}}],
                    }
                ]
            },
            "messages[0].content[0].image_url.url",
            "media type",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}],
                    }
                ]
            },
            "messages[0].content[0].image_url.url",
            "base64",
        ),
        (
            {
                "messages": [
                    {
                        "role": "system",
                        "content": [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}],
                    },
                    *USER,
                ]
            },
            "messages[0].content[0]",
            "text parts only",
        ),
    ],
)
def test_refusals_name_the_field(body: dict[str, Any], field: str, says: str) -> None:
    error = refusal(**body)
    assert error.details[0].field == field, error.details
    assert says in error.details[0].problem
    assert error.message.startswith(f"{field}: ")


def test_limits_are_checked_in_the_callers_terms() -> None:
    assert refused_field(stop=[""]) == "stop[0]"
    long_text = "x" * 4_000_001
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": long_text}]
    assert refused_field(messages=messages) == "messages[1].content[0].text"


def test_a_refusal_from_the_shared_model_is_renamed_to_the_callers_fields() -> None:
    """Should `POST /`'s model refuse something ours let through, the caller still sees its own field names."""
    request = chat(
        messages=[{"role": "system", "content": "s"}, *USER, {"role": "assistant", "content": "a"}, *USER],
        max_completion_tokens=5,
    )
    problems = [
        Problem("messages[2].content[0].text", "x"),
        Problem("max_output_tokens", "y"),
        Problem("thinking_budget", "z"),
        Problem("response_format.schema", "w"),
        Problem("system", "v"),
    ]
    renamed = _in_openai_terms(InvalidRequest("m", details=problems), request, origin=[1, 2, 3])
    assert [p.field for p in renamed.details] == [
        "messages[3].content[0].text",
        "max_completion_tokens",
        "reasoning_effort",
        "response_format.json_schema.schema",
        "messages",
    ]
    assert renamed.message == "messages[3].content[0].text: x (and 4 more)"


# --- model names -------------------------------------------------------------


@pytest.fixture
def settings() -> Any:
    env = {"CLOUDFLARE_ACCOUNT_ID": "a", "AI_GATEWAY_ID": "g", "GEMINI_API_KEY": "k", "ALLOW_UNAUTHENTICATED": "true"}
    return load_settings(
        {**env, "DEFAULT_MODEL": "gemini-2.5-flash", "ALLOWED_MODELS": "gemini-2.5-flash,gemini-2.5-pro"}
    ).settings


def resolve_model(given: str | None, settings: Any) -> str:
    return resolve_bare_model(bare_model(given), settings)


@pytest.mark.parametrize(
    ("given", "model"),
    [
        (None, "gemini-2.5-flash"),
        ("gemini-2.5-pro", "gemini-2.5-pro"),
        ("models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("google-ai-studio/gemini-2.5-flash", "gemini-2.5-flash"),
    ],
)
def test_model_names(settings: Any, given: str | None, model: str) -> None:
    assert resolve_model(given, settings) == model


@pytest.mark.parametrize(
    "given", ["gpt-4o", "models/gpt-4o", "openai/gemini-2.5-flash", "models/models/gemini-2.5-pro"]
)
def test_model_not_allowed(settings: Any, given: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        resolve_model(given, settings)
    assert info.value.details[0].field == "model"
    assert "gemini-2.5-flash, gemini-2.5-pro" in info.value.message


# --- answers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("stop", "stop"),
        ("length", "length"),
        ("content_filter", "content_filter"),
        ("recitation", "content_filter"),
        ("blocked", "content_filter"),
        ("error", "stop"),
        ("other", "stop"),
    ],
)
def test_finish_reasons(ours: str, theirs: str) -> None:
    assert finish_reason_of(ours) == theirs


def test_usage_counts_thinking_as_completion_and_splits_it_out() -> None:
    usage = {"input_tokens": 14, "output_tokens": 2, "thinking_tokens": 24, "cached_tokens": 4, "total_tokens": 40}
    assert usage_body(usage) == {
        "prompt_tokens": 14,
        "completion_tokens": 26,
        "total_tokens": 40,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 24},
    }
    missing_total = {**usage, "total_tokens": 0}
    assert usage_body(missing_total)["total_tokens"] == 40


def result(**changes: Any) -> dict[str, Any]:
    usage = {"input_tokens": 3, "output_tokens": 2, "thinking_tokens": 0, "cached_tokens": 0, "total_tokens": 5}
    base = {"request_id": "r1", "model": "gemini-2.5-flash", "text": "Hello", "finish_reason": "stop"}
    return {**base, "blocked_reason": None, "usage": usage, **changes}


def test_completion_body() -> None:
    body = completion_body(result(), created=1700000000)
    assert body == {
        "id": "chatcmpl-r1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gemini-2.5-flash",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": usage_body(result()["usage"]),
    }
    ChatCompletion.model_validate(body)  # the documented model (OpenAPI) describes what is sent


def test_a_blocked_prompt_is_a_content_filter_with_a_refusal() -> None:
    body = completion_body(result(text="", finish_reason="blocked", blocked_reason="SAFETY"), created=1)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "content_filter"
    assert choice["message"]["content"] == ""
    assert "SAFETY" in choice["message"]["refusal"]
    ChatCompletion.model_validate(body)


# --- errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (InvalidRequest.for_field("tools", "not supported"), 400, "invalid_request_error"),
        (Unauthenticated(), 401, "authentication_error"),
        (RateLimited("slow down", retry_after=2), 429, "rate_limit_error"),
        (UpstreamError("broken"), 502, "server_error"),
        (UpstreamTimeout(60), 504, "server_error"),
    ],
)
def test_error_body_in_openai_shape(error: Any, status: int, kind: str) -> None:
    assert error.status == status
    body = openai_error_body(error, "req-1")
    assert body == {
        "error": {
            "message": error.message,
            "type": kind,
            "param": "tools" if error.details else None,
            "code": error.type,
        }
    }


# --- fuzz: anything JSON is a request or a 400 naming a field, never a crash --

FIELDS = [*sorted(ChatCompletionRequest.model_fields), "tools", "tool_choice", "audio", "top_logprobs"]
NESTED = ["role", "content", "type", "text", "image_url", "url", "detail", "name", "json_schema", "schema",
          "include_usage", "tool_calls", "refusal", "ttl_seconds"]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**40), max_value=2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from([f"data:image/png;base64,{PNG}", "data:image/png;base64,@", "https://x/y.png", "json_schema"])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(NESTED) | st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=10,
)
part = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image_url", "input_audio"])},
    optional={
        "text": st.text(max_size=5) | json_values,
        "image_url": st.fixed_dictionaries({"url": scalars}) | json_values,
    },
)
message = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "developer", "user", "assistant", "tool"]) | json_values},
    optional={"content": st.text(max_size=5) | st.lists(part | json_values, max_size=3) | json_values, "name": scalars},
)
requests = st.dictionaries(
    st.sampled_from(FIELDS) | st.text(max_size=6),
    json_values | st.lists(message, min_size=1, max_size=4),
    max_size=8,
).map(lambda d: {"messages": [{"role": "user", "content": "hi"}], **d})


@fuzz_settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests)
def test_any_json_is_a_request_or_a_field_refusal(data: dict[str, Any]) -> None:
    try:
        request = to_generate_request(validate(ChatCompletionRequest, data))
    except InvalidRequest as exc:
        assert exc.details and exc.message.startswith(exc.details[0].field)
        return
    body = to_gemini_body(request)
    json.dumps(body, allow_nan=False, ensure_ascii=False).encode()
    assert body["contents"][-1]["role"] == "user"
