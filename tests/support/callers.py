"""Drive one caller check the way the gate does, for unit tests: None when refused or not presented."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gemini_gateway.callers import Caller
from gemini_gateway.errors import Unauthenticated

__all__ = ["verified"]


async def verified(check: Any, headers: Mapping[str, str], body: bytes = b"") -> Caller | None:
    """The caller a check alone admits: None when its credential is absent or refused (401)."""
    if not check.presented(headers):
        return None
    try:
        layer = await check.verify(headers, body)
    except Unauthenticated:
        return None
    return Caller(layer.name)
