"""Property tests: parse_json + validate never fail with anything but a 400 ApiError."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gemini_gateway.chat.models import GenerateRequest
from gemini_gateway.errors import ApiError, InvalidJson, InvalidRequest
from gemini_gateway.json_body import parse_json, validate

FIELDS = sorted(GenerateRequest.model_fields)
NESTED_FIELDS = ["role", "content", "type", "text", "mime_type", "data", "schema", "ttl_seconds", "skip", "caller"]

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)
key = st.sampled_from(FIELDS + NESTED_FIELDS) | st.text(max_size=8)
image_part = st.fixed_dictionaries(
    {"type": st.sampled_from(["image", "text"])},
    optional={
        "mime_type": st.sampled_from(["image/png", "image/jpeg", "image/gif"]) | json_values,
        "data": st.sampled_from(["AAAA", "AAA", "", "!!!!"]) | json_values,
        "text": st.text(max_size=5) | json_values,
    },
)
message = st.fixed_dictionaries(
    {},
    optional={
        "role": st.sampled_from(["user", "assistant", "system"]) | json_values,
        "content": st.text(max_size=5) | st.lists(image_part | json_values, max_size=3) | json_values,
    },
)
biased_value = (
    json_values
    | st.lists(message, max_size=3)
    | st.fixed_dictionaries({}, optional={k: json_values for k in ("type", "schema", "ttl_seconds", "skip")})
    | st.dictionaries(st.text(max_size=5) | st.just("caller"), scalars, max_size=6)
)
biased_requests = st.dictionaries(key, biased_value, max_size=8)
bodies = json_values | biased_requests


def check(data: Any) -> None:
    try:
        result = validate(GenerateRequest, data)
    except ApiError as error:
        assert error.status == 400, error
        if isinstance(error, InvalidRequest):
            assert error.details, "an invalid_request names at least one field"
            assert error.message.startswith(error.details[0].field + ":"), error.message
        return
    assert isinstance(result, GenerateRequest)


@SETTINGS
@given(bodies)
def test_validate_only_ever_returns_or_raises_400(value: Any) -> None:
    raw = json.dumps(value).encode()
    try:
        data = parse_json(raw)
    except InvalidJson:
        raise AssertionError(f"json.dumps output refused: {raw!r}") from None
    check(data)


@SETTINGS
@given(st.binary(max_size=200))
def test_parse_json_arbitrary_bytes(raw: bytes) -> None:
    try:
        parse_json(raw)
    except InvalidJson as error:
        assert error.status == 400


@SETTINGS
@given(st.text(alphabet='{}[]",:0123456789.eE+-truefalsnNIiy \\', max_size=40))
def test_parse_json_json_ish_text(text: str) -> None:
    try:
        data = parse_json(text.encode())
    except InvalidJson:
        return
    check(data)
