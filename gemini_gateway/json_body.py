"""The request edge: body size, content type, JSON, and schema → typed request.

Pure functions over bytes and header values, so the same rules serve every
route and are tested without a server.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import AsyncIterator, Iterable, Iterator
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
    "MAX_DEPTH",
    "MAX_JSON_VALUES",
    "check_content_type",
    "check_declared_length",
    "parse_json",
    "parse_json_body",
    "problems_from",
    "read_limited",
    "strict_json_loads",
    "validate",
]

M = TypeVar("M", bound=BaseModel)

MAX_DEPTH = 64  # JSON nesting, anywhere in a body
MAX_JSON_VALUES = 100_000  # strings, numbers, objects and arrays in one body: bounds what parsing builds
_STRING_BODY = re.compile(rb'(?:[^"\\]++|\\.)*+', re.DOTALL)  # a string's content up to its closing quote
_YIELD_EVERY = 512  # strings between two pauses of a long scan
_WINDOW = 64 * 1024  # bytes between two pauses of a long scan


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
    """Strict JSON within the structural limits, for bodies already known to be small (tests, tools)."""
    for _ in _value_count(body):
        pass
    return _parse(body)


async def parse_json_body(body: bytes) -> Any:
    """`parse_json` for a caller's body: the one long scan yields to the event loop as it goes."""
    if len(body) > _WINDOW:  # a smaller body cannot hold MAX_JSON_VALUES values
        for _ in _value_count(body):
            await asyncio.sleep(0)
    return _parse(body)


def _parse(body: bytes) -> Any:
    """Strict JSON: no NaN/Infinity (literal or by overflow), valid UTF-8, something there at all, limits kept."""
    if not body.strip():
        raise InvalidJson("request body is empty; expected a JSON object")
    try:
        data = strict_json_loads(body)
    except RecursionError:
        raise InvalidJson("request body is nested too deeply") from None
    except ValueError as exc:
        raise InvalidJson(f"request body is not valid JSON: {_json_reason(exc)}") from None
    surrogates = b"\\ud" in body or b"\\uD" in body
    if surrogates or body.count(b"{") + body.count(b"[") > MAX_DEPTH:  # else neither can be there
        _check_tree(data, surrogates=surrogates)
    return data


def _value_count(body: bytes) -> Iterator[None]:
    """Refuse a body with more than MAX_JSON_VALUES values before it becomes Python objects.

    Separators and brackets are counted outside strings, over the raw bytes
    (C speed), one bounded window at a time: the generator yields between
    windows so that, driven by `parse_json_body`, the event loop keeps
    serving while a large body is scanned. A string is skipped by finding
    its closing quote (an unterminated one is invalid JSON).
    """
    count, pos, size, steps, pause = 0, 0, len(body), 0, _WINDOW
    in_string = False
    while pos < size:
        window = min(size, pos + _WINDOW)
        if in_string:  # skip the string's body: runs of plain bytes and escapes, in C
            stop = _STRING_BODY.match(body, pos, window).end()  # type: ignore[union-attr]  # it matches empty too
            if stop < size and body[stop] == 0x22:
                in_string, count, pos = False, count + 1, stop + 1
            elif stop == pos:  # a backslash that is the body's last byte
                break
            else:
                pos = stop  # the window ended inside the string (perhaps between an escape's two bytes)
        else:
            quote = body.find(b'"', pos, window)
            end = window if quote < 0 else quote
            count += body.count(b",", pos, end) + body.count(b"{", pos, end) + body.count(b"[", pos, end)
            if count > MAX_JSON_VALUES:
                raise InvalidRequest.for_field("body", f"has more than {MAX_JSON_VALUES} JSON values")
            in_string, pos = quote >= 0, end + (quote >= 0)
        steps += 1
        if pos >= pause or steps % _YIELD_EVERY == 0:
            pause = pos + _WINDOW
            yield
    if in_string:
        raise InvalidJson("request body is not valid JSON: a string is not terminated")


def _check_tree(data: Any, *, surrogates: bool) -> None:
    """Nesting deeper than MAX_DEPTH, or text that is not Unicode (a lone surrogate), named by its path."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict | list):
            if len(path) >= MAX_DEPTH:
                raise InvalidRequest.for_field(_path(list(path[:8])) or "body", f"nests deeper than {MAX_DEPTH} levels")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if surrogates and isinstance(key, str) and _has_surrogate(key):
                    raise InvalidRequest.for_field(_path([*path, "<key>"]), "is not valid Unicode (a lone surrogate)")
                stack.append((item, (*path, key)))
        elif surrogates and isinstance(value, str) and _has_surrogate(value):
            raise InvalidRequest.for_field(_path(list(path)) or "body", "is not valid Unicode (a lone surrogate)")


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


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
    """`["messages", 0, "content"]` → `messages[0].content`; union tags (`~text`, a model's own names for the
    branches of a union) are not fields and are left out."""
    out = ""
    for item in loc:
        if isinstance(item, str) and item.startswith("~"):
            continue
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
