"""Firebase Auth ID tokens (`Authorization: Bearer <ID token>`) → `uid:<sub>`.

Checked as Firebase documents for verifying ID tokens without the Admin SDK:
RS256 signed by one of the keys at Google's securetoken x509 endpoint
(`FIREBASE_CERTS_URL` overrides it), `aud` = the project id, `iss` =
`https://securetoken.google.com/<project id>`, `exp` in the future, `iat`
and `auth_time` not in the future (60 s of clock skew either way), and a
non-empty `sub` (the user's uid). Anything else is "no credential here"
(None): the gate then tries the other checks and answers 401.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Annotated, ClassVar

import httpx
from pydantic import BaseModel, Field, field_validator

from ..config_types import HttpUrl, Optional
from .gate import Caller
from .jwt_keys import CLOCK_SKEW_SECONDS, KeySet, bearer_token, decode_rs256, parse_x509_certs, preload_pyjwt, rs256_kid
from .spec import CheckDeps, CheckSpec

__all__ = ["FIREBASE_CERTS_URL", "SPEC", "FirebaseAuthCheck", "FirebaseAuthSettings", "firebase_key_set"]

FIREBASE_CERTS_URL = "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"
_MAX_UID_CHARS = 128  # Firebase uids are at most 128 characters
_FIREBASE_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")


class FirebaseAuthSettings(BaseModel):
    firebase_project_id: Annotated[str | None, Field(alias="FIREBASE_PROJECT_ID"), Optional] = None
    firebase_certs_url: Annotated[HttpUrl, Field(alias="FIREBASE_CERTS_URL")] = FIREBASE_CERTS_URL

    @field_validator("firebase_project_id")
    @classmethod
    def _firebase_project(cls, value: str | None) -> str | None:
        if value is not None and not _FIREBASE_PROJECT.match(value.strip()):
            raise ValueError("must be a Firebase/Google Cloud project id (6-30 lowercase letters, digits, hyphens)")
        return value.strip() if value else value


def firebase_key_set(url: str = FIREBASE_CERTS_URL, http: httpx.AsyncClient | None = None) -> KeySet:
    """Google's securetoken certificates (x509 PEM by kid), cached per Cache-Control."""
    return KeySet(url, parse_x509_certs, label="Firebase Auth certificates", http=http)


class FirebaseAuthCheck:
    needs_body: ClassVar[bool] = False

    def __init__(self, project_id: str, keys: KeySet, clock: Callable[[], float] = time.time) -> None:
        self._project_id = project_id
        self._issuer = f"https://securetoken.google.com/{project_id}"
        self._keys = keys
        self._clock = clock

    def presented(self, headers: Mapping[str, str]) -> bool:
        return bearer_token(headers) is not None

    async def identify(self, headers: Mapping[str, str], body: bytes) -> Caller | None:
        token = bearer_token(headers)
        kid = rs256_kid(token) if token else None
        if token is None or kid is None:
            return None  # no Bearer token, or one that is not an RS256 JWT (a client API key, say)
        key = await self._keys.key(kid)
        if key is None:
            return None
        claims = decode_rs256(
            token,
            key,
            audience=self._project_id,
            issuer=self._issuer,
            require=("exp", "iat", "aud", "iss", "sub", "auth_time"),
        )
        if claims is None:
            return None
        sub, auth_time = claims.get("sub"), claims.get("auth_time")
        if not isinstance(sub, str) or not sub.strip() or len(sub) > _MAX_UID_CHARS:
            return None
        if isinstance(auth_time, bool) or not isinstance(auth_time, int | float):
            return None
        if auth_time > self._clock() + CLOCK_SKEW_SECONDS:
            return None
        return Caller(f"uid:{sub}")


def _build(settings: FirebaseAuthSettings, deps: CheckDeps) -> FirebaseAuthCheck:
    assert settings.firebase_project_id is not None  # built only when enabled
    return FirebaseAuthCheck(settings.firebase_project_id, firebase_key_set(settings.firebase_certs_url, deps.http))


SPEC = CheckSpec(
    name="firebase_auth",
    enabled_by=("FIREBASE_PROJECT_ID",),
    enabled=lambda s: bool(s.firebase_project_id),
    build=_build,
    headers=("Authorization",),
    security={
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "A client API key (`CLIENT_API_KEYS`) or a Firebase Auth ID token.",
        }
    },
    preload=preload_pyjwt,
)
