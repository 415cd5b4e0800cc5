"""The kinds of value an environment variable holds, shared by the settings and the caller checks' own settings.

Each is an annotated type: the parsing and the rule live with the type, so a
new setting states what it is (`SecretName`, `HttpUrl`, `CsvList`) and gets
the same parsing and the same error message as every other setting of its kind.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

__all__ = [
    "BUILTIN_TOOLS",
    "DEFAULT_MODEL",
    "MODEL_ID",
    "CsvList",
    "HttpUrl",
    "Optional",
    "SecretName",
    "SettingsPart",
    "ZeroIfBlank",
    "csv",
    "parse_aliases",
]

# A current stable Flash model (https://ai.google.dev/gemini-api/docs/deprecations, read 2026-11-28):
# gemini-3.8-flash, released 2026-09-02, no shutdown date announced. Change it with DEFAULT_MODEL.
DEFAULT_MODEL = "gemini-3.8-flash"
BUILTIN_TOOLS = ("google_search", "url_context", "code_execution")
MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")  # it goes into the upstream URL path

_SECRET_NAME = re.compile(r"^projects/[^/]+/secrets/[^/]+/versions/(latest|[1-9][0-9]*)$")
_HTTP_URL = re.compile(r"^https?://[^/\s]+(/\S*)?$")


def csv(value: Any) -> Any:
    """`a, b,,c` → ["a", "b", "c"]; anything not a string is left to the field's type."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _blank_is_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def parse_aliases(value: Any) -> Any:
    """`fast=gemini-3.5-flash-lite,gemini-2.5-flash=gemini-3.8-flash` → {name: model}."""
    if not isinstance(value, str):
        return value
    aliases: dict[str, str] = {}
    for entry in csv(value):
        name, sep, model = entry.partition("=")
        if not sep or not name.strip() or not model.strip():
            raise ValueError(f"{entry!r} is not name=model")
        aliases[name.strip()] = model.strip()
    return aliases


def _secret_name(value: str | None) -> str | None:
    if value is not None and not _SECRET_NAME.match(value.strip()):
        raise ValueError("must look like projects/P/secrets/S/versions/V (V a number or 'latest')")
    return value.strip() if value else value


def _http_url(value: str) -> str:
    value = value.strip().rstrip("/")
    if not _HTTP_URL.match(value):
        raise ValueError("must be an http(s) URL")
    return value


Optional = BeforeValidator(_blank_is_none)
"""A blank value is the same as no value."""
ZeroIfBlank = BeforeValidator(lambda v: _blank_is_none(v) or 0)
CsvList = Annotated[tuple[str, ...], BeforeValidator(csv)]
SecretName = Annotated[str | None, Optional, AfterValidator(_secret_name)]
"""A Secret Manager version name, `projects/P/secrets/S/versions/V`."""
HttpUrl = Annotated[str, AfterValidator(_http_url)]


class SettingsPart(BaseModel):
    """The base of the variables a part declares for `Settings` (a caller check, the templates, the jobs).

    A part is never validated on its own: its schema is not built (pydantic's
    `defer_build`); `Settings` builds one schema for all of them (~20 ms of start-up saved).
    """

    model_config = ConfigDict(defer_build=True)
