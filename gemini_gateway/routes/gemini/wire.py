"""The base of every Gemini-native request model: proto3 JSON, strict, refusals by name."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel

from ...model_base import field_error

__all__ = ["MIME", "UNSUPPORTED", "Wire"]

MIME = r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$"
UNSUPPORTED = "not supported by this function"


class Wire(BaseModel):
    """Gemini's proto3 JSON: camelCase on the wire, snake_case names accepted too (as proto3 parsers do).

    The Python SDK itself sends `thinkingConfig` with snake_case keys.
    Documented fields this function does not serve are refused by name
    with a clearer message than "unknown field".
    """

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        defer_build=True,  # built on first use: a cold start pays only for the route it serves first
    )
    unsupported: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _refuse_unsupported(cls, data: Any) -> Any:
        if isinstance(data, dict) and cls.unsupported:
            for key in data:
                if isinstance(key, str) and to_camel(key) in cls.unsupported:
                    raise field_error(to_camel(key), UNSUPPORTED)
        return data

    def set_fields(self) -> list[str]:
        """The wire names of the fields the caller set to something other than null."""
        return [
            field.alias or name
            for name, field in type(self).model_fields.items()
            if name in self.model_fields_set and getattr(self, name) is not None
        ]
