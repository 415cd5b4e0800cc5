"""The request edge: body size, content type, JSON, and schema → typed request.

Pure functions over bytes and header values, so the same rules serve every
route and are tested without a server.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import (
    InvalidJson,
    InvalidRequest,
    PayloadTooLarge,
    Problem,
    UnsupportedMediaType,
)

__all__ = [
    "check_content_type",
    "check_declared_length",
    "parse_json",
    "problems_from",
    "read_limited",
    "strict_json_loads",
    "validate",
]

M = TypeVar("M", bound=BaseModel)


def check_declared_length(content_length: str | None, limit: int) -> None:
    """Refuse a too-large body from its header, before reading a byte of it."""
    if content_length is None:
        return
    try:
        declared = int(content_length)
    except ValueError:
        return  # the server rejects a malformed Content-Length itself
    if declared > limit:
        raise PayloadTooLarge(limit)


async def read_limited(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """Read a streamed body, stopping as soon as it passes `limit` bytes."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(limit)
        parts.append(chunk)
    return b"".join(parts)


def check_content_type(content_type: str | None) -> None:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType(media_type or None)


def parse_json(body: bytes) -> Any:
    """Strict JSON: no NaN/Infinity (literal or by overflow), valid UTF-8, something there at all."""
    if not body.strip():
        raise InvalidJson("request body is empty; expected a JSON object")
    try:
        return strict_json_loads(body)
    except RecursionError:
        raise InvalidJson("request body is nested too deeply") from None
    except ValueError as exc:
        raise InvalidJson(f"request body is not valid JSON: {_json_reason(exc)}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def strict_json_loads(data: bytes | str) -> Any:
    """json.loads that refuses what RFC 8259 refuses: NaN, Infinity, numbers that overflow."""
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    return json.loads(data, parse_constant=_reject_constant, parse_float=_finite_float)


def validate(model: type[M], data: Any) -> M:
    """Validate parsed JSON against `model`, turning failures into invalid_request."""
    if not isinstance(data, dict):
        raise InvalidRequest.for_field("body", "must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = problems_from(exc.errors(include_url=False, include_input=False))
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InvalidRequest(f"{first.field}: {first.problem}{more}", details=problems) from None


def problems_from(errors: Iterable[Any]) -> list[Problem]:
    """pydantic errors → the error's `details`, one per field, in order."""
    seen: dict[str, Problem] = {}
    for err in errors:
        loc = list(err["loc"])
        ctx = err.get("ctx") or {}
        if err["type"] == "field_rule":
            loc.append(ctx["field"])
        field = _path(loc) or "body"
        if field not in seen:
            seen[field] = Problem(field, _problem(err["type"], err["msg"], ctx))
    return list(seen.values())


def _path(loc: list[Any]) -> str:
    out = ""
    for item in loc:
        if isinstance(item, int):
            out += f"[{item}]"
        else:
            out += f".{item}" if out else str(item)
    return out


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _problem(kind: str, message: str, ctx: dict[str, Any]) -> str:
    simple = {
        "missing": "required",
        "extra_forbidden": "unknown field",
        "string_type": "must be a string",
        "int_type": "must be an integer",
        "int_from_float": "must be an integer",
        "float_type": "must be a number",
        "bool_type": "must be true or false",
        "list_type": "must be a list",
        "dict_type": "must be an object",
        "model_type": "must be an object",
        "model_attributes_type": "must be an object",
        "finite_number": "must be a finite number",
    }
    if kind in simple:
        return simple[kind]
    if kind == "less_than_equal":
        return f"must be <= {_num(ctx['le'])}"
    if kind == "greater_than_equal":
        return f"must be >= {_num(ctx['ge'])}"
    if kind == "less_than":
        return f"must be < {_num(ctx['lt'])}"
    if kind == "greater_than":
        return f"must be > {_num(ctx['gt'])}"
    if kind == "string_too_short":
        return "must not be empty" if ctx.get("min_length") == 1 else f"must be at least {ctx['min_length']} characters"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters"
    if kind == "too_short":
        return "must not be empty" if ctx.get("min_length") == 1 else f"must have at least {ctx['min_length']} items"
    if kind == "too_long":
        return f"must have at most {ctx['max_length']} items"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}"
    return message[:1].lower() + message[1:]


def _json_reason(exc: ValueError) -> str:
    text = str(exc)
    return text if len(text) <= 120 else text[:117] + "..."
