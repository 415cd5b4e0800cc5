"""docs/API.md §7: the official OpenAI Python SDK, pointed at the function on loopback, just works.

Each test asserts what the SDK hands its caller (objects, exceptions), and
what reached the AI Gateway emulator (one mapping to Gemini for both routes).
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import openai
import pytest

from gemini_gateway.routes.openai.answers import ChatCompletionChunk

from .conftest import CLIENT_KEYS, Function, Gateway

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n not really an image").decode()


def client(fn: Function, key: str = CLIENT_KEYS["web"]) -> openai.OpenAI:
    # max_retries=0: the SDK retries 429/5xx by itself, which would hide what the function answered.
    return openai.OpenAI(base_url=f"{fn.url}/v1", api_key=key, max_retries=0, timeout=30)


def test_plain_completion(fn: Function, gateway: Gateway) -> None:
    completion = client(fn).chat.completions.create(
        model="gemini-2.5-flash",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "What is Cloudflare?"},
        ],
        temperature=0.2,
        max_completion_tokens=256,
        stop=["END"],
        seed=7,
        user="end-user-42",
    )
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "gemini-2.5-flash"
    (choice,) = completion.choices
    assert choice.message.role == "assistant"
    assert choice.message.content == "Echo: What is Cloudflare?"
    assert choice.finish_reason == "stop"
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens > 0
    assert usage.completion_tokens_details is not None and usage.completion_tokens_details.reasoning_tokens
    assert usage.completion_tokens > usage.completion_tokens_details.reasoning_tokens
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens == 0
    assert completion._request_id  # the function's X-Request-Id, as the SDK exposes it

    (seen,) = gateway.requests()
    assert seen["path"].endswith("/google-ai-studio/v1beta/models/gemini-2.5-flash:generateContent")
    assert seen["body"]["systemInstruction"] == {"parts": [{"text": "You are terse."}]}
    assert seen["body"]["contents"] == [{"role": "user", "parts": [{"text": "What is Cloudflare?"}]}]
    assert seen["body"]["generationConfig"] == {
        "temperature": 0.2,
        "maxOutputTokens": 256,
        "stopSequences": ["END"],
        "seed": 7,
    }
    assert json.loads(seen["headers"]["cf-aig-metadata"]) == {"user": "end-user-42", "caller": "web"}
    assert seen["headers"]["cf-aig-no-wholesale"] == "true"


def test_streamed_completion_with_usage(fn: Function, gateway: Gateway) -> None:
    stream = client(fn).chat.completions.create(
        model="models/gemini-2.5-flash",
        messages=[{"role": "user", "content": "tell me a story about the sea"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(deltas) >= 2, deltas
    assert "".join(deltas) == "Echo: tell me a story about the sea"
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.completion_tokens_details is not None
    assert (last.usage.completion_tokens_details.reasoning_tokens or 0) > 0
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert all(c.usage is None for c in chunks[:-1])
    (seen,) = gateway.requests()
    assert seen["path"].endswith("/models/gemini-2.5-flash:streamGenerateContent")
    assert seen["query"] == {"alt": "sse"}


def test_stream_without_usage_ends_with_the_finish_chunk(fn: Function) -> None:
    chunks = list(
        client(fn).chat.completions.create(
            model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].usage is None


def test_first_delta_arrives_before_the_upstream_finishes(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"stream_first_delay": 1.0, "text": "one two three four five six"})
    started = time.monotonic()
    stream = client(fn).chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "x"}],
        stream=True,
        reasoning_effort="none",
    )
    arrivals = [(c.choices[0].delta.content, time.monotonic() - started) for c in stream if c.choices]
    first = next(t for text, t in arrivals if text)
    assert first < 0.8 and arrivals[-1][1] >= 1.0, arrivals


def test_json_schema_response_format(fn: Function, gateway: Gateway) -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
    }
    completion = client(fn).chat.completions.create(
        model="gemini-2.5-pro",
        messages=[{"role": "user", "content": "Where is Google based?"}],
        response_format={"type": "json_schema", "json_schema": {"name": "place", "schema": schema, "strict": True}},
    )
    content = completion.choices[0].message.content
    assert content is not None
    assert json.loads(content) == {"city": "example", "population": 1}
    (seen,) = gateway.requests()
    assert seen["path"].endswith("/models/gemini-2.5-pro:generateContent")
    assert seen["body"]["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
        "maxOutputTokens": 8192,  # the output ceiling (MAX_OUTPUT_TOKENS_LIMIT), as no max_tokens was given
    }


def test_json_object_response_format(fn: Function, gateway: Gateway) -> None:
    completion = client(fn).chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "hi"}],
        response_format={"type": "json_object"},
    )
    assert json.loads(completion.choices[0].message.content or "") == {"answer": "Echo: hi"}
    assert gateway.requests()[0]["body"]["generationConfig"] == {
        "responseMimeType": "application/json",
        "maxOutputTokens": 8192,
    }


def test_image_data_url_reaches_the_upstream_as_inline_data(fn: Function, gateway: Gateway) -> None:
    completion = client(fn).chat.completions.create(
        model="gemini-2.5-flash",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "high"}},
                ],
            }
        ],
    )
    assert completion.choices[0].message.content == "Echo: What is in this picture?"
    (seen,) = gateway.requests()
    assert seen["body"]["contents"][0]["parts"] == [
        {"text": "What is in this picture?"},
        {"inlineData": {"mimeType": "image/png", "data": PNG}},
    ]


def test_conversation_history_round_trips(fn: Function, gateway: Gateway) -> None:
    """An SDK answer appended to the history (with its null fields) is accepted as the next turn's input."""
    sdk = client(fn)
    messages: list[Any] = [{"role": "user", "content": "Hi"}]
    first = sdk.chat.completions.create(model="gemini-2.5-flash", messages=messages)
    messages += [first.choices[0].message, {"role": "user", "content": "And again"}]
    second = sdk.chat.completions.create(model="gemini-2.5-flash", messages=messages)
    assert second.choices[0].message.content == "Echo: And again"
    roles = [c["role"] for c in gateway.requests()[-1]["body"]["contents"]]
    assert roles == ["user", "model", "user"]


def test_bad_key_raises_authentication_error(fn: Function, gateway: Gateway) -> None:
    with pytest.raises(openai.AuthenticationError) as info:
        client(fn, key="not-a-client-key").chat.completions.create(
            model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}]
        )
    error = info.value
    assert error.status_code == 401
    assert error.type == "authentication_error" and error.code == "unauthenticated"
    assert "not-a-client-key" not in str(error.body)
    assert gateway.requests() == []


def test_refused_field_raises_bad_request_naming_it(fn: Function, gateway: Gateway) -> None:
    functions: Any = [{"name": "lookup", "parameters": {"type": "object"}}]
    with pytest.raises(openai.BadRequestError) as info:
        client(fn).chat.completions.create(
            model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}], functions=functions
        )
    error = info.value
    assert error.param == "functions" and error.code == "invalid_request" and error.type == "invalid_request_error"
    assert "legacy" in error.message
    with pytest.raises(openai.BadRequestError) as info:
        client(fn).chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}], n=3)
    assert info.value.param == "n"
    assert gateway.requests() == []


def test_model_not_allowed_raises_bad_request(fn: Function, gateway: Gateway) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client(fn).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert info.value.param == "model"
    assert "gemini-2.5-flash, gemini-2.5-pro" in info.value.message
    assert gateway.requests() == []


def test_remote_image_url_is_refused(fn: Function) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client(fn).chat.completions.create(
            model="gemini-2.5-flash",
            messages=[
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}
            ],
        )
    assert info.value.param == "messages[0].content[0].image_url.url"


def test_upstream_rate_limit_raises_rate_limit_error(fn: Function, gateway: Gateway) -> None:
    gateway.faults(*[{"status": 429, "retry_delay": "0s"}] * 3)
    with pytest.raises(openai.RateLimitError) as info:
        client(fn).chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}])
    assert info.value.type == "rate_limit_error" and info.value.code == "rate_limited"
    assert info.value.response.headers["retry-after"]


def test_upstream_invalid_argument_raises_bad_request(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"status": 400})
    with pytest.raises(openai.BadRequestError) as info:
        client(fn).chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}])
    assert info.value.code == "invalid_request" and info.value.param is None


def test_failure_mid_stream_raises_in_the_sdk(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"stream_error_after": 2, "text": "one two three four five six"})
    stream = client(fn).chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "x"}], stream=True
    )
    received: list[str] = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    assert received  # the first pieces arrived before the failure
    assert info.value.code == "upstream_error" and info.value.type == "server_error"


def test_blocked_prompt_is_a_content_filter_with_a_refusal(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"block_reason": "SAFETY"})
    sdk = client(fn)
    messages: list[Any] = [{"role": "user", "content": "something bad"}]
    completion = sdk.chat.completions.create(model="gemini-2.5-flash", messages=messages)
    choice = completion.choices[0]
    assert choice.finish_reason == "content_filter"
    assert choice.message.content == "" and choice.message.refusal and "SAFETY" in choice.message.refusal
    # A chat UI keeps the refused turn in its history and carries on: the empty turn is left out upstream.
    messages += [choice.message, {"role": "user", "content": "something nice"}]
    again = sdk.chat.completions.create(model="gemini-2.5-flash", messages=messages)
    assert again.choices[0].message.content == "Echo: something nice"
    assert [c["role"] for c in gateway.requests()[-1]["body"]["contents"]] == ["user", "user"]


def test_raw_sse_wire_format_ends_with_done(fn: Function) -> None:
    """What a curl caller sees: `data: {...}` records as documented, then `data: [DONE]`."""
    body = {
        "model": "gemini-2.5-flash",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with fn.http.stream(
        "POST",
        "/v1/chat/completions",
        content=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {CLIENT_KEYS['ios-app']}", "Content-Type": "application/json"},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read().decode()
    records = [block for block in raw.split("\n\n") if block]
    assert all(r.startswith("data: ") for r in records)
    assert records[-1] == "data: [DONE]"
    chunks = [ChatCompletionChunk.model_validate_json(r[6:]) for r in records[:-1]]
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None


def test_errors_outside_the_handler_use_the_openai_shape(fn: Function) -> None:
    wrong_method = fn.http.get("/v1/chat/completions")
    assert wrong_method.status_code == 405 and "POST" in wrong_method.headers["allow"]
    assert wrong_method.json()["error"]["type"] == "invalid_request_error"
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    not_json = fn.post(path="/v1/chat/completions", content=b"{", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400
    assert not_json.json() == {
        "error": {
            "message": not_json.json()["error"]["message"],
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_json",
        }
    }
    wrong_type = fn.post({"messages": []}, path="/v1/chat/completions", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415 and wrong_type.json()["error"]["code"] == "unsupported_media_type"


def test_sdk_closing_a_stream_closes_the_upstream(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"stream_first_delay": 5})
    stream = client(fn).chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "several words of prompt"}],
        stream=True,
        reasoning_effort="none",
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    stream.close()
    seen = gateway.the_one_request_once_disconnected()
    assert seen["disconnected"] is True
    assert seen["ended"] - seen["started"] < 2.5, "closed promptly, not after the 5 s pause"
