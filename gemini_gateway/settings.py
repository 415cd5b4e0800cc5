"""Environment → one validated, immutable settings object.

Nothing else in the package reads `os.environ`. Problems are collected all at
once and named by their variable, so an operator fixes a deployment in one
go: bad values and missing rules (no caller check, a default model that is
not allowed, ...) are reported by the same start.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from .callers.registry import CHECKS, CallerSettings
from .config_types import (
    BUILTIN_TOOLS,
    DEFAULT_MODEL,
    MODEL_ID,
    CsvList,
    HttpUrl,
    Optional,
    SecretName,
    ZeroIfBlank,
    csv,
    parse_aliases,
)
from .freeform.settings import FreeformSettings
from .jobs.settings import CALLBACK_SECRET, JobSettings
from .jobs.settings import rules as job_rules
from .policies import PolicyError, parse_policies
from .secret_store import SecretRef, SecretSetting
from .templates.settings import TemplateSettings
from .upstream.proxies import proxy_problems

__all__ = ["DEFAULT_MODEL", "SECRETS", "ConfigError", "Settings", "load_settings"]

_TOKEN = re.compile(r"^[A-Za-z0-9._-]+$")
_TRUE = {"1", "t", "true", "y", "yes", "on"}
# A name chosen from a few (`TRACES=Console`): case and surrounding blanks do not matter; blank is `off`.
_OneOf = BeforeValidator(lambda v: (v.strip().lower() or "off") if isinstance(v, str) else v)

SECRETS: tuple[SecretSetting, ...] = (
    SecretSetting("gemini_api_key", "Gemini API key"),
    SecretSetting("ai_gateway_token", "AI Gateway token"),
    *(secret for check in CHECKS for secret in check.secrets),
    SecretSetting("caller_policies", "caller policies", scrub=False),
    SecretSetting("tool_id_key", "tool-call id key"),
    CALLBACK_SECRET,
)
_SECRET_BY_NAME = {s.name: s for s in SECRETS}


class ConfigError(Exception):
    """The environment cannot serve requests; each problem names its variable."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{var}: {why}" for var, why in problems))

    @property
    def variables(self) -> list[str]:
        """Each variable once, in the order of its first problem."""
        return list(dict.fromkeys(var for var, _ in self.problems))


class Settings(CallerSettings, TemplateSettings, FreeformSettings, JobSettings):
    """Everything the function reads from its environment (README, "Configuration").

    The variables of a caller check, the templates, the free-form controls and the jobs are declared
    with them (`CallerSettings`, `TemplateSettings`, `FreeformSettings`, `JobSettings`).
    """

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=False, defer_build=False)

    cloudflare_account_id: Annotated[str, Field(alias="CLOUDFLARE_ACCOUNT_ID")]
    ai_gateway_id: Annotated[str, Field(alias="AI_GATEWAY_ID")]
    ai_gateway_base_url: Annotated[HttpUrl, Field(alias="AI_GATEWAY_BASE_URL")] = "https://gateway.ai.cloudflare.com/v1"
    gemini_api_version: Annotated[str, Field(alias="GEMINI_API_VERSION", pattern=r"^v1(alpha|beta)?$")] = "v1beta"
    gemini_api_key_secret: Annotated[SecretName, Field(alias="GEMINI_API_KEY_SECRET")] = None
    gemini_api_key: Annotated[SecretStr | None, Field(alias="GEMINI_API_KEY"), Optional] = None
    ai_gateway_token_secret: Annotated[SecretName, Field(alias="AI_GATEWAY_TOKEN_SECRET")] = None
    ai_gateway_token: Annotated[SecretStr | None, Field(alias="AI_GATEWAY_TOKEN"), Optional] = None
    secret_manager_emulator_host: Annotated[str | None, Field(alias="SECRET_MANAGER_EMULATOR_HOST"), Optional] = None
    secret_cache_seconds: Annotated[float, Field(alias="SECRET_CACHE_SECONDS", ge=0, le=86400)] = 300.0
    default_model: Annotated[str, Field(alias="DEFAULT_MODEL", min_length=1, max_length=128)] = DEFAULT_MODEL
    model_aliases: Annotated[
        dict[str, str], Field(alias="MODEL_ALIASES", default_factory=dict), BeforeValidator(parse_aliases)
    ]
    allowed_models: Annotated[CsvList, Field(alias="ALLOWED_MODELS")] = ()
    allowed_tools: Annotated[CsvList, Field(alias="ALLOWED_TOOLS")] = ()
    max_output_tokens_limit: Annotated[int, Field(alias="MAX_OUTPUT_TOKENS_LIMIT", ge=1, le=1_000_000)] = 8192
    daily_token_budget: Annotated[int, Field(alias="DAILY_TOKEN_BUDGET", ge=0, le=10**12), ZeroIfBlank] = 0
    allowed_origins: Annotated[CsvList, Field(alias="ALLOWED_ORIGINS")] = ()
    max_request_bytes: Annotated[int, Field(alias="MAX_REQUEST_BYTES", ge=1024, le=32 * 1024 * 1024)] = 8 * 1024 * 1024
    body_read_timeout_seconds: Annotated[float, Field(alias="BODY_READ_TIMEOUT_SECONDS", gt=0, le=300)] = 10.0
    upstream_timeout_seconds: Annotated[float, Field(alias="UPSTREAM_TIMEOUT_SECONDS", gt=0, le=3600)] = 60.0
    upstream_max_attempts: Annotated[int, Field(alias="UPSTREAM_MAX_ATTEMPTS", ge=1, le=10)] = 3
    allow_unauthenticated: Annotated[bool, Field(alias="ALLOW_UNAUTHENTICATED")] = False
    google_cloud_project: Annotated[str | None, Field(alias="GOOGLE_CLOUD_PROJECT"), Optional] = None
    log_payloads: Annotated[bool, Field(alias="LOG_PAYLOADS")] = False
    # Traces (docs/API.md §11): off, Cloud Trace, or one JSON line per span on stdout (gemini_gateway/tracing)
    traces: Annotated[Literal["off", "cloud_trace", "console"], Field(alias="TRACES"), _OneOf] = "off"
    # Rate limits and caller policies (README, "Callers")
    rate_limit_per_minute: Annotated[int, Field(alias="RATE_LIMIT_PER_MINUTE", ge=0, le=1_000_000), ZeroIfBlank] = 0
    rate_limit_burst: Annotated[int | None, Field(alias="RATE_LIMIT_BURST", ge=1, le=1_000_000), Optional] = None
    redis_url: Annotated[SecretStr | None, Field(alias="REDIS_URL"), Optional] = None  # may carry a password
    caller_policies_secret: Annotated[SecretName, Field(alias="CALLER_POLICIES_SECRET")] = None
    caller_policies: Annotated[SecretStr | None, Field(alias="CALLER_POLICIES"), Optional] = None
    # Keys the ids the function hands out (tool calls, interactions): a secret, not derived from public values
    tool_id_key_secret: Annotated[SecretName, Field(alias="TOOL_ID_KEY_SECRET")] = None
    tool_id_key: Annotated[SecretStr | None, Field(alias="TOOL_ID_KEY"), Optional] = None
    allowed_agents: Annotated[CsvList, Field(alias="ALLOWED_AGENTS")] = ()  # Interactions API agents

    @field_validator("cloudflare_account_id", "ai_gateway_id")
    @classmethod
    def _path_segment(cls, value: str) -> str:
        value = value.strip()
        if not _TOKEN.match(value):
            raise ValueError("must be a non-empty id of letters, digits, '.', '_' or '-'")
        return value

    @field_validator("default_model")
    @classmethod
    def _model(cls, value: str) -> str:
        value = value.strip()
        if not MODEL_ID.match(value):
            raise ValueError(f"must be a model id such as {DEFAULT_MODEL}")
        return value

    @field_validator("allowed_models")
    @classmethod
    def _models(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for model in value:
            if not MODEL_ID.match(model):
                raise ValueError(f"{model!r} is not a model id such as {DEFAULT_MODEL}")
        return value

    @field_validator("model_aliases")
    @classmethod
    def _alias_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, model in value.items():
            if not MODEL_ID.match(name) or not MODEL_ID.match(model):
                raise ValueError(f"{name}={model} must map a name to a model id such as {DEFAULT_MODEL}")
            if model in value:
                raise ValueError(f"{name}={model}: an alias must name a model, not another alias")
        return value

    @field_validator("allowed_tools")
    @classmethod
    def _tools(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for tool in value:
            if tool not in BUILTIN_TOOLS:
                raise ValueError(f"{tool!r} is not one of {', '.join(BUILTIN_TOOLS)}")
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if origin != "*" and not re.match(r"^https?://[^/\s]+$", origin):
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], no path) or '*'")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.match(r"^(rediss?|unix)://\S+$", value.get_secret_value().strip()):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return SecretStr(value.get_secret_value().strip()) if value is not None else None

    @field_validator("tool_id_key")
    @classmethod
    def _id_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.sub(r"[,\s]", "", value.get_secret_value()):
            raise ValueError("must hold at least one key (one per line or comma-separated)")
        return value

    @model_validator(mode="after")
    def _defaults(self) -> Settings:
        if not self.allowed_models:
            derived = (self.default_model, *self.model_aliases.values())
            object.__setattr__(self, "allowed_models", tuple(dict.fromkeys(derived)))
        return self

    @property
    def upstream_base(self) -> str:
        """URL prefix up to and including the API version."""
        return (
            f"{self.ai_gateway_base_url}/{self.cloudflare_account_id}/{self.ai_gateway_id}"
            f"/google-ai-studio/{self.gemini_api_version}"
        )

    def secret(self, name: str) -> SecretRef | None:
        """Where the secret `name` (a SECRETS entry) comes from, or None when it is not configured."""
        return _SECRET_BY_NAME[name].ref(self)

    def required_secret(self, name: str) -> SecretRef:
        """`secret` for one the settings' rules make sure of (the Gemini key)."""
        return _SECRET_BY_NAME[name].required(self)

    @property
    def caller_checks(self) -> tuple[str, ...]:
        """The caller checks that are on (`callers/registry.py`): the one place that decides it."""
        return tuple(check.name for check in CHECKS if check.enabled(self))

    @property
    def has_caller_check(self) -> bool:
        return bool(self.caller_checks)


@dataclass(frozen=True)
class _Loaded:
    settings: Settings
    warnings: list[str]


def load_settings(environ: Mapping[str, str]) -> _Loaded:
    """Validate the environment; raise ConfigError naming every bad variable, all in one go."""
    problems: list[tuple[str, str]] = []
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(dict(environ))
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_input=False):
            var = str(err["loc"][0]) if err["loc"] else "environment"
            problems.append((var, _plain(err["msg"])))
    problems += _rule_problems(environ, {var for var, _ in problems})
    if problems or settings is None:
        raise ConfigError(problems)
    return _Loaded(settings, _warnings(settings))


def _given(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name, "").strip()


def _rule_problems(environ: Mapping[str, str], invalid: set[str]) -> list[tuple[str, str]]:
    """Rules across variables, read from the raw environment so they are reported with the bad values."""
    problems: list[tuple[str, str]] = []
    if not (_given(environ, "GEMINI_API_KEY_SECRET") or _given(environ, "GEMINI_API_KEY")):
        problems.append(("GEMINI_API_KEY_SECRET", "is required (or GEMINI_API_KEY for local development)"))
    configured = any(_given(environ, var) for check in CHECKS for var in check.enabled_by)
    anyone = _given(environ, "ALLOW_UNAUTHENTICATED").lower() in _TRUE
    if not configured and not anyone and "ALLOW_UNAUTHENTICATED" not in invalid:
        advised = ", ".join(check.enabled_by[0] for check in CHECKS)
        problems.append(
            (
                "ALLOW_UNAUTHENTICATED",
                f"must be true when no caller check is configured; configure one ({advised}) "
                "or set ALLOW_UNAUTHENTICATED=true to serve anyone who can reach the function",
            )
        )
    if _given(environ, "CALLER_POLICIES"):
        try:
            parse_policies(_given(environ, "CALLER_POLICIES"))
        except PolicyError as exc:
            problems.append(("CALLER_POLICIES", str(exc)))
    for check in CHECKS:
        problems += check.rules(environ)
    problems += job_rules(environ)
    problems += proxy_problems(environ)  # a proxy the pool cannot use would fail every call: refuse it now
    allowed = csv(_given(environ, "ALLOWED_MODELS"))
    default = _given(environ, "DEFAULT_MODEL") or DEFAULT_MODEL
    if allowed and default not in allowed and not invalid & {"ALLOWED_MODELS", "DEFAULT_MODEL"}:
        problems.append(("ALLOWED_MODELS", f"must include DEFAULT_MODEL ({default})"))
    if allowed and not invalid & {"ALLOWED_MODELS", "MODEL_ALIASES"}:
        aliases: dict[str, str] = parse_aliases(_given(environ, "MODEL_ALIASES") or {})
        missing = [target for target in aliases.values() if target not in allowed]
        if missing:
            problems.append(("ALLOWED_MODELS", f"must include every MODEL_ALIASES target ({', '.join(missing)})"))
    return problems


def _warnings(settings: Settings) -> list[str]:
    warnings = [
        f"{s.name.upper()} is set in the environment: use {s.name.upper()}_SECRET outside local development"
        for s in SECRETS
        if getattr(settings, s.name) is not None and getattr(settings, f"{s.name}_secret") is None
    ]
    if settings.rate_limit_per_minute == 0 and (
        settings.rate_limit_burst is not None or settings.redis_url is not None
    ):
        warnings.append("RATE_LIMIT_BURST/REDIS_URL are set but RATE_LIMIT_PER_MINUTE is 0: no rate limit applies")
    if settings.allow_unauthenticated and not settings.has_caller_check:
        warnings.append("ALLOW_UNAUTHENTICATED=true: anyone who can reach the function can spend its Gemini quota")
    return warnings


def _plain(message: str) -> str:
    if message == "Field required":
        return "is required"
    return message.removeprefix("Value error, ")
