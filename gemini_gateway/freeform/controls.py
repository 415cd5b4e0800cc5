"""What a free-form caller may ask, checked once per request on every route that takes a caller's own prompt.

A route describes its request as an `Ask` in Gemini's terms (harm category
and threshold names, modality names, MIME types), each item with the field
the caller sent it in, so a refusal names that field in the route's own
terms. `apply_controls` checks the ask against the caller's policy
(`policies.Effective`: safety floor, output modalities, system instruction)
and the deployment's settings (inline media types, generation options), and
returns the safety settings to send upstream. Pure functions: the intake
calls them for every generating route that declares its request's
`freeform` (`GenerationIntake.freeform`), and a route that does not use the
intake calls `apply_controls` itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..errors import InvalidRequest
from .safety import SafetyAsk, check_safety, upstream_safety

__all__ = [
    "Ask",
    "FreeformPolicy",
    "FreeformRequest",
    "FreeformSettingsView",
    "apply_controls",
    "check_media_types",
    "check_modalities",
    "check_options",
    "check_system_instruction",
    "media_type_allowed",
]

Asked = tuple[str, str]
"""(field, value): ("contents[0].parts[1].inlineData.mimeType", "video/mp4")."""

_OPTION_PROBLEMS = {
    "logprobs": "log probabilities are not enabled on this deployment",
    "media_resolution_high": "MEDIA_RESOLUTION_HIGH is not enabled on this deployment (LOW and MEDIUM are)",
}


@dataclass(slots=True)  # not frozen: built once per request, and a frozen __init__ costs ~3x as much
class Ask:
    """What one free-form request asks for beyond text in, text out; every item names its field."""

    safety: Sequence[SafetyAsk] = ()  # the caller's own safety settings, in order
    modalities: Sequence[Asked] = ()  # output beyond text: "image" or "audio"
    media_types: Sequence[Asked] = ()  # the MIME type of each inline part
    system_instruction: str | None = None  # the field of the caller's own system instruction, if it sent one
    options: Sequence[Asked] = ()  # generation options a chat app does not need (settings.OPTIONS)


class FreeformRequest(Protocol):
    """A route's parsed request that takes a caller's own prompt."""

    def freeform(self) -> Ask: ...


class FreeformPolicy(Protocol):
    """What the caller's policy decides (`policies.Effective` is one)."""

    @property
    def safety_floor(self) -> Mapping[str, str]: ...
    @property
    def allowed_modalities(self) -> Sequence[str]: ...
    @property
    def allow_system_instruction(self) -> bool: ...


class FreeformSettingsView(Protocol):
    """What the deployment decides for everyone (`Settings` is one)."""

    @property
    def allowed_media_types(self) -> Sequence[str]: ...
    @property
    def allowed_generation_options(self) -> Sequence[str]: ...


def apply_controls(ask: Ask, policy: FreeformPolicy, settings: FreeformSettingsView) -> list[dict[str, str]] | None:
    """Every control, in one call: 400 naming the first field asked for beyond what is allowed.

    Returns the `safetySettings` to send upstream (the caller's own, then the
    floor for each category it left unset), or None when no floor applies.
    """
    check_system_instruction(ask.system_instruction, policy.allow_system_instruction)
    check_modalities(ask.modalities, policy.allowed_modalities)
    check_media_types(ask.media_types, settings.allowed_media_types)
    check_options(ask.options, settings.allowed_generation_options)
    check_safety(ask.safety, policy.safety_floor)
    return upstream_safety(ask.safety, policy.safety_floor)


def check_system_instruction(field: str | None, allowed: bool) -> None:
    if field is not None and not allowed:
        raise InvalidRequest.for_field(field, "a system instruction of the caller's own is not allowed here")


def check_modalities(asked: Sequence[Asked], allowed: Sequence[str]) -> None:
    """Output beyond text (`image`, `audio`) only when the policy or ALLOWED_MODALITIES allows it."""
    for field, modality in asked:
        if modality != "text" and modality not in allowed:
            names = ", ".join(["text", *(m for m in allowed if m != "text")])
            raise InvalidRequest.for_field(field, f"{modality} output is not allowed here (allowed: {names})")


def media_type_allowed(media_type: str, allowed: Sequence[str]) -> bool:
    """`media_type` is in `allowed`, exactly or by a `major/*` entry (both compared in lower case)."""
    media_type = media_type.lower()
    if media_type in allowed:
        return True
    major, _, _ = media_type.partition("/")
    return f"{major}/*" in allowed


def check_media_types(asked: Sequence[Asked], allowed: Sequence[str]) -> None:
    """Inline media only of the types ALLOWED_MEDIA_TYPES lists."""
    for field, media_type in asked:
        if not media_type_allowed(media_type, allowed):
            names = ", ".join(allowed) or "none"
            raise InvalidRequest.for_field(field, f"{media_type} is not an inline media type allowed here ({names})")


def check_options(asked: Sequence[Asked], allowed: Sequence[str]) -> None:
    """Generation options only when ALLOWED_GENERATION_OPTIONS lists them."""
    for field, option in asked:
        if option not in allowed:
            raise InvalidRequest.for_field(field, _OPTION_PROBLEMS.get(option, f"{option} is not enabled here"))
