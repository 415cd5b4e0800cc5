"""Gemini's harm categories and block thresholds, and the operator's safety floor over a caller's own settings.

The names are the Gemini API's (its safety-settings guide and the
`HarmCategory` / `HarmBlockThreshold` enums of the API reference). A
threshold is stricter the lower the probability it blocks at:
BLOCK_LOW_AND_ABOVE blocks most, then BLOCK_MEDIUM_AND_ABOVE,
BLOCK_ONLY_HIGH, BLOCK_NONE (rated, never blocked) and OFF (not rated).
HARM_BLOCK_THRESHOLD_UNSPECIFIED asks for Google's default, so for a
category the floor covers it counts as unset and the floor is sent instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..errors import InvalidRequest

__all__ = [
    "FLOOR_CATEGORIES",
    "HARM_CATEGORIES",
    "THRESHOLDS",
    "UNSPECIFIED",
    "SafetyAsk",
    "check_safety",
    "floor_problem",
    "upstream_safety",
]

# The categories the Gemini API filters on. CIVIC_INTEGRITY is deprecated by Google (its filter no longer
# runs): a caller may still send it (the SDKs' enums have it), a floor may not name it.
FLOOR_CATEGORIES = (
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
)
HARM_CATEGORIES = (*FLOOR_CATEGORIES, "HARM_CATEGORY_CIVIC_INTEGRITY")
UNSPECIFIED = "HARM_BLOCK_THRESHOLD_UNSPECIFIED"
THRESHOLDS = (
    "BLOCK_LOW_AND_ABOVE",
    "BLOCK_MEDIUM_AND_ABOVE",
    "BLOCK_ONLY_HIGH",
    "BLOCK_NONE",
    "OFF",
)  # strictest first
_RANK = {threshold: rank for rank, threshold in enumerate(THRESHOLDS)}

SafetyAsk = tuple[str, str, str]
"""(field of the setting, category, threshold) as the caller sent it: ("safetySettings[2]", "HARM_...", "OFF")."""


def floor_problem(category: str, threshold: str) -> str | None:
    """Why `category=threshold` cannot be part of a safety floor, or None (a static configuration check)."""
    if category not in FLOOR_CATEGORIES:
        return f"{category} is not a Gemini API harm category a floor can set (one of {', '.join(FLOOR_CATEGORIES)})"
    if threshold not in _RANK:
        return f"{threshold} is not a block threshold (one of {', '.join(THRESHOLDS)})"
    return None


def check_safety(asked: Sequence[SafetyAsk], floor: Mapping[str, str]) -> None:
    """Invented categories, and thresholds looser than the floor: 400 naming `<field>.category` / `.threshold`."""
    for field, category, threshold in asked:
        if category not in HARM_CATEGORIES:
            raise InvalidRequest.for_field(
                f"{field}.category",
                f"{category} is not a harm category of the Gemini API (one of {', '.join(HARM_CATEGORIES)})",
            )
        if threshold == UNSPECIFIED:
            continue
        rank = _RANK.get(threshold)
        if rank is None:
            raise InvalidRequest.for_field(
                f"{field}.threshold",
                f"{threshold} is not a block threshold (one of {UNSPECIFIED}, {', '.join(THRESHOLDS)})",
            )
        least = floor.get(category)
        if least is not None and rank > _RANK[least]:
            raise InvalidRequest.for_field(
                f"{field}.threshold",
                f"{threshold} is looser than this deployment's safety floor for {category}: {least} or stricter",
            )


def upstream_safety(asked: Sequence[SafetyAsk], floor: Mapping[str, str]) -> list[dict[str, str]] | None:
    """The safety settings to send: the caller's (checked), then the floor for each category it left unset.

    None when there is no floor: the caller's own settings (if any) go as they are, and Google's defaults
    apply to the rest.
    """
    if not floor:
        return None
    settings: list[dict[str, str]] = []
    seen: set[str] = set()
    for _, category, threshold in asked:
        seen.add(category)
        if threshold == UNSPECIFIED and category in floor:
            threshold = floor[category]
        settings.append({"category": category, "threshold": threshold})
    settings += [{"category": c, "threshold": t} for c, t in floor.items() if c not in seen]
    return settings
