"""Per-model rules (family, thought signatures, thinking levels), shared by the model and Interactions routes.

Why: the function must meet Google's refusals here first. As of December 2026 the Flash line from 3.7 on,
the Pro line and Gemini 4 refuse `minimal`; Flash up to 3.6 and every Flash-Lite take all four levels;
Gemini 2.x has no levels at all. `xhigh` is in both SDK enums, but no model page lists it, so every model
refuses it. Names without a `gemini-N` family stay lenient, as elsewhere in the emulator.
"""

from __future__ import annotations

import re

__all__ = [
    "LEVELS",
    "allowed_levels",
    "content_level_error",
    "family",
    "interactions_level_error",
    "signs_thoughts",
    "thinks",
]

LEVELS = ("MINIMAL", "LOW", "MEDIUM", "HIGH", "XHIGH")
"""Every level either API's enum knows (generateContent also has THINKING_LEVEL_UNSPECIFIED)."""

_ALL_FOUR = ("MINIMAL", "LOW", "MEDIUM", "HIGH")
_NO_MINIMAL = ("LOW", "MEDIUM", "HIGH")
_FAMILY = re.compile(r"gemini-(\d+)")
_NO_MINIMAL_MODELS = (
    re.compile(r"gemini-3\.(?:[7-9]|\d\d+)-flash(?!-lite)"),  # 3.7 Flash and later, not Flash-Lite
    re.compile(r"gemini-flash-latest$"),  # points at 3.8 Flash
    re.compile(r"gemini-pro-latest$"),
    re.compile(r"gemini-3(?:\.\d+)?-pro"),
    re.compile(r"gemini-(?:[4-9]|\d\d+)-"),  # Gemini 4 Argon and later
)
_INTERACTIONS_ORDER = {_NO_MINIMAL: "medium, low, high", _ALL_FOUR: "minimal, low, medium, high"}
"""The order Google's Interactions message lists the allowed levels in (seen for the three-level case)."""


def family(model: str) -> int | None:
    """The model family's major version (`gemini-3.5-flash` → 3); None for names without one."""
    match = _FAMILY.match(model)
    return int(match.group(1)) if match else None


def signs_thoughts(model: str) -> bool:
    """Gemini 3+ rules (thought signatures) apply; unknown names stay lenient."""
    major = family(model)
    return major is not None and major >= 3


def allowed_levels(model: str) -> tuple[str, ...] | None:
    """Levels the model takes; None when it takes none (Gemini 2.x). Unknown names take every level."""
    if any(p.match(model) for p in _NO_MINIMAL_MODELS):
        return _NO_MINIMAL
    major = family(model)
    if major is None:
        return LEVELS
    return None if major < 3 else _ALL_FOUR


def thinks(level: str | None) -> bool:
    """Whether a request with this level thinks (and bills thought tokens): every level but MINIMAL."""
    return not (isinstance(level, str) and level.upper() == "MINIMAL")


def content_level_error(model: str, level: str) -> str | None:
    """generateContent's 400 message for a level the model refuses (`level` already upper-case and known)."""
    allowed = allowed_levels(model)
    if allowed is None:
        return "Thinking level is not supported for this model."
    if level not in allowed:
        return f"Thinking level {level} is not supported for this model. Please retry with other thinking level."
    return None


def interactions_level_error(model: str, level: str) -> str | None:
    """The Interactions API's 400 `invalid_request` message for a level the model refuses (`level` lower-case)."""
    allowed = allowed_levels(model)
    if allowed is None:
        return "Thinking level is not supported for this model."
    if level.upper() not in allowed:
        order = _INTERACTIONS_ORDER.get(allowed, ", ".join(a.lower() for a in allowed))
        return f"'{level}' is not a supported thinking level for this model. Allowed values are: {order}."
    return None
