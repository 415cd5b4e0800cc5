"""What each route's request model tells the free-form controls (`freeform()`), and the sub-objects it forwards.

The native route's sub-objects (`imageConfig`, `speechConfig`, `googleSearch`,
`functionCallingConfig`, ...) hold only the fields the Gemini API documents:
anything else is refused by name instead of being forwarded.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from gemini_gateway.chat.gemini_body import to_gemini_body
from gemini_gateway.chat.models import GenerateRequest
from gemini_gateway.errors import InvalidRequest
from gemini_gateway.freeform.controls import Ask
from gemini_gateway.json_body import validate
from gemini_gateway.routes.gemini.models import CountTokensRequest, GeminiRequest
from gemini_gateway.routes.openai.models import ChatCompletionRequest

PNG = base64.b64encode(b"\x89PNG fake image bytes").decode()
USER = {"role": "user", "parts": [{"text": "hi"}]}
HATE = "HARM_CATEGORY_HATE_SPEECH"


def native(**fields: Any) -> GeminiRequest:
    return validate(GeminiRequest, {"contents": [USER], **fields})


def nothing(ask: Ask) -> bool:
    """The request asks for nothing beyond text in, text out."""
    return not any((ask.safety, ask.modalities, ask.media_types, ask.system_instruction, ask.options))


def refused(model: type[Any], body: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(InvalidRequest) as info:
        validate(model, body)
    first = info.value.details[0]
    return first.field, first.problem


def test_every_free_form_route_declares_what_it_asks() -> None:
    from gemini_gateway.routes.gemini.handler import COUNT_INTAKE
    from gemini_gateway.routes.gemini.handler import INTAKE as GEMINI
    from gemini_gateway.routes.generate import INTAKE as GENERATE
    from gemini_gateway.routes.openai.handler import INTAKE as OPENAI

    for intake in (GENERATE, OPENAI, GEMINI, COUNT_INTAKE):
        assert intake.freeform is not None and callable(getattr(intake.schema, "freeform", None)), intake.schema


# --------------------------------------------------------------------------- POST /


def test_post_root_system_and_media() -> None:
    req = validate(
        GenerateRequest,
        {
            "system": "terse",
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this?"},
                        {"type": "image", "mime_type": "application/pdf", "data": PNG},
                    ],
                },
            ],
        },
    )
    assert req.freeform() == Ask(
        media_types=[("messages[2].content[1].mime_type", "application/pdf")], system_instruction="system"
    )
    assert nothing(validate(GenerateRequest, {"prompt": "hi"}).freeform())


def test_post_root_gets_the_floor_in_its_upstream_body() -> None:
    floor = [{"category": HATE, "threshold": "BLOCK_ONLY_HIGH"}]
    body = to_gemini_body(validate(GenerateRequest, {"prompt": "hi"}), safety_settings=floor)
    assert body["safetySettings"] == floor
    assert "safetySettings" not in to_gemini_body(validate(GenerateRequest, {"prompt": "hi"}))


# --------------------------------------------------------------------------- the OpenAI route


def test_openai_system_developer_and_data_urls() -> None:
    chat = validate(
        ChatCompletionRequest,
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "developer", "content": "be terse"},
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": f"data:Audio/WAV;base64,{PNG}"}}],
                },
            ]
        },
    )
    assert chat.freeform() == Ask(
        media_types=[("messages[2].content[0].image_url.url", "audio/wav")], system_instruction="messages[1].role"
    )


# --------------------------------------------------------------------------- the Gemini-native route


def test_native_ask_names_every_field() -> None:
    blob = {"mimeType": "video/mp4", "data": PNG}
    req = native(
        contents=[
            {"role": "user", "parts": [{"text": "look"}, {"inlineData": {"mimeType": "image/png", "data": PNG}}]},
            {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
            {
                "role": "user",
                "parts": [{"functionResponse": {"name": "f", "response": {}, "parts": [{"inlineData": blob}]}}],
            },
        ],
        systemInstruction={"parts": [{"text": "terse"}]},
        safetySettings=[{"category": HATE, "threshold": "OFF"}],
        tools=[{"googleSearch": {"searchTypes": {"webSearch": {}, "imageSearch": {}}}}],
        generationConfig={
            "responseModalities": ["TEXT", "IMAGE", "AUDIO"],
            "imageConfig": {"aspectRatio": "16:9", "imageSize": "2K"},
            "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}},
            "responseLogprobs": True,
            "logprobs": 3,
            "mediaResolution": "MEDIA_RESOLUTION_HIGH",
        },
    )
    config = "generationConfig"
    assert req.freeform() == Ask(
        safety=[("safetySettings[0]", HATE, "OFF")],
        modalities=[
            (f"{config}.responseModalities[1]", "image"),
            (f"{config}.responseModalities[2]", "audio"),
            (f"{config}.imageConfig", "image"),
            (f"{config}.speechConfig", "audio"),
            ("tools[0].googleSearch.searchTypes.imageSearch", "image"),
        ],
        media_types=[
            ("contents[0].parts[1].inlineData.mimeType", "image/png"),
            ("contents[2].parts[0].functionResponse.parts[0].inlineData.mimeType", "video/mp4"),
        ],
        system_instruction="systemInstruction",
        options=[(f"{config}.responseLogprobs", "logprobs"), (f"{config}.mediaResolution", "media_resolution_high")],
    )


def test_a_plain_native_request_asks_nothing() -> None:
    low = native(generationConfig={"responseModalities": ["TEXT"], "mediaResolution": "MEDIA_RESOLUTION_LOW"})
    assert nothing(low.freeform())
    assert nothing(native(generationConfig={"responseLogprobs": False}).freeform())


def test_count_tokens_asks_as_generating_would() -> None:
    inner = {"contents": [USER], "systemInstruction": {"parts": [{"text": "t"}]}}
    counted = validate(CountTokensRequest, {"generateContentRequest": inner})
    assert counted.freeform().system_instruction == "generateContentRequest.systemInstruction"
    plain = validate(
        CountTokensRequest,
        {"contents": [{"parts": [{"inlineData": {"mimeType": "application/pdf", "data": PNG}}]}]},
    )
    assert plain.freeform() == Ask(media_types=[("contents[0].parts[0].inlineData.mimeType", "application/pdf")])


def test_native_upstream_safety_replaces_the_callers_list() -> None:
    req = native(safetySettings=[{"category": HATE, "threshold": "BLOCK_LOW_AND_ABOVE"}])
    floor = [
        {"category": HATE, "threshold": "BLOCK_LOW_AND_ABOVE"},
        {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"},
    ]
    assert json.loads(req.upstream_body(100, floor))["safetySettings"] == floor
    assert json.loads(req.upstream_body(100))["safetySettings"] == [
        {"category": HATE, "threshold": "BLOCK_LOW_AND_ABOVE"}
    ]


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"safetySettings": [{"category": "HARM_CATEGORY_MADE_UP", "threshold": "OFF"}]}, "safetySettings[0].category", "not a harm category"),
        ({"generationConfig": {"imageConfig": {"aspectRatio": "1:1", "watermark": False}}}, "generationConfig.imageConfig.watermark", "unknown field"),
        ({"generationConfig": {"imageConfig": {"personGeneration": "ALLOW_ALL"}}}, "generationConfig.imageConfig.personGeneration", "not supported"),
        ({"generationConfig": {"imageConfig": {"aspectRatio": "wide"}}}, "generationConfig.imageConfig.aspectRatio", "pattern"),
        ({"generationConfig": {"speechConfig": {"voice": "x"}}}, "generationConfig.speechConfig.voice", "unknown field"),
        (
            {"generationConfig": {"speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore", "pitch": 2}}}}},
            "generationConfig.speechConfig.voiceConfig.prebuiltVoiceConfig.pitch",
            "unknown field",
        ),
        (
            {"generationConfig": {"speechConfig": {"voiceConfig": {"replicatedVoiceConfig": {"mimeType": "audio/wav"}}}}},
            "generationConfig.speechConfig.voiceConfig.replicatedVoiceConfig",
            "not supported",
        ),
        ({"generationConfig": {"thinkingConfig": {"thinkingLevel": "LOW", "effort": 9}}}, "generationConfig.thinkingConfig.effort", "unknown field"),
        ({"tools": [{"googleSearch": {"dynamicRetrieval": {}}}]}, "tools[0].googleSearch.dynamicRetrieval", "unknown field"),
        ({"tools": [{"googleSearch": {"timeRangeFilter": {"startTime": "2025-01-01T00:00:00Z", "zone": "x"}}}]}, "tools[0].googleSearch.timeRangeFilter.zone", "unknown field"),
        ({"tools": [{"googleSearch": {"timeRangeFilter": {"startTime": "2025-01-01T00:00:00Z"}}}]}, "tools[0].googleSearch.timeRangeFilter.endTime", "together"),
        ({"tools": [{"googleSearch": {"searchTypes": {"newsSearch": {}}}}]}, "tools[0].googleSearch.searchTypes.newsSearch", "unknown field"),
        ({"tools": [{"googleSearch": {"searchTypes": {"webSearch": {"safe": True}}}}]}, "tools[0].googleSearch.searchTypes.webSearch.safe", "unknown field"),
        ({"tools": [{"urlContext": {"maxUrls": 3}}]}, "tools[0].urlContext.maxUrls", "unknown field"),
        ({"tools": [{"codeExecution": {"language": "PYTHON"}}]}, "tools[0].codeExecution.language", "unknown field"),
        (
            {"toolConfig": {"functionCallingConfig": {"mode": "AUTO", "streamFunctionCallArguments": True}}},
            "toolConfig.functionCallingConfig.streamFunctionCallArguments",
            "not supported",
        ),
    ],
)  # fmt: skip
def test_unknown_keys_in_forwarded_sub_objects_are_refused_by_name(
    fields: dict[str, Any], field: str, says: str
) -> None:
    got, problem = refused(GeminiRequest, {"contents": [USER], **fields})
    assert got == field and says in problem, problem


def test_documented_sub_objects_are_forwarded_as_sent() -> None:
    config = {
        "imageConfig": {"aspectRatio": "21:9", "imageSize": "4K"},
        "speechConfig": {
            "languageCode": "en-US",
            "multiSpeakerVoiceConfig": {
                "speakerVoiceConfigs": [
                    {"speaker": "Joe", "voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}},
                    {"speaker": "Jane", "voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Puck"}}},
                ]
            },
        },
    }
    search = {
        "googleSearch": {
            "timeRangeFilter": {"startTime": "2025-01-01T00:00:00Z", "endTime": "2025-02-01T00:00:00.5+01:00"},
            "searchTypes": {"webSearch": {}},
        }
    }
    sent = json.loads(native(generationConfig=config, tools=[search]).upstream_body())
    assert sent["generationConfig"] == config and sent["tools"] == [search]
