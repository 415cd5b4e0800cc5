"""gemini_gateway.routes.gemini: the Gemini request model, its refusals by field, Google's error shape."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from gemini_gateway.errors import (
    ApiError,
    Forbidden,
    Internal,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Problem,
    RateLimited,
    Unauthenticated,
    Unavailable,
    UnsupportedMediaType,
    UpstreamError,
    UpstreamTimeout,
)
from gemini_gateway.intake import GenerationRequest as RouteRequest
from gemini_gateway.intake import Limits
from gemini_gateway.intake import check_limits as _check_limits
from gemini_gateway.json_body import parse_json, validate
from gemini_gateway.routes import ROUTES
from gemini_gateway.routes.gemini.errors import google_error_body, google_status
from gemini_gateway.routes.gemini.models import CountTokensRequest, GeminiRequest
from gemini_gateway.routing import find

RAW = b"\x89PNG\r\n\x1a\n\xfb\xff\xfe image bytes?"
PNG = base64.b64encode(RAW).decode()
PNG_URLSAFE = base64.urlsafe_b64encode(RAW).decode().rstrip("=")
USER = {"role": "user", "parts": [{"text": "hi"}]}
ONE_KIND = "a part needs exactly one of text, inlineData, functionCall, functionResponse, executableCode or codeExecutionResult"


def ok(body: dict[str, Any]) -> GeminiRequest:
    return validate(GeminiRequest, parse_json(json.dumps(body).encode()))


def refused(body: Any) -> tuple[str, str]:
    """(field, problem) of the first refusal; the message always starts with them."""
    with pytest.raises(InvalidRequest) as info:
        validate(GeminiRequest, body)
    error = info.value
    assert error.details, "a refusal always names a field"
    first = error.details[0]
    assert error.message.startswith(f"{first.field}: {first.problem}")
    return first.field, first.problem


def upstream(req: GeminiRequest) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(req.upstream_body())
    return data


def upstream_with(req: GeminiRequest, ceiling: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(req.upstream_body(ceiling))
    return data


# --------------------------------------------------------------------------- what the SDKs send is accepted


def test_python_sdk_plain_call() -> None:
    assert upstream(ok({"contents": [{"parts": [{"text": "hello"}], "role": "user"}]})) == {
        "contents": [{"parts": [{"text": "hello"}], "role": "user"}]
    }


def test_python_sdk_full_config_with_snake_case_thinking_config() -> None:
    body = {
        "contents": [{"parts": [{"text": "hello"}], "role": "user"}],
        "systemInstruction": {"parts": [{"text": "terse"}], "role": "user"},
        "safetySettings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}],
        "generationConfig": {
            "temperature": 0.5,
            "topK": 40.0,
            "responseMimeType": "application/json",
            "responseJsonSchema": {"type": "object"},
            "thinkingConfig": {"include_thoughts": True, "thinking_budget": 0},
        },
    }
    sent = upstream(ok(body))
    assert sent["generationConfig"]["thinkingConfig"] == {"includeThoughts": True, "thinkingBudget": 0}
    assert sent["generationConfig"]["topK"] == 40.0
    assert sent["systemInstruction"] == body["systemInstruction"]
    assert sent["safetySettings"] == body["safetySettings"]


def test_chat_history_echoes_thoughts_and_signatures() -> None:
    signature = base64.urlsafe_b64encode(b"\x00\xff opaque").decode()
    body = {
        "contents": [
            USER,
            {
                "role": "model",
                "parts": [{"text": "thinking...", "thought": True}, {"text": "", "thoughtSignature": signature}],
            },
            {
                "role": "user",
                "parts": [{"text": "and?"}, {"inlineData": {"mimeType": "image/png", "data": PNG_URLSAFE}}],
            },
        ],
        "generationConfig": {},
    }
    assert upstream(ok(body)) == body


def test_everything_documented_in_generation_config() -> None:
    config = {
        "candidateCount": 1,
        "stopSequences": ["END", "STOP"],
        "maxOutputTokens": 1024,
        "temperature": 2,
        "topP": 0,
        "topK": 1,
        "seed": -7,
        "responseMimeType": "text/x.enum",
        "responseSchema": {"type": "STRING", "enum": ["a", "b"]},
        "presencePenalty": -0.5,
        "frequencyPenalty": 1.5,
        "responseLogprobs": True,
        "logprobs": 20,
        "enableEnhancedCivicAnswers": False,
        "responseModalities": ["TEXT", "IMAGE"],
        "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}},
        "thinkingConfig": {"includeThoughts": True, "thinkingBudget": -1, "thinkingLevel": "LOW"},
        "imageConfig": {"aspectRatio": "16:9"},
        "mediaResolution": "MEDIA_RESOLUTION_LOW",
    }
    assert upstream(ok({"contents": [USER], "generationConfig": config}))["generationConfig"] == config


def test_role_may_be_left_out_and_null_is_absent() -> None:
    req = ok({"contents": [{"parts": [{"text": "x"}]}], "systemInstruction": None})
    assert upstream(req)["contents"] == [{"parts": [{"text": "x"}]}]


def test_integers_stay_integers_and_unicode_survives() -> None:
    sent = upstream(ok({"contents": [{"parts": [{"text": "héllo ✓"}]}], "generationConfig": {"topK": 40, "seed": 3}}))
    assert sent["generationConfig"] == {"topK": 40, "seed": 3}
    assert sent["contents"][0]["parts"][0]["text"] == "héllo ✓"


# --------------------------------------------------------------------------- refusals, by field


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ({}, "contents", "required"),
        ({"contents": []}, "contents", "must not be empty"),
        ({"contents": [{"parts": []}]}, "contents[0].parts", "must not be empty"),
        (
            {"contents": [{"role": "system", "parts": [{"text": "x"}]}]},
            "contents[0].role",
            "must be one of 'user' or 'model'",
        ),
        ({"contents": [{"parts": [{}]}]}, "contents[0].parts[0].text", ONE_KIND),
        ({"contents": [{"parts": [{"thought": True}]}]}, "contents[0].parts[0].text", ONE_KIND),
        (
            {"contents": [{"parts": [{"text": "x", "inlineData": {"mimeType": "image/png", "data": PNG}}]}]},
            "contents[0].parts[0].inlineData",
            ONE_KIND,
        ),
        (
            {"contents": [{"parts": [{"text": "x", "functionCall": {"name": "f"}}]}]},
            "contents[0].parts[0].functionCall",
            ONE_KIND,
        ),
        (
            {"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": "not base64!"}}]}]},
            "contents[0].parts[0].inlineData.data",
            "must be valid base64",
        ),
        (
            {"contents": [{"parts": [{"inlineData": {"mimeType": "png", "data": PNG}}]}]},
            "contents[0].parts[0].inlineData.mimeType",
            None,
        ),
        (
            {"contents": [{"parts": [{"text": "x", "thoughtSignature": "%%%"}]}]},
            "contents[0].parts[0].thoughtSignature",
            "must be valid base64",
        ),
        (
            {"contents": [{"parts": [{"fileData": {"fileUri": "gs://x"}}]}]},
            "contents[0].parts[0].fileData",
            "not supported by this function",
        ),
        (
            {"contents": [{"parts": [{"videoMetadata": {"fps": 1}}]}]},
            "contents[0].parts[0].videoMetadata",
            "not supported by this function",
        ),
        ({"contents": [{"parts": [{"text": 1}]}]}, "contents[0].parts[0].text", "must be a string"),
        ({"contents": [USER], "cachedContent": "cachedContents/x"}, "cachedContent", "not supported by this function"),
        ({"contents": [USER], "labels": {"a": "b"}}, "labels", "unknown field"),
        ({"contents": [USER], "model": "models/x"}, "model", "unknown field"),
        (
            {
                "contents": [USER],
                "systemInstruction": {"parts": [{"inlineData": {"mimeType": "image/png", "data": PNG}}]},
            },
            "systemInstruction.parts",
            "systemInstruction takes text parts only",
        ),
        (
            {"contents": [USER], "generationConfig": {"temperature": 2.5}},
            "generationConfig.temperature",
            "must be <= 2",
        ),
        (
            {"contents": [USER], "generationConfig": {"temperature": -0.1}},
            "generationConfig.temperature",
            "must be >= 0",
        ),
        (
            {"contents": [USER], "generationConfig": {"temperature": "1"}},
            "generationConfig.temperature",
            "must be a number",
        ),
        ({"contents": [USER], "generationConfig": {"topP": 1.01}}, "generationConfig.topP", "must be <= 1"),
        ({"contents": [USER], "generationConfig": {"topK": 0}}, "generationConfig.topK", None),
        ({"contents": [USER], "generationConfig": {"topK": 2.5}}, "generationConfig.topK", "must be a whole number"),
        (
            {"contents": [USER], "generationConfig": {"candidateCount": 2}},
            "generationConfig.candidateCount",
            "must be 1: more candidates multiply the bill",
        ),
        (
            {"contents": [USER], "generationConfig": {"candidateCount": 0}},
            "generationConfig.candidateCount",
            "must be >= 1",
        ),
        (
            {"contents": [USER], "generationConfig": {"maxOutputTokens": 0}},
            "generationConfig.maxOutputTokens",
            "must be >= 1",
        ),
        (
            {"contents": [USER], "generationConfig": {"stopSequences": ["a"] * 6}},
            "generationConfig.stopSequences",
            "must have at most 5 items",
        ),
        ({"contents": [USER], "generationConfig": {"seed": 2**31}}, "generationConfig.seed", None),
        (
            {"contents": [USER], "generationConfig": {"logprobs": 21, "responseLogprobs": True}},
            "generationConfig.logprobs",
            "must be <= 20",
        ),
        (
            {"contents": [USER], "generationConfig": {"logprobs": 3}},
            "generationConfig.logprobs",
            "needs responseLogprobs: true",
        ),
        (
            {
                "contents": [USER],
                "generationConfig": {
                    "responseMimeType": "application/json",
                    "responseSchema": {"type": "OBJECT"},
                    "responseJsonSchema": {"type": "object"},
                },
            },
            "generationConfig.responseJsonSchema",
            "give responseSchema or responseJsonSchema, not both",
        ),
        (
            {"contents": [USER], "generationConfig": {"responseSchema": {"type": "OBJECT"}}},
            "generationConfig.responseSchema",
            "needs responseMimeType (application/json or text/x.enum)",
        ),
        (
            {"contents": [USER], "generationConfig": {"thinkingConfig": {"thinkingBudget": -2}}},
            "generationConfig.thinkingConfig.thinkingBudget",
            "must be >= -1",
        ),
        (
            {"contents": [USER], "generationConfig": {"thinkingConfig": {"thinkingLevel": "EXTREME"}}},
            "generationConfig.thinkingConfig.thinkingLevel",
            None,
        ),
        (
            {"contents": [USER], "generationConfig": {"responseModalities": ["SMELL"]}},
            "generationConfig.responseModalities[0]",
            None,
        ),
        (
            {"contents": [USER], "generationConfig": {"routingConfig": {}}},
            "generationConfig.routingConfig",
            "not supported by this function",
        ),
        ({"contents": [USER], "generationConfig": {"tempreature": 1}}, "generationConfig.tempreature", "unknown field"),
        (
            {
                "contents": [USER],
                "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_SOME"}],
            },
            "safetySettings[0].threshold",
            None,
        ),
        (
            {"contents": [USER], "safetySettings": [{"category": "VIOLENCE", "threshold": "OFF"}]},
            "safetySettings[0].category",
            None,
        ),
        (
            {
                "contents": [USER],
                "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "OFF", "method": "SEVERITY"}],
            },
            "safetySettings[0].method",
            "not supported by this function",
        ),
        (
            {
                "contents": [USER],
                "safetySettings": [
                    {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "OFF"},
                    {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"},
                ],
            },
            "safetySettings",
            "one setting per category (HARM_CATEGORY_HARASSMENT repeats)",
        ),
    ],
)
def test_refusals_name_the_field(body: dict[str, Any], field: str, problem: str | None) -> None:
    got_field, got_problem = refused(body)
    assert got_field == field
    if problem is not None:
        assert got_problem == problem


def test_not_an_object() -> None:
    assert refused([1, 2]) == ("body", "must be a JSON object")


def test_only_validated_fields_travel_upstream() -> None:
    """Re-serialised from the model: duplicate keys or aliases cannot smuggle a second meaning."""
    raw = b'{"contents": [{"parts": [{"text": "a"}]}], "contents": [{"parts": [{"text": "b"}]}]}'
    req = validate(GeminiRequest, parse_json(raw))
    assert upstream(req) == {"contents": [{"parts": [{"text": "b"}]}]}
    snake = ok(
        {
            "contents": [USER],
            "system_instruction": {"parts": [{"text": "s"}]},
            "generation_config": {"max_output_tokens": 5},
        }
    )
    assert upstream(snake) == {
        "contents": [USER],
        "systemInstruction": {"parts": [{"text": "s"}]},
        "generationConfig": {"maxOutputTokens": 5},
    }


# --------------------------------------------------------------------------- tools, function calling, code execution

WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]},
}
SIGNATURE = base64.b64encode(bytes(range(200))).decode()  # standard base64, '+' and '/' included


def tools_body(*tools: Any, **extra: Any) -> dict[str, Any]:
    return {"contents": [USER], "tools": list(tools), **extra}


def declarations(n: int, prefix: str = "f") -> dict[str, Any]:
    return {"functionDeclarations": [{"name": f"{prefix}{i}"} for i in range(n)]}


def test_tools_and_tool_config_travel_as_sent() -> None:
    body = tools_body(
        {
            "functionDeclarations": [
                WEATHER,
                {
                    "name": "_x.y:z-1",
                    "parametersJsonSchema": {"type": "object"},
                    "responseJsonSchema": {"type": "string"},
                },
                {"name": "no_args", "response": {"type": "STRING"}, "behavior": "BLOCKING"},
            ]
        },
        {"googleSearch": {}},
        {"googleSearch": {"timeRangeFilter": {"startTime": "2025-01-01T00:00:00Z", "endTime": "2025-02-01T00:00:00Z"}}},
        {"urlContext": {}},
        {"codeExecution": {}},
        toolConfig={"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
    )
    assert upstream(ok(body)) == body


@pytest.mark.parametrize("mode", ["AUTO", "ANY", "NONE", "VALIDATED", "MODE_UNSPECIFIED"])
def test_every_function_calling_mode(mode: str) -> None:
    config = {"functionCallingConfig": {"mode": mode}}
    assert upstream(ok(tools_body({"functionDeclarations": [WEATHER]}, toolConfig=config)))["toolConfig"] == config


def test_snake_case_tools_become_camel_case() -> None:
    body = {
        "contents": [USER],
        "tools": [
            {"function_declarations": [{"name": "f", "parameters_json_schema": {"type": "object"}}]},
            {"url_context": {}},
        ],
        "tool_config": {"function_calling_config": {"mode": "VALIDATED", "allowed_function_names": ["f"]}},
    }
    assert upstream(ok(body)) == {
        "contents": [USER],
        "tools": [
            {"functionDeclarations": [{"name": "f", "parametersJsonSchema": {"type": "object"}}]},
            {"urlContext": {}},
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "VALIDATED", "allowedFunctionNames": ["f"]}},
    }


def test_function_calling_history_travels_unchanged() -> None:
    """What the SDKs echo: the model's call with its signature, then the caller's result."""
    body = tools_body(
        {"functionDeclarations": [WEATHER]},
        contents=[
            USER,
            {
                "role": "model",
                "parts": [
                    {
                        "functionCall": {"id": "1a2b", "name": "get_weather", "args": {"city": "Rome"}},
                        "thoughtSignature": SIGNATURE,
                    },
                    {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"id": "1a2b", "name": "get_weather", "response": {"temp_c": 21}}},
                    {
                        "functionResponse": {
                            "name": "get_weather",
                            "response": {"image": {"$ref": "map.png"}},
                            "willContinue": False,
                            "scheduling": "WHEN_IDLE",
                            "parts": [{"inlineData": {"mimeType": "image/png", "data": PNG, "displayName": "map.png"}}],
                        }
                    },
                ],
            },
        ],
    )
    sent = upstream(ok(body))
    assert sent == body
    assert sent["contents"][1]["parts"][0]["thoughtSignature"] == SIGNATURE


def test_code_execution_history_travels_unchanged() -> None:
    model_turn = {
        "role": "model",
        "parts": [
            {"text": "Let me compute.", "thought": True, "thoughtSignature": SIGNATURE},
            {"executableCode": {"language": "PYTHON", "code": "print(2 + 2)"}},
            {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "4\n"}},
            {"text": "4"},
        ],
    }
    body = tools_body(
        {"codeExecution": {}}, contents=[USER, model_turn, {"role": "user", "parts": [{"text": "and 3+3?"}]}]
    )
    assert upstream(ok(body)) == body


TOO_BIG = {"type": "object", "description": "x" * (64 * 1024)}


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        (
            tools_body({}),
            "tools[0].functionDeclarations",
            "a tool needs exactly one of functionDeclarations, googleSearch, urlContext or codeExecution",
        ),
        (tools_body({"googleSearch": {}, "urlContext": {}}), "tools[0].urlContext", None),
        (tools_body({"functionDeclarations": [WEATHER], "codeExecution": {}}), "tools[0].codeExecution", None),
        (tools_body({"functionDeclarations": []}), "tools[0].functionDeclarations", "must not be empty"),
        (tools_body({"webSearch": {}}), "tools[0].webSearch", "unknown field"),
        (tools_body({"functionDeclarations": [{"name": "9lives"}]}), "tools[0].functionDeclarations[0].name", None),
        (tools_body({"functionDeclarations": [{"name": "has space"}]}), "tools[0].functionDeclarations[0].name", None),
        (tools_body({"functionDeclarations": [{"name": "f" * 65}]}), "tools[0].functionDeclarations[0].name", None),
        (tools_body({"functionDeclarations": [{"name": ""}]}), "tools[0].functionDeclarations[0].name", None),
        (
            tools_body({"functionDeclarations": [{"description": "no name"}]}),
            "tools[0].functionDeclarations[0].name",
            "required",
        ),
        (
            tools_body({"functionDeclarations": [{"name": "f", "parameters": {}, "parametersJsonSchema": {}}]}),
            "tools[0].functionDeclarations[0].parametersJsonSchema",
            "give parameters or parametersJsonSchema, not both",
        ),
        (
            tools_body({"functionDeclarations": [{"name": "f", "response": {}, "responseJsonSchema": {}}]}),
            "tools[0].functionDeclarations[0].responseJsonSchema",
            "give response or responseJsonSchema, not both",
        ),
        (
            tools_body({"functionDeclarations": [{"name": "f", "parameters": "object"}]}),
            "tools[0].functionDeclarations[0].parameters",
            "must be an object",
        ),
        (
            tools_body({"functionDeclarations": [{"name": "f", "parameters": TOO_BIG}]}),
            "tools[0].functionDeclarations[0].parameters",
            "must be at most 65536 bytes as JSON",
        ),
        (
            tools_body({"functionDeclarations": [{"name": "f", "parametersJsonSchema": TOO_BIG}]}),
            "tools[0].functionDeclarations[0].parametersJsonSchema",
            "must be at most 65536 bytes as JSON",
        ),
        (
            tools_body({"functionDeclarations": [{"name": "f", "strict": True}]}),
            "tools[0].functionDeclarations[0].strict",
            "unknown field",
        ),
        (
            tools_body({"googleSearch": {"excludeDomains": ["x.com"]}}),
            "tools[0].googleSearch.excludeDomains",
            "not supported by this function",
        ),
        (tools_body({"codeExecution": {"x": 1}}), "tools[0].codeExecution.x", "unknown field"),
        (tools_body({"googleSearch": True}), "tools[0].googleSearch", "must be an object"),
        (
            tools_body(declarations(2), declarations(1, prefix="f")),
            "tools",
            "function names must be unique (f0 repeats)",
        ),
        (
            tools_body(declarations(1), toolConfig={"functionCallingConfig": {"mode": "MAYBE"}}),
            "toolConfig.functionCallingConfig.mode",
            None,
        ),
        (
            tools_body(
                declarations(1), toolConfig={"functionCallingConfig": {"mode": "AUTO", "allowedFunctionNames": ["f0"]}}
            ),
            "toolConfig.functionCallingConfig.allowedFunctionNames",
            "only with mode ANY or VALIDATED",
        ),
        (
            tools_body(declarations(1), toolConfig={"functionCallingConfig": {"allowedFunctionNames": ["f0"]}}),
            "toolConfig.functionCallingConfig.allowedFunctionNames",
            "only with mode ANY or VALIDATED",
        ),
        (
            tools_body(
                declarations(1),
                toolConfig={"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f0", "g"]}},
            ),
            "toolConfig.functionCallingConfig.allowedFunctionNames[1]",
            "g is not a declared function",
        ),
        (
            tools_body(declarations(1), toolConfig={"retrievalConfig": {}}),
            "toolConfig.retrievalConfig",
            "not supported by this function",
        ),
        (tools_body(declarations(1), toolConfig={"mode": "ANY"}), "toolConfig.mode", "unknown field"),
        (
            {"contents": [{"role": "model", "parts": [{"functionCall": {"args": {}}}]}]},
            "contents[0].parts[0].functionCall.name",
            "required",
        ),
        (
            {"contents": [{"role": "model", "parts": [{"functionCall": {"name": "f", "args": [1]}}]}]},
            "contents[0].parts[0].functionCall.args",
            "must be an object",
        ),
        (
            {"contents": [{"role": "model", "parts": [{"functionCall": {"name": "f"}, "thoughtSignature": "%%"}]}]},
            "contents[0].parts[0].thoughtSignature",
            "must be valid base64",
        ),
        (
            {"contents": [{"parts": [{"functionResponse": {"name": "f"}}]}]},
            "contents[0].parts[0].functionResponse.response",
            "required",
        ),
        (
            {"contents": [{"parts": [{"functionResponse": {"name": "f", "response": "sunny"}}]}]},
            "contents[0].parts[0].functionResponse.response",
            "must be an object",
        ),
        (
            {"contents": [{"parts": [{"functionResponse": {"name": "f", "response": {}, "scheduling": "LATER"}}]}]},
            "contents[0].parts[0].functionResponse.scheduling",
            None,
        ),
        (
            {
                "contents": [
                    {"parts": [{"functionResponse": {"name": "f", "response": {}, "parts": [{"fileData": {}}]}}]}
                ]
            },
            "contents[0].parts[0].functionResponse.parts[0].fileData",
            "not supported by this function",
        ),
        (
            {"contents": [{"parts": [{"executableCode": {"language": "RUST", "code": "fn main() {}"}}]}]},
            "contents[0].parts[0].executableCode.language",
            None,
        ),
        (
            {"contents": [{"parts": [{"codeExecutionResult": {"output": "4"}}]}]},
            "contents[0].parts[0].codeExecutionResult.outcome",
            "required",
        ),
    ]
    + [
        (tools_body({kind: {}}), f"tools[0].{kind}", "not supported by this function")
        for kind in (
            "googleSearchRetrieval",
            "retrieval",
            "fileSearch",
            "computerUse",
            "googleMaps",
            "mcpServers",
            "enterpriseWebSearch",
        )
    ],
)
def test_tool_refusals_name_the_field(body: dict[str, Any], field: str, problem: str | None) -> None:
    got_field, got_problem = refused(body)
    assert got_field == field
    if problem is not None:
        assert got_problem == problem


def test_at_most_128_function_declarations_in_all() -> None:
    assert len(upstream(ok(tools_body(declarations(100), declarations(28, prefix="g"))))["tools"]) == 2
    assert refused(tools_body(declarations(100), declarations(29, prefix="g"))) == (
        "tools",
        "at most 128 function declarations in all tools together",
    )
    assert refused(tools_body(declarations(129))) == ("tools[0].functionDeclarations", "must have at most 128 items")


def test_a_schema_just_under_the_size_limit_is_accepted() -> None:
    schema = {"type": "object", "description": ""}
    schema["description"] = "x" * (64 * 1024 - len(json.dumps(schema, separators=(",", ":"))))
    assert len(json.dumps(schema, separators=(",", ":"))) == 64 * 1024
    ok(tools_body({"functionDeclarations": [{"name": "f", "parametersJsonSchema": schema}]}))


def test_builtin_tools_are_listed_for_the_intake() -> None:
    req = ok(
        tools_body(
            declarations(1), {"googleSearch": {}}, {"codeExecution": {}}, declarations(1, "g"), {"urlContext": {}}
        )
    )
    assert isinstance(req, RouteRequest)
    assert req.builtin_tools() == [
        ("tools[1]", "google_search"),
        ("tools[2]", "code_execution"),
        ("tools[4]", "url_context"),
    ]
    assert ok({"contents": [USER]}).builtin_tools() == []
    assert ok(tools_body(declarations(3))).builtin_tools() == []


# --------------------------------------------------------------------------- spend control: the output ceiling


def test_output_tokens_are_reported_for_the_intake() -> None:
    assert ok({"contents": [USER]}).output_tokens() == ("generationConfig.maxOutputTokens", None)
    assert ok({"contents": [USER], "generationConfig": {"temperature": 1}}).output_tokens() == (
        "generationConfig.maxOutputTokens",
        None,
    )
    assert ok({"contents": [USER], "generation_config": {"max_output_tokens": 77}}).output_tokens() == (
        "generationConfig.maxOutputTokens",
        77,
    )


def test_the_ceiling_is_sent_when_the_caller_set_none() -> None:
    assert upstream_with(ok({"contents": [USER]}), 8192) == {
        "contents": [USER],
        "generationConfig": {"maxOutputTokens": 8192},
    }
    sent = upstream_with(ok({"contents": [USER], "generationConfig": {"temperature": 0.2}}), 100)
    assert sent["generationConfig"] == {"temperature": 0.2, "maxOutputTokens": 100}
    sent = upstream_with(ok({"contents": [USER], "generationConfig": {"maxOutputTokens": 5}}), 100)
    assert sent["generationConfig"] == {"maxOutputTokens": 5}


def test_the_intake_keeps_the_ceiling() -> None:
    limits = Limits(allowed_models=("gemini-3.8-flash",), allowed_tools=("google_search",), max_output_tokens=100)
    assert _check_limits(ok({"contents": [USER]}), limits) == 100
    assert _check_limits(ok({"contents": [USER], "generationConfig": {"maxOutputTokens": 40}}), limits) == 40
    with pytest.raises(InvalidRequest) as info:
        _check_limits(ok({"contents": [USER], "generationConfig": {"maxOutputTokens": 101}}), limits)
    assert info.value.message == "generationConfig.maxOutputTokens: must be <= 100"
    assert _check_limits(ok(tools_body({"googleSearch": {}})), limits) == 100
    with pytest.raises(InvalidRequest) as info:
        _check_limits(ok(tools_body({"googleSearch": {}}, {"urlContext": {}})), limits)
    assert info.value.details and info.value.details[0].field == "tools[1]"


# --------------------------------------------------------------------------- countTokens


def count(body: dict[str, Any]) -> CountTokensRequest:
    return validate(CountTokensRequest, parse_json(json.dumps(body).encode()))


def count_refused(body: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(InvalidRequest) as info:
        validate(CountTokensRequest, body)
    assert info.value.details
    return info.value.details[0].field, info.value.details[0].problem


def test_count_tokens_with_contents() -> None:
    req = count({"contents": [USER]})
    assert json.loads(req.upstream_body("gemini-3.8-flash")) == {"contents": [USER]}
    assert req.builtin_tools() == []
    assert req.output_tokens() == ("generateContentRequest.generationConfig.maxOutputTokens", None)


def test_count_tokens_with_a_whole_request_names_the_resolved_model() -> None:
    inner = {
        "model": "models/fast",
        "contents": [USER],
        "systemInstruction": {"parts": [{"text": "terse"}]},
        "tools": [{"functionDeclarations": [WEATHER]}, {"googleSearch": {}}],
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
        "generationConfig": {"maxOutputTokens": 9},
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "OFF"}],
    }
    req = count({"generateContentRequest": inner})
    sent = json.loads(req.upstream_body("gemini-3.8-flash"))
    assert sent == {"generateContentRequest": {**inner, "model": "models/gemini-3.8-flash"}}
    assert req.builtin_tools() == [("generateContentRequest.tools[1]", "google_search")]
    assert req.output_tokens() == ("generateContentRequest.generationConfig.maxOutputTokens", 9)
    assert (
        "model"
        in json.loads(count({"generateContentRequest": {"contents": [USER]}}).upstream_body("m"))[
            "generateContentRequest"
        ]
    )


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ({}, "contents", "give exactly one of contents or generateContentRequest"),
        (
            {"contents": [USER], "generateContentRequest": {"contents": [USER]}},
            "generateContentRequest",
            "give exactly one of contents or generateContentRequest",
        ),
        ({"contents": []}, "contents", "must not be empty"),
        ({"generateContentRequest": {}}, "generateContentRequest.contents", "required"),
        ({"generateContentRequest": {"contents": [USER], "model": "a/b"}}, "generateContentRequest.model", None),
        (
            {"generateContentRequest": {"contents": [USER], "cachedContent": "cachedContents/x"}},
            "generateContentRequest.cachedContent",
            "not supported by this function",
        ),
        (
            {"generateContentRequest": {"contents": [USER], "generationConfig": {"candidateCount": 3}}},
            "generateContentRequest.generationConfig.candidateCount",
            "must be 1: more candidates multiply the bill",
        ),
        (
            {"contents": [{"parts": [{"fileData": {}}]}]},
            "contents[0].parts[0].fileData",
            "not supported by this function",
        ),
        ({"contents": [USER], "model": "models/x"}, "model", "unknown field"),
    ],
)
def test_count_tokens_refusals(body: dict[str, Any], field: str, problem: str | None) -> None:
    got_field, got_problem = count_refused(body)
    assert got_field == field
    if problem is not None:
        assert got_problem == problem


# --------------------------------------------------------------------------- the path


@pytest.mark.parametrize(
    ("path", "match"),
    [
        ("/v1beta/models/gemini-2.5-flash:generateContent", ("v1beta", "gemini-2.5-flash", "generateContent")),
        ("/v1/models/gemini-2.5-pro:streamGenerateContent", ("v1", "gemini-2.5-pro", "streamGenerateContent")),
        ("/v1beta/models/gemini-2.5-flash:countTokens", ("v1beta", "gemini-2.5-flash", "countTokens")),
        ("/v1beta/models/gemini-2.5-flash:embedContent", None),
        ("/v1beta/tunedModels/x:generateContent", None),
        ("/v2/models/x:generateContent", None),
        ("/v1beta/models/a/b:generateContent", None),
        ("/v1beta/models/:generateContent", None),
    ],
)
def test_path(path: str, match: tuple[str, str, str] | None) -> None:
    found = find(ROUTES, path)
    got = None
    if found is not None and "model" in found[1]:
        got = (found[1]["version"], found[1]["model"], found[0].path.rsplit(":", 1)[1])
    assert got == match


# --------------------------------------------------------------------------- Google's error shape


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [
        (InvalidRequest("x"), 400, "INVALID_ARGUMENT"),
        (Unauthenticated(), 401, "UNAUTHENTICATED"),
        (Forbidden("x"), 403, "PERMISSION_DENIED"),
        (NotFound("x"), 404, "NOT_FOUND"),
        (MethodNotAllowed("GET", ["POST"]), 405, "UNIMPLEMENTED"),
        (PayloadTooLarge(10), 413, "INVALID_ARGUMENT"),
        (UnsupportedMediaType("text/plain"), 415, "INVALID_ARGUMENT"),
        (RateLimited("slow down", retry_after=3), 429, "RESOURCE_EXHAUSTED"),
        (Internal("x"), 500, "INTERNAL"),
        (UpstreamError("x", retryable=True), 502, "UNAVAILABLE"),
        (UpstreamError("x"), 502, "INTERNAL"),
        (Unavailable("x"), 503, "UNAVAILABLE"),
        (UpstreamTimeout(60), 504, "DEADLINE_EXCEEDED"),
    ],
)
def test_google_status(error: ApiError, code: int, status: str) -> None:
    body = google_error_body(error, "req-1")["error"]
    assert (body["code"], body["status"], google_status(error)) == (code, status, status)
    assert body["message"] == error.message
    assert body["details"][-1] == {"@type": "type.googleapis.com/google.rpc.RequestInfo", "requestId": "req-1"}


def test_field_problems_are_bad_request_violations() -> None:
    error = InvalidRequest("a: bad", details=[Problem("a", "bad"), Problem("b.c", "worse")])
    (violations, _) = google_error_body(error, "r")["error"]["details"]
    assert violations == {
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": [{"field": "a", "description": "bad"}, {"field": "b.c", "description": "worse"}],
    }


def test_rate_limit_carries_retry_info() -> None:
    (retry, _) = google_error_body(RateLimited("slow", retry_after=2.2), "r")["error"]["details"]
    assert retry == {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"}
