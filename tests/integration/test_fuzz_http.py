"""Random bodies over HTTP never produce a 5xx, a stack trace or a non-JSON answer."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import Function

FIELDS = [
    "prompt",
    "messages",
    "system",
    "model",
    "temperature",
    "top_p",
    "top_k",
    "max_output_tokens",
    "stop",
    "seed",
    "thinking_budget",
    "response_format",
    "stream",
    "cache",
    "metadata",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
part = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image", "video"])},
    optional={
        "text": json_values,
        "mime_type": st.sampled_from(["image/png", "image/gif", 3]),
        "data": st.sampled_from(["iVBORw0KGgo=", "!!", ""]),
    },
)
message = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "system", 1])},
    optional={
        "content": st.text(max_size=10) | st.lists(part, max_size=3) | json_values,
    },
)
near_valid = (
    st.fixed_dictionaries(
        {},
        optional={
            "prompt": st.text(max_size=30) | json_values,
            "messages": st.lists(message, max_size=3) | json_values,
            "temperature": st.floats(allow_nan=False, min_value=-5, max_value=5) | json_values,
            "model": st.sampled_from(["gemini-2.5-flash", "gemini-2.5-pro", "other"]) | json_values,
            "stop": st.lists(st.text(max_size=5), max_size=7) | json_values,
            "metadata": st.dictionaries(st.text(max_size=5), scalars, max_size=6) | json_values,
            "response_format": st.fixed_dictionaries({"type": st.sampled_from(["json", "text", "xml"])}) | json_values,
            "cache": st.fixed_dictionaries(
                {}, optional={"ttl_seconds": st.integers(-10, 3_000_000), "skip": st.booleans()}
            )
            | json_values,
        },
    )
    | st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=5)
    | json_values
)


def check(response: Any) -> None:
    assert response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/json")
    data = response.json()
    if response.status_code == 200:
        assert isinstance(data["text"], str) and data["finish_reason"]
    else:
        assert data["error"]["type"] in {"invalid_json", "invalid_request"}, data
        assert "Traceback" not in response.text


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(body=near_valid)
def test_random_json_bodies(fn: Function, body: Any) -> None:
    check(fn.post(content=json.dumps(body).encode(), headers={"Content-Type": "application/json"}))


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(raw=st.binary(max_size=200))
def test_random_bytes(fn: Function, raw: bytes) -> None:
    check(fn.post(content=raw, headers={"Content-Type": "application/json"}))
