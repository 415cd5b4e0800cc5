"""Shared fixtures for the unit tests: the real Gemini bodies, read from tests/fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def sse_payloads(raw: bytes) -> list[Any]:
    """The JSON of every `data:` line of an SSE body, in order."""
    out: list[Any] = []
    for line in raw.decode("utf-8").splitlines():
        if line.startswith("data:"):
            out.append(json.loads(line[len("data:") :].strip()))
    return out


@pytest.fixture
def generate_response() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(fixture_bytes("generate-content-response.json"))
    return data


@pytest.fixture
def stream_chunks() -> list[Any]:
    return sse_payloads(fixture_bytes("stream-generate-content.sse"))


@pytest.fixture
def api_key_invalid_body() -> bytes:
    return fixture_bytes("error-api-key-invalid.json")
