"""The jobs' and idempotency's own variables, as part of `Settings`."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Annotated

from pydantic import Field, SecretStr, field_validator

from ..callback_urls import parse_prefix
from ..config_types import CsvList, HttpUrl, Optional, SecretName, SettingsPart
from ..secret_store import SecretSetting

__all__ = ["CALLBACK_SECRET", "GOOGLE_OIDC_CERTS_URL", "JobSettings", "rules", "signing_secret_ok"]

CALLBACK_SECRET = SecretSetting("callback_signing_secret", "callback signing secret")

GOOGLE_OIDC_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
_QUEUE = re.compile(r"^projects/[^/\s]+/locations/[^/\s]+/queues/[^/\s]+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_LOCAL_PREFIX = re.compile(r"^http://(localhost|127\.0\.0\.1)(:[0-9]{1,5})?(/|$)")


class JobSettings(SettingsPart):
    idempotency_ttl_seconds: Annotated[int, Field(alias="IDEMPOTENCY_TTL_SECONDS", ge=1, le=30 * 86400)] = 86400
    jobs_queue: Annotated[str | None, Field(alias="JOBS_QUEUE", pattern=_QUEUE.pattern), Optional] = None
    jobs_service_account: Annotated[
        str | None, Field(alias="JOBS_SERVICE_ACCOUNT", pattern=_EMAIL.pattern), Optional
    ] = None
    jobs_url: Annotated[HttpUrl | None, Field(alias="JOBS_URL"), Optional] = None
    cloud_tasks_emulator_host: Annotated[str | None, Field(alias="CLOUD_TASKS_EMULATOR_HOST"), Optional] = None
    google_oidc_certs_url: Annotated[HttpUrl, Field(alias="GOOGLE_OIDC_CERTS_URL")] = GOOGLE_OIDC_CERTS_URL
    callback_url_prefixes: Annotated[CsvList, Field(alias="CALLBACK_URL_PREFIXES")] = ()
    callback_signing_secret_secret: Annotated[SecretName, Field(alias="CALLBACK_SIGNING_SECRET_SECRET")] = None
    callback_signing_secret: Annotated[SecretStr | None, Field(alias="CALLBACK_SIGNING_SECRET"), Optional] = None
    callback_max_attempts: Annotated[int, Field(alias="CALLBACK_MAX_ATTEMPTS", ge=1, le=100)] = 8

    @field_validator("callback_signing_secret")
    @classmethod
    def _whsec(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not signing_secret_ok(value.get_secret_value()):
            raise ValueError("must be a Standard Webhooks secret: whsec_ and 24 to 64 random bytes in base64")
        return value

    @field_validator("callback_url_prefixes")
    @classmethod
    def _prefixes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for prefix in value:
            if not (prefix.startswith("https://") and len(prefix) > len("https://")) and not _LOCAL_PREFIX.match(
                prefix
            ):
                raise ValueError(
                    f"{prefix!r} must start with https:// (or http://localhost / http://127.0.0.1 for development)"
                )
            if parse_prefix(prefix) is None:
                raise ValueError(
                    f"{prefix!r} is not a plain URL prefix (no userinfo, fragment, dot segments or spaces)"
                )
        return value


def signing_secret_ok(value: str) -> bool:
    """`whsec_` + base64 of 24 to 64 bytes (Standard Webhooks); what the Secret Manager value must hold too."""
    raw = value.strip().removeprefix("whsec_")
    try:
        decoded = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return value.strip().startswith("whsec_") and 24 <= len(decoded) <= 64


def rules(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """Rules across variables: a durable queue needs shared state, an identity and its own URL."""

    def given(name: str) -> bool:
        return bool(environ.get(name, "").strip())

    problems: list[tuple[str, str]] = []
    if given("JOBS_QUEUE"):
        if not given("REDIS_URL"):
            problems.append(("JOBS_QUEUE", "needs REDIS_URL: job state must be shared by every instance"))
        for needed in ("JOBS_SERVICE_ACCOUNT", "JOBS_URL"):
            if not given(needed):
                problems.append((needed, "is required with JOBS_QUEUE"))
    if given("CALLBACK_URL_PREFIXES") and not (
        given("CALLBACK_SIGNING_SECRET_SECRET") or given("CALLBACK_SIGNING_SECRET")
    ):
        problems.append(
            ("CALLBACK_SIGNING_SECRET_SECRET", "is required with CALLBACK_URL_PREFIXES: deliveries are signed")
        )
    return problems
