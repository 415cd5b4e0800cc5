"""The free-form controls' own variables, as part of `Settings`."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, field_validator

from ..config_types import CsvList, SettingsPart, csv
from .safety import floor_problem

__all__ = ["IMAGE_TYPES", "MODALITIES", "OPTIONS", "FreeformSettings", "parse_safety_floor"]

IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif")
MODALITIES = ("image", "audio")  # output modalities beyond text
# Generation options a chat app does not need, each opened by ALLOWED_GENERATION_OPTIONS (docs/API.md).
OPTIONS = ("logprobs", "media_resolution_high")
_ENTRY = re.compile(r"^[A-Z_]{1,64}$")
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/([a-z0-9][a-z0-9!#$&^_.+-]{0,126}|\*)$")


def parse_safety_floor(value: Any) -> Any:
    """`HARM_CATEGORY_X=THRESHOLD,...` → {category: threshold}; Gemini's names only, each category once."""
    if not isinstance(value, str):
        return value
    floor: dict[str, str] = {}
    for entry in csv(value):
        category, sep, threshold = entry.partition("=")
        category, threshold = category.strip().upper(), threshold.strip().upper()
        if not sep or not _ENTRY.match(category) or not _ENTRY.match(threshold):
            raise ValueError(f"{entry[:80]!r} is not HARM_CATEGORY_X=THRESHOLD")
        problem = floor_problem(category, threshold)
        if problem is not None:
            raise ValueError(problem)
        if category in floor:
            raise ValueError(f"{category} is given twice")
        floor[category] = threshold
    return floor


class FreeformSettings(SettingsPart):
    safety_floor: Annotated[
        dict[str, str], Field(alias="SAFETY_FLOOR", default_factory=dict), BeforeValidator(parse_safety_floor)
    ]
    allowed_modalities: Annotated[CsvList, Field(alias="ALLOWED_MODALITIES")] = ()  # text only
    allowed_media_types: Annotated[CsvList, Field(alias="ALLOWED_MEDIA_TYPES")] = IMAGE_TYPES
    allowed_generation_options: Annotated[CsvList, Field(alias="ALLOWED_GENERATION_OPTIONS")] = ()

    @field_validator("allowed_modalities")
    @classmethod
    def _modalities(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        value = tuple(m.lower() for m in value)
        for modality in value:
            if modality not in (*MODALITIES, "text"):
                raise ValueError(f"{modality!r} is not one of text, {', '.join(MODALITIES)}")
        return value

    @field_validator("allowed_media_types")
    @classmethod
    def _media_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        value = tuple(m.lower() for m in value)
        for media_type in value:
            if not _MEDIA_TYPE.match(media_type):
                raise ValueError(f"{media_type!r} is not a media type such as image/png, audio/* or application/pdf")
        return value

    @field_validator("allowed_generation_options")
    @classmethod
    def _options(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        value = tuple(o.lower() for o in value)
        for option in value:
            if option not in OPTIONS:
                raise ValueError(f"{option!r} is not one of {', '.join(OPTIONS)}")
        return value
