"""The templates' own variables, as part of `Settings`."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ..config_types import SettingsPart

__all__ = ["TemplateSettings"]


class TemplateSettings(SettingsPart):
    prompts_dir: Annotated[str, Field(alias="PROMPTS_DIR", min_length=1)] = "prompts"
    template_input_max_chars: Annotated[int, Field(alias="TEMPLATE_INPUT_MAX_CHARS", ge=1, le=1_000_000)] = 2000
