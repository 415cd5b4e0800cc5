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

import time
from collections.abc import Callable, Mapping
from typing import ClassVar

import httpx

from .gate import Caller
from .jwt_keys import CLOCK_SKEW_SECONDS, KeySet, bearer_token, decode_rs256, parse_x509_certs, rs256_kid

__all__ = ["FIREBASE_CERTS_URL", "FirebaseAuthCheck", "firebase_key_set"]

FIREBASE_CERTS_URL = "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"
_MAX_UID_CHARS = 128  # Firebase uids are at most 128 characters


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
