"""gemini_gateway.chat.models + payload: docs/API.md §3 validation → `details[].field` paths."""

from __future__ import annotations

import asyncio
import base64
import json
import math
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gemini_gateway.chat.models import GenerateRequest
from gemini_gateway.errors import InvalidJson, InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from gemini_gateway.json_body import (
    check_content_type,
    check_declared_length,
    parse_json,
    read_limited,
    validate,
)

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n fake image bytes").decode()


def ok(body: dict[str, Any]) -> GenerateRequest:
    return validate(GenerateRequest, parse_json(json.dumps(body).encode()))


def refused(body: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        validate(GenerateRequest, body)
    error = info.value
    assert error.status == 400
    assert error.details, "an invalid_request always names at least one field"
    assert error.message.startswith(f"{error.details[0].field}: {error.details[0].problem}")
    return error


def fields(body: Any) -> list[str]:
    return [d.field for d in refused(body).details]


def image(mime: str = "image/png", data: str = PNG) -> dict[str, Any]:
    return {"type": "image", "mime_type": mime, "data": data}


def with_prompt(**extra: Any) -> dict[str, Any]:
    return {"prompt": "hi", **extra}


# --- accepted ---------------------------------------------------------------------------------------------


def test_contract_example_is_accepted() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "What is in this photo?"}, image("image/jpeg")],
            },
        ],
        "system": "You are terse.",
        "model": "gemini-2.5-flash",
        "temperature": 0.7,
        "top_p": 0.95,
        "top_k": 40,
        "max_output_tokens": 1024,
        "stop": ["END"],
        "seed": 7,
        "thinking_budget": 0,
        "response_format": {"type": "json", "schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
        "stream": False,
        "cache": {"ttl_seconds": 3600, "skip": False},
        "metadata": {"app": "ios", "screen": "chat"},
    }
    req = ok(body)
    assert req.messages is not None and len(req.messages) == 3
    assert req.messages[0].content[0].type == "text" and req.messages[0].content[0].text == "Hi"
    assert req.messages[2].content[1].mime_type == "image/jpeg"
    assert req.wants_json
    assert req.response_format is not None and req.response_format.schema_ == body["response_format"]["schema"]
    assert req.metadata == {"app": "ios", "screen": "chat"}


def test_prompt_only_is_accepted_with_defaults() -> None:
    req = ok({"prompt": "What is Cloudflare?"})
    assert req.prompt == "What is Cloudflare?"
    assert req.messages is None and req.stream is False and req.model is None and not req.wants_json


@pytest.mark.parametrize(
    "extra",
    [
        {"temperature": 0},
        {"temperature": 2},
        {"temperature": 1},  # an int is a number
        {"top_p": 0},
        {"top_p": 1.0},
        {"top_k": 1},
        {"max_output_tokens": 1},
        {"stop": []},
        {"stop": ["a", "b", "c", "d", "e"]},
        {"seed": -(2**31)},
        {"seed": 2**31 - 1},
        {"thinking_budget": -1},
        {"thinking_budget": 0},
        {"cache": {"ttl_seconds": 60}},
        {"cache": {"ttl_seconds": 2592000, "skip": True}},
        {"cache": {}},
        {"response_format": {"type": "text"}},
        {"response_format": {"type": "json"}},
        {"metadata": {}},
        {"metadata": {"a": "x", "b": 1, "c": 1.5, "d": True}},
        {"metadata": {"a": "x" * 256}},
        {"metadata": {"k" * 64: 1}},
        {"stream": True},
    ],
)
def test_boundaries_accepted(extra: dict[str, Any]) -> None:
    ok(with_prompt(**extra))


@pytest.mark.parametrize("mime", ["image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"])
def test_every_image_type_accepted(mime: str) -> None:
    ok({"messages": [{"role": "user", "content": [image(mime)]}]})


# --- refused, with the exact field path ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        (with_prompt(temperature=2.01), "temperature", "must be <= 2"),
        (with_prompt(temperature=-0.1), "temperature", "must be >= 0"),
        (with_prompt(top_p=1.5), "top_p", "must be <= 1"),
        (with_prompt(top_p=-0.1), "top_p", "must be >= 0"),
        (with_prompt(top_k=0), "top_k", "must be >= 1"),
        (with_prompt(max_output_tokens=0), "max_output_tokens", "must be >= 1"),
        (with_prompt(max_output_tokens=2**31), "max_output_tokens", "must be <= 2147483647"),
        (with_prompt(stop=["1", "2", "3", "4", "5", "6"]), "stop", "must have at most 5 items"),
        (with_prompt(stop=["ok", ""]), "stop[1]", "must not be empty"),
        (with_prompt(seed=2**31), "seed", "must be <= 2147483647"),
        (with_prompt(thinking_budget=-2), "thinking_budget", "must be >= -1"),
        (with_prompt(cache={"ttl_seconds": 59}), "cache.ttl_seconds", "must be >= 60"),
        (with_prompt(cache={"ttl_seconds": 2592001}), "cache.ttl_seconds", "must be <= 2592000"),
        (with_prompt(metadata={"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}), "metadata", "must have at most 4 items"),
        (with_prompt(metadata={"caller": "me"}), "metadata.caller", "reserved: the function sets it"),
        (with_prompt(metadata={"a": None}), "metadata.a", "must be a string, a number or true/false"),
        (with_prompt(metadata={"a": [1]}), "metadata.a", "must be a string, a number or true/false"),
        (with_prompt(metadata={"a": {"b": 1}}), "metadata.a", "must be a string, a number or true/false"),
        (with_prompt(metadata={"a": "x" * 257}), "metadata.a", "must be at most 256 characters"),
        (with_prompt(response_format={"type": "xml"}), "response_format.type", "must be one of 'text' or 'json'"),
        (
            with_prompt(response_format={"type": "text", "schema": {}}),
            "response_format.schema",
            'only allowed with type "json"',
        ),
        (with_prompt(response_format={"type": "json", "strict": True}), "response_format.strict", "unknown field"),
        (with_prompt(cache={"ttl": 60}), "cache.ttl", "unknown field"),
        (with_prompt(bogus=1), "bogus", "unknown field"),
        (with_prompt(system=""), "system", "must not be empty"),
        (with_prompt(model=""), "model", "must not be empty"),
        (with_prompt(model="m" * 129), "model", "must be at most 128 characters"),
        ({"prompt": ""}, "prompt", "must not be empty"),
        ({}, "prompt", "give exactly one of prompt or messages"),
        (
            {"prompt": "a", "messages": [{"role": "user", "content": "b"}]},
            "prompt",
            "give exactly one of prompt or messages",
        ),
        ({"messages": []}, "messages", "must not be empty"),
        (
            {"messages": [{"role": "assistant", "content": "a"}]},
            "messages",
            'the last message must have role "user" or "tool"',
        ),
        (
            {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
            "messages",
            'the last message must have role "user" or "tool"',
        ),
        (
            {"messages": [{"role": "system", "content": "a"}]},
            "messages[0].role",
            "must be one of 'user', 'assistant' or 'tool'",
        ),
        ({"messages": [{"role": "user", "content": ""}]}, "messages[0].content", "must not be empty"),
        ({"messages": [{"role": "user", "content": []}]}, "messages[0].content", "must not be empty"),
        ({"messages": [{"role": "user"}]}, "messages[0].content", "required"),
        ({"messages": [{"content": "x"}]}, "messages[0].role", "required"),
        ({"messages": [{"role": "user", "content": "x", "name": "n"}]}, "messages[0].name", "unknown field"),
        ({"messages": "hello"}, "messages", "must be a list"),
        (
            {"messages": [{"role": "user", "content": [{"type": "video"}]}]},
            "messages[0].content[0].type",
            "must be one of 'text' or 'image'",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "text"}]}]},
            "messages[0].content[0].text",
            "required for a text part",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": "a", "data": PNG}]}]},
            "messages[0].content[0].data",
            "only image parts carry mime_type and data",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": "a", "mime_type": "image/png"}]}]},
            "messages[0].content[0].data",
            "only image parts carry mime_type and data",
        ),
        (
            {"messages": [{"role": "user", "content": [{**image(), "text": "caption"}]}]},
            "messages[0].content[0].text",
            "not allowed on an image part",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image", "data": PNG}]}]},
            "messages[0].content[0].mime_type",
            "required for an image part, e.g. image/png",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image", "mime_type": "image/png"}]}]},
            "messages[0].content[0].data",
            "required for an image part (base64)",
        ),
        (
            {"messages": [{"role": "user", "content": [image(data="")]}]},
            "messages[0].content[0].data",
            "required for an image part (base64)",
        ),
        (
            {"messages": [{"role": "user", "content": [{**image(), "url": "x"}]}]},
            "messages[0].content[0].url",
            "unknown field",
        ),
    ],
)
def test_refused_with_field_and_problem(body: dict[str, Any], field: str, problem: str) -> None:
    error = refused(body)
    assert (error.details[0].field, error.details[0].problem) == (field, problem)
    assert error.message.startswith(f"{field}: {problem}")


def test_contract_nested_path_for_bad_base64() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "What is in this photo?"}, image(data="not base64!")],
            },
        ]
    }
    error = refused(body)
    assert [(d.field, d.problem) for d in error.details] == [("messages[2].content[1].data", "must be valid base64")]
    assert error.message == "messages[2].content[1].data: must be valid base64"


@pytest.mark.parametrize(
    "data", ["AAA", "AAAAA", "AA=A", "A===", "!!!!", "QUJD\nRA==", "QUJD RA==", "éAAA", "data:image/png;base64,AAAA"]
)
def test_invalid_base64_refused(data: str) -> None:
    assert fields({"messages": [{"role": "user", "content": [image(data=data)]}]}) == ["messages[0].content[0].data"]


@pytest.mark.parametrize("data", ["AAAA", "QUJDRA==", "QUJDREU=", PNG])
def test_valid_base64_accepted(data: str) -> None:
    ok({"messages": [{"role": "user", "content": [image(data=data)]}]})


# Well-formed types outside ALLOWED_MEDIA_TYPES (image/gif, application/pdf) are the free-form controls' to
# refuse, after the caller's policy is known: tests/unit/test_freeform_models.py, tests/integration/test_freeform.py.
@pytest.mark.parametrize("mime", ["image/PNG", "", "png", "image/", "image/png; x=1"])
def test_malformed_media_type_refused(mime: str) -> None:
    assert fields({"messages": [{"role": "user", "content": [image(mime)]}]}) == ["messages[0].content[0].mime_type"]


@pytest.mark.parametrize(
    ("extra", "field", "problem"),
    [
        ({"temperature": "0.5"}, "temperature", "must be a number"),
        ({"temperature": True}, "temperature", "must be a number"),
        ({"top_k": 40.0}, "top_k", "must be an integer"),
        ({"top_k": "40"}, "top_k", "must be an integer"),
        ({"max_output_tokens": 1.5}, "max_output_tokens", "must be an integer"),
        ({"seed": True}, "seed", "must be an integer"),
        ({"stream": "true"}, "stream", "must be true or false"),
        ({"stream": 1}, "stream", "must be true or false"),
        ({"stop": "END"}, "stop", "must be a list"),
        ({"stop": [1]}, "stop[0]", "must be a string"),
        ({"system": 5}, "system", "must be a string"),
        ({"model": ["gemini"]}, "model", "must be a string"),
        ({"cache": {"skip": "yes"}}, "cache.skip", "must be true or false"),
        ({"cache": {"ttl_seconds": 60.0}}, "cache.ttl_seconds", "must be an integer"),
        ({"cache": "no"}, "cache", "must be an object"),
        ({"response_format": "json"}, "response_format", "must be an object"),
        ({"response_format": {"type": "json", "schema": []}}, "response_format.schema", "must be an object"),
        ({"metadata": []}, "metadata", "must be an object"),
    ],
)
def test_strict_types(extra: dict[str, Any], field: str, problem: str) -> None:
    error = refused(with_prompt(**extra))
    assert (error.details[0].field, error.details[0].problem) == (field, problem)


@pytest.mark.parametrize("body", [[], "text", 1, None, True, [{"prompt": "x"}]])
def test_non_object_body(body: Any) -> None:
    error = refused(body)
    assert [(d.field, d.problem) for d in error.details] == [("body", "must be a JSON object")]


def test_several_problems_each_named_once_in_order() -> None:
    error = refused(with_prompt(temperature=3, top_k=0, bogus=True))
    assert [d.field for d in error.details] == ["temperature", "top_k", "bogus"]
    assert error.message == "temperature: must be <= 2 (and 2 more)"


def test_prompt_xor_messages_is_about_prompt() -> None:
    assert fields({"system": "x"}) == ["prompt"]


def test_metadata_key_too_long_names_metadata() -> None:
    error = refused(with_prompt(metadata={"k" * 65: 1}))
    assert error.details[0].field == "metadata." + "k" * 64
    assert error.details[0].problem == "keys must be 1 to 64 characters"


def test_metadata_nonfinite_refused() -> None:
    # inf can only come from Python input (parse_json refuses the NaN/Infinity literals)
    error = refused(with_prompt(metadata={"a": math.inf}))
    assert error.details[0].field == "metadata.a"


def test_metadata_huge_integer_is_invalid_request() -> None:
    body = b'{"prompt":"x","metadata":{"n":' + b"9" * 400 + b"}}"
    with pytest.raises(InvalidRequest) as info:
        validate(GenerateRequest, parse_json(body))
    assert info.value.details[0].field == "metadata.n"


def test_huge_integer_elsewhere_is_a_range_error() -> None:
    body = b'{"prompt":"x","top_k":' + b"9" * 400 + b"}"
    assert fields(parse_json(body)) == ["top_k"]


# --- parse_json ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   \n\t ",
        b"NaN",
        b'{"temperature": NaN}',
        b'{"temperature": Infinity}',
        b'{"temperature": -Infinity}',
        b"\xff\xfe{}",
        b'{"prompt": "\xff"}',
        b'{"prompt": "\xc3"}',
        b"{",
        b"{'prompt': 'x'}",
        b'{"a": 1} trailing',
        b'{"a": 1,}',
        b"[" * 1000 + b"]" * 1000,
    ],
)
def test_parse_json_refuses(body: bytes) -> None:
    with pytest.raises(InvalidJson) as info:
        parse_json(body)
    assert info.value.status == 400 and info.value.type == "invalid_json"
    assert not info.value.details


@pytest.mark.parametrize(
    ("body", "value"),
    [
        (b'{"prompt": "caf\xc3\xa9"}', {"prompt": "café"}),
        (b' {"a": [1, 2.5, true, null]} \n', {"a": [1, 2.5, True, None]}),
        (b"[]", []),
        (b"0", 0),
        (b'"x"', "x"),
    ],
)
def test_parse_json_accepts(body: bytes, value: Any) -> None:
    assert parse_json(body) == value


def test_parse_json_message_is_bounded() -> None:
    with pytest.raises(InvalidJson) as info:
        parse_json(b'{"' + b"x" * 5000)
    assert len(info.value.message) < 200


def test_parse_json_refuses_overflowing_number() -> None:
    with pytest.raises(InvalidJson):
        parse_json(b'{"prompt": "x", "response_format": {"type": "json", "schema": {"maximum": 1e400}}}')


# --- check_content_type -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["application/json", "application/json; charset=utf-8", "Application/JSON", "  application/json  ;charset=UTF-8"],
)
def test_content_type_accepted(value: str) -> None:
    check_content_type(value)


@pytest.mark.parametrize(
    "value",
    [None, "", "text/plain", "application/x-www-form-urlencoded", "application/json-patch+json", "multipart/form-data"],
)
def test_content_type_refused(value: str | None) -> None:
    with pytest.raises(UnsupportedMediaType) as info:
        check_content_type(value)
    assert info.value.status == 415 and info.value.type == "unsupported_media_type"


# --- size limits ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("declared", [None, "0", "1024", "not-a-number", ""])
def test_declared_length_within_limit(declared: str | None) -> None:
    check_declared_length(declared, 1024)


@pytest.mark.parametrize("declared", ["1025", "99999999999999999999"])
def test_declared_length_over_limit(declared: str) -> None:
    with pytest.raises(PayloadTooLarge) as info:
        check_declared_length(declared, 1024)
    assert info.value.status == 413 and "1024" in info.value.message


async def _chunks(parts: list[bytes], consumed: list[int]) -> AsyncIterator[bytes]:
    for part in parts:
        consumed.append(len(part))
        yield part


def test_read_limited_joins_chunks() -> None:
    consumed: list[int] = []
    assert asyncio.run(read_limited(_chunks([b"ab", b"", b"cd"], consumed), 4)) == b"abcd"


def test_read_limited_stops_as_soon_as_over() -> None:
    consumed: list[int] = []
    with pytest.raises(PayloadTooLarge):
        asyncio.run(read_limited(_chunks([b"a" * 600, b"b" * 600, b"c" * 600, b"d" * 600], consumed), 1024))
    assert consumed == [600, 600], "must stop reading at the chunk that passes the limit"


def test_read_limited_single_large_chunk() -> None:
    with pytest.raises(PayloadTooLarge):
        asyncio.run(read_limited(_chunks([b"x" * 1025], []), 1024))
