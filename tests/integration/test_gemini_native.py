"""docs/API.md §7b: the official google-genai SDK, unchanged, with the function as its base URL.

The SDK talks to the function served on loopback; the function talks to the
AI Gateway emulator with the real key from the Secret Manager emulator.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors, types

from tests.support.node import node_with_packages, sdk_check

from .conftest import CLIENT_KEYS, GEMINI_KEY, Function, Gateway, leave_midway

KEY = CLIENT_KEYS["web"]
MODEL = "gemini-2.5-flash"


_clients: dict[tuple[str, str, str | None], genai.Client] = {}


def client(fn: Function, key: str = KEY, version: str | None = None) -> genai.Client:
    """One SDK client per (function, key, version), kept alive: a dropped Client closes its connection pool."""
    if (fn.url, key, version) not in _clients:
        options = (
            types.HttpOptions(base_url=fn.url, api_version=version) if version else types.HttpOptions(base_url=fn.url)
        )
        _clients[fn.url, key, version] = genai.Client(api_key=key, http_options=options)
    return _clients[fn.url, key, version]


def only_request(gateway: Gateway) -> dict[str, Any]:
    (seen,) = gateway.requests()
    return seen


def test_generate_content(fn: Function, gateway: Gateway) -> None:
    response = client(fn).models.generate_content(
        model=MODEL,
        contents="What is Cloudflare?",
        config=types.GenerateContentConfig(system_instruction="You are terse.", temperature=0.5, top_k=40),
    )
    assert response.text == "Echo: What is Cloudflare?"
    assert response.candidates and response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.usage_metadata and response.usage_metadata.total_token_count
    assert response.model_version and response.response_id
    seen = only_request(gateway)
    assert seen["path"].endswith(f"/google-ai-studio/v1beta/models/{MODEL}:generateContent")
    assert seen["headers"]["x-goog-api-key"] == GEMINI_KEY  # the real key, never the caller's
    assert KEY not in json.dumps(seen)
    assert json.loads(seen["headers"]["cf-aig-metadata"]) == {"caller": "web"}
    body = seen["body"]
    assert body["systemInstruction"]["parts"] == [{"text": "You are terse."}]
    assert body["generationConfig"]["temperature"] == 0.5


def test_generate_content_stream(fn: Function, gateway: Gateway) -> None:
    chunks = list(
        client(fn).models.generate_content_stream(model=MODEL, contents="tell me a story about the sea please")
    )
    assert len(chunks) >= 3
    assert "".join(c.text or "" for c in chunks) == "Echo: tell me a story about the sea please"
    last = chunks[-1]
    assert last.candidates and last.candidates[0].finish_reason == types.FinishReason.STOP
    seen = only_request(gateway)
    assert seen["path"].endswith(f"/models/{MODEL}:streamGenerateContent") and seen["query"] == {"alt": "sse"}
    assert seen["headers"]["x-goog-api-key"] == GEMINI_KEY


def test_stream_arrives_as_it_is_made(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"stream_first_delay": 1.5, "text": "one two three four five six"})
    started = time.monotonic()
    stream = client(fn).models.generate_content_stream(
        model=MODEL,
        contents="x",
        config=types.GenerateContentConfig(thinking_config=types.ThinkingConfig(thinking_budget=0)),
    )
    first = next(iter(stream))
    assert first.text and time.monotonic() - started < 1.0, "the first chunk was held back"
    rest = list(stream)
    assert time.monotonic() - started >= 1.5 and rest


def test_thoughts_come_back_when_asked(fn: Function) -> None:
    config = types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=512)
    )
    response = client(fn).models.generate_content(model=MODEL, contents="why?", config=config)
    assert response.candidates and response.candidates[0].content and response.candidates[0].content.parts
    assert any(part.thought for part in response.candidates[0].content.parts)
    assert response.text == "Echo: why?"


@pytest.mark.parametrize("schema_field", ["response_json_schema", "response_schema"])
def test_json_schema_request(fn: Function, gateway: Gateway, schema_field: str) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    config = types.GenerateContentConfig(response_mime_type="application/json", **{schema_field: schema})
    response = client(fn).models.generate_content(model=MODEL, contents="Where is Google?", config=config)
    assert isinstance(json.loads(response.text or ""), dict)
    sent = only_request(gateway)["body"]["generationConfig"]
    assert sent["responseMimeType"] == "application/json"
    wire = "responseJsonSchema" if schema_field == "response_json_schema" else "responseSchema"
    assert wire in sent


def test_parsed_pydantic_schema(fn: Function) -> None:
    from pydantic import BaseModel

    class City(BaseModel):
        city: str

    config = types.GenerateContentConfig(response_mime_type="application/json", response_schema=City)
    response = client(fn).models.generate_content(model=MODEL, contents="Where is Google?", config=config)
    assert isinstance(response.parsed, City)


def test_multi_turn_chat_with_an_image(fn: Function, gateway: Gateway) -> None:
    png = bytes.fromhex("89504e470d0a1a0a") + bytes(range(256))  # URL-safe base64 on the wire
    chat = client(fn).chats.create(model=MODEL)
    first = chat.send_message(["What is in this photo?", types.Part.from_bytes(data=png, mime_type="image/png")])
    second = chat.send_message("And in colour?")
    assert first.text and second.text == "Echo: And in colour?"
    sent = gateway.requests()[-1]["body"]["contents"]
    assert [c["role"] for c in sent] == ["user", "model", "user"]


def test_v1_path_is_served_too(fn: Function, gateway: Gateway) -> None:
    response = client(fn, version="v1").models.generate_content(model=MODEL, contents="hi")
    assert response.text == "Echo: hi"


def test_refused_model(fn: Function, gateway: Gateway) -> None:
    with pytest.raises(errors.ClientError) as caught:
        client(fn).models.generate_content(model="gemini-1.0-ultra", contents="hi")
    err = caught.value
    assert err.code == 400 and err.status == "INVALID_ARGUMENT"
    assert err.message and err.message.startswith("model: must be one of")
    assert gateway.requests() == []


def test_bad_client_key(fn: Function, gateway: Gateway) -> None:
    with pytest.raises(errors.ClientError) as caught:
        client(fn, key="not-a-client-key").models.generate_content(model=MODEL, contents="hi")
    assert caught.value.code == 401 and caught.value.status == "UNAUTHENTICATED"
    assert gateway.requests() == []


def test_bad_client_key_on_a_stream(fn: Function, gateway: Gateway) -> None:
    with pytest.raises(errors.ClientError) as caught:
        list(client(fn, key="nope").models.generate_content_stream(model=MODEL, contents="hi"))
    assert caught.value.code == 401
    assert gateway.requests() == []


def test_refused_field_names_it(fn: Function, gateway: Gateway) -> None:
    config = types.GenerateContentConfig(
        tools=[types.Tool(file_search=types.FileSearch(file_search_store_names=["x"]))]
    )
    with pytest.raises(errors.ClientError) as caught:
        client(fn).models.generate_content(model=MODEL, contents="hi", config=config)
    assert caught.value.code == 400 and caught.value.message == "tools[0].fileSearch: not supported by this function"
    details = caught.value.details["error"]["details"]
    assert {"field": "tools[0].fileSearch", "description": "not supported by this function"} in details[0][
        "fieldViolations"
    ]
    assert gateway.requests() == []


def test_range_violation(fn: Function) -> None:
    config = types.GenerateContentConfig(temperature=3)
    with pytest.raises(errors.ClientError) as caught:
        client(fn).models.generate_content(model=MODEL, contents="hi", config=config)
    assert caught.value.message == "generationConfig.temperature: must be <= 2"


def test_upstream_quota_is_a_client_error_with_retry_info(start_function: Any, gateway: Gateway) -> None:
    fn = start_function(UPSTREAM_MAX_ATTEMPTS="1")
    gateway.faults({"status": 429, "retry_delay": "7s"})
    with pytest.raises(errors.ClientError) as caught:
        client(fn).models.generate_content(model=MODEL, contents="hi")
    err = caught.value
    assert err.code == 429 and err.status == "RESOURCE_EXHAUSTED"
    retry = [d for d in err.details["error"]["details"] if d["@type"].endswith("RetryInfo")]
    assert retry and retry[0]["retryDelay"] == "7s"


def test_upstream_failure_is_a_server_error_without_secrets(start_function: Any, gateway: Gateway) -> None:
    fn = start_function(UPSTREAM_MAX_ATTEMPTS="1")
    gateway.faults({"status": 500, "debug_info": f"internal trace key={GEMINI_KEY}"})
    with pytest.raises(errors.ServerError) as caught:
        client(fn).models.generate_content(model=MODEL, contents="hi")
    err = caught.value
    assert err.code == 502 and err.status == "UNAVAILABLE"
    assert GEMINI_KEY not in json.dumps(err.details) and "DebugInfo" not in json.dumps(err.details)


def test_mid_stream_error_raises_in_the_sdk(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"stream_error_after": 2, "text": "one two three four five six seven"})
    got: list[str] = []
    with pytest.raises(errors.ServerError) as caught:
        for chunk in client(fn).models.generate_content_stream(model=MODEL, contents="x"):
            got.append(chunk.text or "")
    assert len(got) == 2
    assert caught.value.code == 502 and caught.value.status == "UNAVAILABLE"


def test_blocked_prompt_is_relayed(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"block_reason": "SAFETY"})
    response = client(fn).models.generate_content(model=MODEL, contents="x")
    assert response.prompt_feedback and response.prompt_feedback.block_reason == types.BlockedReason.SAFETY
    assert response.text is None


def test_gateway_guardrails_look_like_geminis_own_refusals(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"status": 424, "gateway_error": 2016})
    response = client(fn).models.generate_content(model=MODEL, contents="x")
    assert response.prompt_feedback and response.prompt_feedback.block_reason == types.BlockedReason.OTHER
    gateway.faults({"status": 424, "gateway_error": 2017})
    chunks = list(client(fn).models.generate_content_stream(model=MODEL, contents="x"))
    assert len(chunks) == 1 and chunks[0].candidates
    assert chunks[0].candidates[0].finish_reason == types.FinishReason.SAFETY


def test_caller_leaving_mid_stream_closes_the_upstream(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"stream_first_delay": 5})
    body = b'{"contents": [{"parts": [{"text": "several words of prompt"}]}]}'
    path = f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
    leave_midway(fn.server.port, path, {"x-goog-api-key": KEY}, body, until=lambda received: b"data: " in received)
    seen = gateway.the_one_request_once_disconnected()
    assert seen["disconnected"] is True
    assert seen["ended"] - seen["started"] < 2.5, "closed promptly, not after the 5 s pause"


@pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")
def test_async_client(fn: Function) -> None:
    import asyncio

    async def run() -> tuple[str | None, str]:
        aio = client(fn).aio
        whole = await aio.models.generate_content(model=MODEL, contents="async hello")
        pieces = [
            c.text or "" async for c in await aio.models.generate_content_stream(model=MODEL, contents="async stream")
        ]
        return whole.text, "".join(pieces)

    assert asyncio.run(run()) == ("Echo: async hello", "Echo: async stream")


# --------------------------------------------------------------------------- Gemini 3, tools, spend control

GEMINI3 = "gemini-3.8-flash"
WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="Weather for a city",
    parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
NO_AUTO_CALLS = types.AutomaticFunctionCallingConfig(disable=True)


def signature_bytes(value: str) -> bytes:
    """A proto `bytes` field as JSON carries it: standard or URL-safe base64, padding optional."""
    return base64.urlsafe_b64decode(value.replace("+", "-").replace("/", "_") + "=" * (-len(value) % 4))


def test_function_calling_round_trip_on_gemini_3(fn: Function, gateway: Gateway) -> None:
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER])], automatic_function_calling=NO_AUTO_CALLS
    )
    question = types.Content(role="user", parts=[types.Part.from_text(text="Weather in Rome?")])
    first = client(fn).models.generate_content(model=GEMINI3, contents=[question], config=config)
    assert first.function_calls and first.function_calls[0].name == "get_weather"
    call = first.function_calls[0]
    assert first.candidates and first.candidates[0].content and first.candidates[0].content.parts
    signature = first.candidates[0].content.parts[0].thought_signature
    assert signature, "Gemini 3 signs its first function call"

    result = types.Part.from_function_response(name="get_weather", response={"temp_c": 21})
    history = [question, first.candidates[0].content, types.Content(role="user", parts=[result])]
    second = client(fn).models.generate_content(model=GEMINI3, contents=history, config=config)
    assert second.text == 'Result: {"temp_c":21}'  # the emulator checked the signature

    sent_first, sent_second = (r["body"] for r in gateway.requests())
    (declared,) = sent_first["tools"][0]["functionDeclarations"]
    assert declared["name"] == "get_weather" and declared["parametersJsonSchema"]["required"] == ["city"]
    echoed = sent_second["contents"][1]
    assert echoed["role"] == "model"
    assert echoed["parts"][0]["functionCall"] == {"id": call.id, "name": "get_weather", "args": call.args}
    assert signature_bytes(echoed["parts"][0]["thoughtSignature"]) == signature
    assert sent_second["contents"][2]["parts"][0]["functionResponse"]["name"] == "get_weather"
    assert sent_second["tools"] == sent_first["tools"]


def test_a_tampered_signature_is_refused_upstream(fn: Function, gateway: Gateway) -> None:
    """Signatures travel as sent: the function neither checks nor repairs them, Gemini does."""
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER])], automatic_function_calling=NO_AUTO_CALLS
    )
    first = client(fn).models.generate_content(model=GEMINI3, contents="Weather in Rome?", config=config)
    assert first.candidates and first.candidates[0].content and first.candidates[0].content.parts
    echoed = first.candidates[0].content.model_copy(deep=True)
    assert echoed.parts
    echoed.parts[0].thought_signature = b"not a signature Gemini issued" * 3
    result = types.Part.from_function_response(name="get_weather", response={"temp_c": 21})
    history = [types.Content(role="user", parts=[types.Part.from_text(text="Weather in Rome?")]), echoed]
    with pytest.raises(errors.ClientError) as caught:
        client(fn).models.generate_content(
            model=GEMINI3, contents=[*history, types.Content(role="user", parts=[result])], config=config
        )
    assert caught.value.code == 400 and "Corrupted thought signature" in (caught.value.message or "")


def test_function_call_in_a_stream(fn: Function, gateway: Gateway) -> None:
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER])],
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(mode="ANY", allowed_function_names=["get_weather"])
        ),
        automatic_function_calling=NO_AUTO_CALLS,
    )
    chunks = list(client(fn).models.generate_content_stream(model=GEMINI3, contents="Weather?", config=config))
    calls = [c for chunk in chunks for c in chunk.function_calls or ()]
    assert [c.name for c in calls] == ["get_weather"]
    sent = only_request(gateway)["body"]
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}


def test_count_tokens(fn: Function, gateway: Gateway) -> None:
    counted = client(fn).models.count_tokens(model=MODEL, contents="How many tokens is this?")
    assert counted.total_tokens == len("How many tokens is this?") // 4 + 1
    seen = only_request(gateway)
    assert seen["path"].endswith(f"/google-ai-studio/v1beta/models/{MODEL}:countTokens")
    assert seen["headers"]["x-goog-api-key"] == GEMINI_KEY and KEY not in json.dumps(seen)
    assert seen["body"] == {"contents": [{"parts": [{"text": "How many tokens is this?"}], "role": "user"}]}
    (line,) = [e for e in fn.logs() if e.get("httpRequest", {}).get("requestUrl", "").endswith(":countTokens")][-1:]
    assert line["status"] == 200 and "total_tokens" not in line and "input_tokens" not in line


def test_count_tokens_with_a_whole_request(fn: Function, gateway: Gateway) -> None:
    path = f"/v1beta/models/{MODEL}:countTokens"
    inner = {
        "model": f"models/{MODEL}",
        "contents": [{"parts": [{"text": "count me"}]}],
        "tools": [{"functionDeclarations": [{"name": "f"}]}],
    }
    r = post(fn, path, {"generateContentRequest": inner})
    assert r.status_code == 200 and r.json()["totalTokens"] >= 1
    assert only_request(gateway)["body"] == {"generateContentRequest": inner}
    r = post(fn, path, {"generateContentRequest": {**inner, "model": "models/gemini-2.5-pro"}})
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert r.json()["error"]["message"].startswith("generateContentRequest.model: must be models/gemini-2.5-flash")
    r = post(fn, path, {"contents": [{"parts": [{"text": "x"}]}], "generateContentRequest": inner})
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("generateContentRequest: give exactly one")
    r = post(fn, path, {"contents": [{"parts": [{"text": "x"}]}]}, key="not-a-client-key")
    assert r.status_code == 401 and r.json()["error"]["status"] == "UNAUTHENTICATED"
    r = post(fn, "/v1beta/models/gemini-1.0-ultra:countTokens", {"contents": [{"parts": [{"text": "x"}]}]})
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("model: must be one of")
    assert len(gateway.requests()) == 1


def test_builtin_tools_need_allowed_tools(start_function: Any, fn: Function, gateway: Gateway) -> None:
    config = types.GenerateContentConfig(tools=[types.Tool(google_search=types.GoogleSearch())])
    with pytest.raises(errors.ClientError) as caught:
        client(fn).models.generate_content(model=MODEL, contents="news?", config=config)
    err = caught.value
    assert err.code == 400 and err.message and err.message.startswith("tools[0]: the built-in tool google_search")
    assert err.details["error"]["details"][0]["fieldViolations"][0]["field"] == "tools[0]"
    assert gateway.requests() == []

    allowed = start_function(ALLOWED_TOOLS="google_search")
    response = client(allowed).models.generate_content(model=MODEL, contents="news?", config=config)
    assert response.text == "Echo: news?"
    assert only_request(gateway)["body"]["tools"] == [{"googleSearch": {}}]
    with pytest.raises(errors.ClientError) as caught:
        client(allowed).models.generate_content(
            model=MODEL,
            contents="x",
            config=types.GenerateContentConfig(
                tools=[types.Tool(google_search=types.GoogleSearch()), types.Tool(url_context=types.UrlContext())]
            ),
        )
    assert caught.value.code == 400 and (caught.value.message or "").startswith(
        "tools[1]: the built-in tool url_context"
    )


def test_more_than_one_candidate_is_refused(fn: Function, gateway: Gateway) -> None:
    with pytest.raises(errors.ClientError) as caught:
        client(fn).models.generate_content(
            model=MODEL, contents="hi", config=types.GenerateContentConfig(candidate_count=2)
        )
    assert caught.value.code == 400
    assert caught.value.message == "generationConfig.candidateCount: must be 1: more candidates multiply the bill"
    assert gateway.requests() == []


def test_output_ceiling(start_function: Any, gateway: Gateway) -> None:
    capped = start_function(MAX_OUTPUT_TOKENS_LIMIT="100")
    with pytest.raises(errors.ClientError) as caught:
        client(capped).models.generate_content(
            model=MODEL, contents="hi", config=types.GenerateContentConfig(max_output_tokens=101)
        )
    assert caught.value.code == 400 and caught.value.message == "generationConfig.maxOutputTokens: must be <= 100"
    assert gateway.requests() == []
    client(capped).models.generate_content(model=MODEL, contents="hi")
    client(capped).models.generate_content(
        model=MODEL, contents="hi", config=types.GenerateContentConfig(temperature=1)
    )
    list(client(capped).models.generate_content_stream(model=MODEL, contents="hi"))
    client(capped).models.generate_content(
        model=MODEL, contents="hi", config=types.GenerateContentConfig(max_output_tokens=7)
    )
    sent = [r["body"]["generationConfig"] for r in gateway.requests()]
    assert sent == [
        {"maxOutputTokens": 100},
        {"temperature": 1, "maxOutputTokens": 100},
        {"maxOutputTokens": 100},
        {"maxOutputTokens": 7},
    ]


def test_model_alias(start_function: Any, gateway: Gateway) -> None:
    aliased = start_function(MODEL_ALIASES="fast=gemini-3.8-flash")
    response = client(aliased).models.generate_content(model="fast", contents="hi")
    assert response.text == "Echo: hi"
    assert client(aliased).models.count_tokens(model="fast", contents="hi").total_tokens
    paths = [r["path"] for r in gateway.requests()]
    assert paths[0].endswith("/models/gemini-3.8-flash:generateContent")
    assert paths[1].endswith("/models/gemini-3.8-flash:countTokens")


# --------------------------------------------------------------------------- plain HTTP, as Swift/Kotlin send it


def post(fn: Function, path: str, body: Any, key: str | None = KEY, **kw: Any) -> httpx.Response:
    headers = {"Content-Type": "application/json", **({"x-goog-api-key": key} if key else {}), **kw.pop("headers", {})}
    return fn.http.post(path, content=json.dumps(body).encode(), headers=headers, **kw)


def test_stream_without_alt_sse_is_a_json_array(fn: Function) -> None:
    r = post(fn, f"/v1beta/models/{MODEL}:streamGenerateContent", {"contents": [{"parts": [{"text": "array please"}]}]})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    chunks = r.json()
    assert isinstance(chunks, list) and len(chunks) >= 2
    text = "".join(p["text"] for c in chunks for p in c["candidates"][0]["content"]["parts"] if not p.get("thought"))
    assert text == "Echo: array please"


def test_sse_framing_is_googles(fn: Function) -> None:
    r = post(fn, f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse", {"contents": [{"parts": [{"text": "hi"}]}]})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = r.content.split(b"\r\n\r\n")
    assert events[-1] == b"" and all(e.startswith(b"data: {") for e in events[:-1])


def test_errors_have_googles_shape(fn: Function) -> None:
    r = post(fn, f"/v1beta/models/{MODEL}:generateContent", {"contents": []}, key=None)
    assert r.status_code == 401
    error = r.json()["error"]
    assert error["code"] == 401 and error["status"] == "UNAUTHENTICATED" and error["message"]
    assert r.headers["x-request-id"] in json.dumps(error["details"])
    r = post(fn, f"/v1beta/models/{MODEL}:generateContent", {"contents": []})
    assert r.status_code == 400 and r.json()["error"]["message"] == "contents: must not be empty"
    r = fn.http.get(f"/v1beta/models/{MODEL}:generateContent")
    assert r.status_code == 405 and r.json()["error"]["code"] == 405 and "POST" in r.headers["allow"]
    r = post(fn, f"/v1beta/models/{MODEL}:generateContent", "x", headers={"Content-Type": "text/plain"})
    assert r.status_code in (400, 415) and "error" in r.json()


def test_body_size_limit(start_function: Any, gateway: Gateway) -> None:
    fn = start_function(MAX_REQUEST_BYTES="2048")
    r = post(fn, f"/v1beta/models/{MODEL}:generateContent", {"contents": [{"parts": [{"text": "x" * 4096}]}]})
    assert r.status_code == 413 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert gateway.requests() == []


def test_unauthenticated_mode_never_forwards_the_callers_key(start_function: Any, gateway: Gateway) -> None:
    fn = start_function(ALLOW_UNAUTHENTICATED="true", CLIENT_API_KEYS_SECRET=None)
    response = client(fn, key="anything-at-all").models.generate_content(model=MODEL, contents="hi")
    assert response.text == "Echo: hi"
    seen = only_request(gateway)
    assert seen["headers"]["x-goog-api-key"] == GEMINI_KEY and "anything-at-all" not in json.dumps(seen)


# --------------------------------------------------------------------------- the JavaScript SDK under Node


@pytest.fixture(scope="module")
def node_sdk() -> str:
    """`node`, with tests/node's locked packages installed (.ci/run installs both on CI); fails fast without them."""
    return node_with_packages()


def run_node(node: str, fn: Function, case: str, key: str = KEY, model: str = MODEL) -> dict[str, Any]:
    return sdk_check(node, fn.url, key, model, case)


def test_node_sdk_plain_call(node_sdk: str, fn: Function, gateway: Gateway) -> None:
    result = run_node(node_sdk, fn, "plain")
    assert result == {
        "ok": True,
        "text": "Echo: plain from node",
        "finishReason": "STOP",
        "totalTokens": result["totalTokens"],
    }
    assert result["totalTokens"] > 0
    seen = only_request(gateway)
    assert seen["headers"]["x-goog-api-key"] == GEMINI_KEY and KEY not in json.dumps(seen)
    assert seen["body"]["systemInstruction"]["parts"] == [{"text": "You are terse."}]


def test_node_sdk_stream(node_sdk: str, fn: Function, gateway: Gateway) -> None:
    result = run_node(node_sdk, fn, "stream")
    assert result["ok"] and result["finishReason"] == "STOP"
    assert len(result["texts"]) >= 2 and "".join(result["texts"]) == "Echo: stream from node"
    assert only_request(gateway)["query"] == {"alt": "sse"}


def test_node_sdk_bad_key_and_mid_stream_error(node_sdk: str, fn: Function, gateway: Gateway) -> None:
    result = run_node(node_sdk, fn, "plain", key="not-a-client-key")
    assert result["ok"] is False and result["apiError"] and result["status"] == 401
    gateway.faults({"stream_error_after": 2, "text": "one two three four five six seven"})
    result = run_node(node_sdk, fn, "stream")
    assert result["ok"] is False and result["apiError"] and result["status"] == 502, result


def test_node_sdk_function_calling_and_count_tokens(node_sdk: str, fn: Function, gateway: Gateway) -> None:
    result = run_node(node_sdk, fn, "tools", model=GEMINI3)
    assert result == {
        "ok": True,
        "call": "get_weather",
        "signed": True,
        "text": 'Result: {"temp_c":21}',
        "totalTokens": len("tools from node") // 4 + 1,
    }
    first, second, counted = gateway.requests()
    assert first["body"]["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"
    assert second["body"]["contents"][1]["parts"][0]["thoughtSignature"]
    assert second["body"]["contents"][2]["parts"][0]["functionResponse"]["name"] == "get_weather"
    assert counted["path"].endswith(f"/models/{GEMINI3}:countTokens")
    assert all(r["headers"]["x-goog-api-key"] == GEMINI_KEY for r in (first, second, counted))


def test_legacy_node_sdk(node_sdk: str, fn: Function, gateway: Gateway) -> None:
    """@google/generative-ai, as on Cloudflare's AI Gateway page: sends systemInstruction role "system"."""
    result = run_node(node_sdk, fn, "legacy-plain")
    assert result == {"ok": True, "text": "Echo: legacy-plain from node", "finishReason": "STOP"}
    assert gateway.requests()[-1]["body"]["systemInstruction"]["role"] == "system"
    result = run_node(node_sdk, fn, "legacy-stream")
    assert (
        result["ok"]
        and result["finishReason"] == "STOP"
        and "".join(result["texts"]) == "Echo: legacy-stream from node"
    )
    result = run_node(node_sdk, fn, "legacy-plain", key="not-a-client-key")
    assert result["ok"] is False and result["status"] == 401
    assert all(r["headers"]["x-goog-api-key"] == GEMINI_KEY for r in gateway.requests())
