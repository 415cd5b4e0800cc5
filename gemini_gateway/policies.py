"""Caller policies: per-caller overrides of what a caller may spend, ask and must present.

`CALLER_POLICIES` (JSON; `CALLER_POLICIES_SECRET` in Secret Manager) maps a
caller identity (`ios`, `uid:abc`, `app:1:123:android:x`, `webhook`) or a
kind wildcard (`uid:*`, `app:*`, `*`) to a policy (docs/API.md, "Caller
policies"). Each value is taken from the most specific entry that sets it —
the identity, then its kind's wildcard, then `*` — and the global setting
otherwise; `require` alone is taken from the most specific entry that exists,
so an entry without it requires nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Protocol

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from .config_types import BUILTIN_TOOLS
from .errors import Unavailable
from .freeform.settings import MODALITIES, parse_safety_floor
from .logs import log
from .model_base import Strict
from .secret_store import SecretRef, SecretStore

__all__ = [
    "CallerPolicy",
    "Defaults",
    "Effective",
    "Policies",
    "PolicyError",
    "PolicySource",
    "parse_policies",
]

_MAX_ENTRIES = 10_000
_MAX_KEY = 256


class CallerPolicy(Strict):
    rate_limit_per_minute: Annotated[int | None, Field(ge=0, le=1_000_000)] = None
    rate_limit_burst: Annotated[int | None, Field(ge=1, le=1_000_000)] = None
    daily_token_budget: Annotated[int | None, Field(ge=0, le=10**12)] = None
    allowed_models: Annotated[
        list[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]] | None, Field(max_length=64)
    ] = None
    allowed_tools: Annotated[list[str] | None, Field(max_length=len(BUILTIN_TOOLS))] = None
    max_output_tokens: Annotated[int | None, Field(ge=1, le=1_000_000)] = None
    # Who must come with this identity (docs/API.md §6)
    require: Annotated[list[Literal["app_check", "user", "api_key"]] | None, Field(max_length=3)] = None
    allow_anonymous_users: bool | None = None
    app_check_consume: bool | None = None
    # What it may ask (docs/API.md §7c, §7e)
    allowed_templates: Annotated[
        list[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]] | None, Field(max_length=1000)
    ] = None
    templates_only: bool | None = None
    safety_floor: Annotated[dict[str, str] | None, Field(max_length=32)] = None
    allowed_modalities: Annotated[list[str] | None, Field(max_length=3)] = None
    allow_system_instruction: bool | None = None

    @field_validator("safety_floor", mode="before")
    @classmethod
    def _floor(cls, value: Any) -> Any:
        if isinstance(value, dict):
            if not all(isinstance(v, str) for v in value.values()):  # not dropped: that would lift the floor
                raise ValueError("each threshold must be a name such as BLOCK_MEDIUM_AND_ABOVE")
            return parse_safety_floor(",".join(f"{k}={v}" for k, v in value.items()))
        return value

    @field_validator("allowed_modalities")
    @classmethod
    def _modalities(cls, value: list[str] | None) -> list[str] | None:
        for modality in value or ():
            if modality not in (*MODALITIES, "text"):
                raise ValueError(f"{modality!r} is not one of text, {', '.join(MODALITIES)}")
        return value

    @field_validator("allowed_tools")
    @classmethod
    def _tools(cls, value: list[str] | None) -> list[str] | None:
        for tool in value or ():
            if tool not in BUILTIN_TOOLS:
                raise ValueError(f"{tool!r} is not one of {', '.join(BUILTIN_TOOLS)}")
        return value


# Built on the first document parsed (most deployments have none): a cold start does not pay for it.
_DOCUMENT = TypeAdapter(
    dict[Annotated[str, Field(min_length=1, max_length=_MAX_KEY)], CallerPolicy], config=ConfigDict(defer_build=True)
)


class PolicyError(ValueError):
    """The policy document is not what the README describes; the message names the entry and field."""


def parse_policies(text: str) -> Policies:
    try:
        document = json.loads(text)
    except ValueError:
        raise PolicyError("is not valid JSON") from None
    if not isinstance(document, dict):
        raise PolicyError("must be a JSON object of caller → policy")
    if len(document) > _MAX_ENTRIES:
        raise PolicyError(f"has more than {_MAX_ENTRIES} entries")
    try:
        return Policies(_DOCUMENT.validate_python(document, strict=True))
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in err["loc"])
        raise PolicyError(f"{where}: {err['msg'].removeprefix('Value error, ')}") from None


@dataclass(frozen=True, slots=True)
class Effective:
    """What applies to one caller: its policy's values over the global settings."""

    rate_limit_per_minute: int
    rate_limit_burst: int | None
    daily_token_budget: int
    allowed_models: tuple[str, ...]
    allowed_tools: tuple[str, ...]
    max_output_tokens: int
    require: tuple[str, ...] = ()
    allow_anonymous_users: bool = True
    app_check_consume: bool = False
    allowed_templates: tuple[str, ...] | None = None  # None: every template
    templates_only: bool = False
    safety_floor: Mapping[str, str] = field(default_factory=dict)
    allowed_modalities: tuple[str, ...] = ()
    allow_system_instruction: bool = True


class Defaults(Protocol):
    """The global settings a policy overrides (`Settings` is one)."""

    @property
    def rate_limit_per_minute(self) -> int: ...
    @property
    def rate_limit_burst(self) -> int | None: ...
    @property
    def daily_token_budget(self) -> int: ...
    @property
    def allowed_models(self) -> Sequence[str]: ...
    @property
    def allowed_tools(self) -> Sequence[str]: ...
    @property
    def max_output_tokens_limit(self) -> int: ...
    @property
    def app_check_consume(self) -> bool: ...
    @property
    def safety_floor(self) -> Mapping[str, str]: ...
    @property
    def allowed_modalities(self) -> Sequence[str]: ...


class Policies:
    def __init__(self, entries: dict[str, CallerPolicy]) -> None:
        self._entries = entries

    def __len__(self) -> int:
        return len(self._entries)

    def models(self) -> set[str]:
        return {m for p in self._entries.values() for m in p.allowed_models or ()}

    def for_caller(self, identity: str, defaults: Defaults) -> Effective:
        """What applies to `identity`: each value from its most specific entry, else from `defaults`."""
        kind = identity.split(":", 1)[0] + ":*" if ":" in identity else None
        chain = [p for k in (identity, kind, "*") if k is not None and (p := self._entries.get(k)) is not None]

        def pick(field: str, default: Any) -> Any:
            return next((getattr(p, field) for p in chain if getattr(p, field) is not None), default)

        return Effective(
            rate_limit_per_minute=pick("rate_limit_per_minute", defaults.rate_limit_per_minute),
            rate_limit_burst=pick("rate_limit_burst", defaults.rate_limit_burst),
            daily_token_budget=pick("daily_token_budget", defaults.daily_token_budget),
            allowed_models=tuple(pick("allowed_models", defaults.allowed_models)),
            allowed_tools=tuple(pick("allowed_tools", defaults.allowed_tools)),
            max_output_tokens=pick("max_output_tokens", defaults.max_output_tokens_limit),
            # The most specific entry decides what must come along, set or not: `"backend": {}` beside
            # `"*": {"require": [...]}` exempts the backend key (docs/API.md §6).
            require=tuple((chain[0].require or ()) if chain else ()),
            allow_anonymous_users=pick("allow_anonymous_users", True),
            app_check_consume=pick("app_check_consume", defaults.app_check_consume),
            allowed_templates=_tuple_or_none(pick("allowed_templates", None)),
            templates_only=pick("templates_only", False),
            safety_floor=dict(pick("safety_floor", defaults.safety_floor)),
            allowed_modalities=tuple(pick("allowed_modalities", defaults.allowed_modalities)),
            allow_system_instruction=pick("allow_system_instruction", True),
        )


def _tuple_or_none(value: list[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


_MAX_CACHED_CALLERS = 100_000


class PolicySource:
    """The policies in force: none, the CALLER_POLICIES literal, or CALLER_POLICIES_SECRET (cached, re-read).

    What applies to a caller is resolved once per policy document and kept (a
    request then costs a dict lookup); a new document starts afresh.
    """

    def __init__(self, ref: SecretRef | None, secrets: SecretStore, defaults: Defaults) -> None:
        self._ref = ref
        self._secrets = secrets
        self._defaults = defaults
        self._text: str | None = None
        self._policies = Policies({})
        self._resolved: dict[str, Effective] = {}
        self._global = self._policies.for_caller("", defaults)

    @property
    def configured(self) -> bool:
        return self._ref is not None

    async def effective(self, identity: str) -> Effective:
        if self._ref is None:
            return self._global
        text = await self._secrets.get(self._ref)
        if self._text != text:
            try:
                self._policies = parse_policies(text)
            except PolicyError as exc:
                log.error("caller policies are misconfigured", extra={"fields": {"problem": str(exc)}})
                raise Unavailable("the caller policies are misconfigured; see the function's logs") from None
            self._text, self._resolved = text, {}
        found = self._resolved.get(identity)
        if found is None:
            if len(self._resolved) >= _MAX_CACHED_CALLERS:
                self._resolved.clear()
            found = self._resolved[identity] = self._policies.for_caller(identity, self._defaults)
        return found
