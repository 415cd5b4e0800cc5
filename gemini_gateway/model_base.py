"""What every strict request model of every route shares.

Strict mode: JSON types are not coerced ("1" is not a number), unknown fields
are refused by name, and model-level rules still name the field they are
about (`field_error`, read by `payload.problems_from`).
"""

from __future__ import annotations

import binascii
import json
import math
from collections.abc import Sized
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

__all__ = [
    "INT32_MAX",
    "INT32_MIN",
    "MAX_CONTENTS",
    "MAX_PARTS",
    "MAX_SCHEMA_BYTES",
    "Doc",
    "Strict",
    "check_base64",
    "check_parts",
    "check_schema_size",
    "field_error",
    "finite",
    "string_as_text_part",
    "text_or_parts",
]

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
T = TypeVar("T")
MAX_CONTENTS = 1000  # messages / contents in one request
MAX_PARTS = 1000  # parts in all messages together
MAX_SCHEMA_BYTES = 64 * 1024  # one JSON schema (response or parameters), serialised


class Strict(BaseModel):
    # Built on first use: a cold start pays only for the models of the route it serves first.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, defer_build=True)


class Doc(BaseModel):
    """An answer model: documentation and tests only (answers are built as plain dicts), so built on first use."""

    model_config = ConfigDict(defer_build=True)


def field_error(field: str, problem: str) -> PydanticCustomError:
    """A model-level error that still names the field it is about."""
    return PydanticCustomError("field_rule", "{problem}", {"field": field, "problem": problem})


def finite(value: float | None) -> float | None:
    """A field validator body: NaN and infinities are not numbers a caller may send."""
    if value is not None and not math.isfinite(value):
        raise PydanticCustomError("finite", "must be a finite number")
    return value


def check_base64(value: str, *, url_safe: bool = False) -> str:
    """Valid base64 (standard; with url_safe also URL-safe and unpadded, as proto3 JSON accepts)."""
    text = value
    if url_safe:
        text = value.replace("-", "+").replace("_", "/")
        text += "=" * (-len(text) % 4)
    try:
        binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        raise PydanticCustomError("base64", "must be valid base64") from None
    return value


def string_as_text_part(value: Any) -> Any:
    """A `content` validator body: a non-empty string is one text part (chat APIs allow both forms)."""
    if isinstance(value, str):
        if not value:
            raise PydanticCustomError("empty", "must not be empty")
        return [{"type": "text", "text": value}]
    return value


def text_or_parts(part: type[BaseModel], also: Any) -> Any:
    """The `content` validator of a chat message: a string, or a list of `part`, or `also`.

    The input schema says what callers may send (a string is one text part),
    so the OpenAPI document does too.
    """
    accepted: Any = Annotated[str, Field(min_length=1)] | Annotated[list[part], Field(min_length=1)] | also  # type: ignore[valid-type]
    return field_validator("content", mode="before", json_schema_input_type=accepted)(
        classmethod(lambda cls, value: string_as_text_part(value))
    )


def check_parts(field: str, counts: list[Sized]) -> None:
    """At most MAX_PARTS parts across every message of a request."""
    if sum(len(parts) for parts in counts) > MAX_PARTS:
        raise field_error(field, f"at most {MAX_PARTS} parts in all messages together")


def check_schema_size(value: T) -> T:
    """A JSON schema field's validator body: at most MAX_SCHEMA_BYTES once serialised."""
    if value is not None:
        size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
        if size > MAX_SCHEMA_BYTES:
            raise PydanticCustomError("schema_size", f"must be at most {MAX_SCHEMA_BYTES} bytes as JSON")
    return value
