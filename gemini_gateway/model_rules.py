"""What current Gemini models do with a request's knobs: sampling fields ignored, thinking levels refused.

On Gemini 3.6 and later, and Gemini 4, Google ignores `temperature`,
`top_p` and `top_k` (ai.google.dev/gemini-api/docs/generate-content/latest-model;
the Interactions API marks them deprecated): the function still passes a
caller's values and says so in the answer's `warnings`. A thinking level a
model does not take (`minimal` on gemini-3.8-flash) is Google's 400; it comes
back naming the route's own field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .errors import InvalidRequest

__all__ = ["ignores_sampling", "sampling_warnings", "thinking_refusal"]

_VERSION = re.compile(r"^gemini-(\d+)(?:\.(\d+))?")
_CURRENT_ALIASES = ("gemini-flash-latest", "gemini-pro-latest", "gemini-flash-lite-latest")


def ignores_sampling(model: str) -> bool:
    """Whether `model` ignores temperature, top_p and top_k (Gemini 3.6 and later, Gemini 4, the -latest aliases)."""
    if model in _CURRENT_ALIASES:
        return True
    match = _VERSION.match(model)
    if match is None:
        return False
    major, minor = int(match.group(1)), int(match.group(2) or 0)
    return major >= 4 or (major == 3 and minor >= 6)


def sampling_warnings(model: str, fields: Iterable[str]) -> list[str]:
    """`["temperature is ignored by gemini-3.8-flash"]` for each sampling field the caller set and the model ignores."""
    return [f"{field} is ignored by {model}" for field in fields] if ignores_sampling(model) else []


def thinking_refusal(error: InvalidRequest, field: str) -> InvalidRequest:
    """Google's refusal of a thinking level, as a 400 naming `field`; any other refusal unchanged."""
    if "thinking level" not in error.message.lower():
        return error
    return InvalidRequest.for_field(field, error.message.removeprefix("the model refused the request: "))
