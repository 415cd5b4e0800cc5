"""Firebase Auth ID tokens (`Authorization: Bearer <ID token>`) → the `user` layer, `uid:<sub>`.

Checked as Firebase documents for verifying ID tokens without the Admin SDK:
RS256 signed by one of the keys at Google's securetoken x509 endpoint
(`FIREBASE_CERTS_URL` overrides it), `aud` = the project id, `iss` =
`https://securetoken.google.com/<project id>`, `exp` in the future, `iat`
and `auth_time` not in the future (60 s of clock skew either way), and a
non-empty `sub` (the user's uid). A token that fails any of these is 401
(why, in the access line only). An anonymous sign-in
(`firebase.sign_in_provider: anonymous`) is marked, for policies that refuse it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar

import httpx
from pydantic import Field, field_validator

from ..config_types import HttpUrl, Optional, SettingsPart
from ..errors import Unauthenticated
from .gate import Layer, note
from .jwt_keys import CLOCK_SKEW_SECONDS, KeySet, bearer_token, decode_rs256, parse_x509_certs, preload_pyjwt, rs256_kid
from .spec import CheckDeps, CheckSpec

__all__ = ["FIREBASE_CERTS_URL", "SPEC", "FirebaseAuthCheck", "FirebaseAuthSettings", "firebase_key_set"]

FIREBASE_CERTS_URL = "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"
_MAX_UID_CHARS = 128  # Firebase uids are at most 128 characters
_JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
_FIREBASE_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")


class FirebaseAuthSettings(SettingsPart):
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
    kind: ClassVar[str] = "user"
    needs_body: ClassVar[bool] = False

    def __init__(self, project_id: str, keys: KeySet, clock: Callable[[], float] = time.time) -> None:
        self._project_id = project_id
        self._issuer = f"https://securetoken.google.com/{project_id}"
        self._keys = keys
        self._clock = clock

    def presented(self, headers: Mapping[str, str]) -> bool:
        """A Bearer token shaped like a JWT (a client key in Bearer is the API key check's)."""
        token = bearer_token(headers)
        return token is not None and _JWT.match(token) is not None

    async def verify(self, headers: Mapping[str, str], body: bytes) -> Layer:
        claims = await self._claims(bearer_token(headers) or "")
        provider = (
            claims.get("firebase", {}).get("sign_in_provider") if isinstance(claims.get("firebase"), dict) else None
        )
        return Layer("user", f"uid:{claims['sub']}", anonymous=provider == "anonymous")

    async def _claims(self, token: str) -> dict[str, Any]:
        kid = rs256_kid(token)
        if kid is None:
            raise _refused("not an RS256 token with a key id")
        key = await self._keys.key(kid)
        if key is None:
            raise _refused("signed by an unknown key")
        claims = decode_rs256(
            token,
            key,
            audience=self._project_id,
            issuer=self._issuer,
            require=("exp", "iat", "aud", "iss", "sub", "auth_time"),
        )
        if claims is None:
            raise _refused("signature, audience, issuer or time")
        sub, auth_time = claims.get("sub"), claims.get("auth_time")
        if not isinstance(sub, str) or not sub.strip() or len(sub) > _MAX_UID_CHARS:
            raise _refused("no usable uid")
        if isinstance(auth_time, bool) or not isinstance(auth_time, int | float):
            raise _refused("no auth_time")
        if auth_time > self._clock() + CLOCK_SKEW_SECONDS:
            raise _refused("auth_time in the future")
        return claims


def _refused(why: str) -> Unauthenticated:
    note(refused=f"Firebase ID token: {why}")
    return Unauthenticated()


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
