"""Firebase App Check tokens (`X-Firebase-AppCheck`) → `app:<app id>`.

Checked as Firebase documents for verifying App Check tokens with a JWT
library: RS256 signed by a key of the App Check JWKS
(`APP_CHECK_JWKS_URL` overrides it), `iss` =
`https://firebaseappcheck.googleapis.com/<project number>`, `aud` containing
`projects/<project number>`, not expired, not issued in the future (60 s
skew). `sub` is the app id. With `APP_CHECK_APP_IDS` set, a valid token of
another app of the project is refused with 403: the credential is genuine,
the app just is not allowed here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import ClassVar

import httpx

from ..errors import Forbidden
from .gate import Caller
from .jwt_keys import KeySet, decode_rs256, parse_jwks, rs256_kid

__all__ = ["APP_CHECK_JWKS_URL", "AppCheckCheck", "app_check_key_set"]

APP_CHECK_JWKS_URL = "https://firebaseappcheck.googleapis.com/v1/jwks"
HEADER = "x-firebase-appcheck"


def app_check_key_set(url: str = APP_CHECK_JWKS_URL, http: httpx.AsyncClient | None = None) -> KeySet:
    """The App Check JWKS; Firebase advises caching it for no more than 6 hours."""
    return KeySet(url, parse_jwks, label="App Check keys", http=http, default_ttl=6 * 3600.0)


class AppCheckCheck:
    needs_body: ClassVar[bool] = False

    def __init__(self, project_number: str, keys: KeySet, app_ids: Iterable[str] = ()) -> None:
        self._audience = f"projects/{project_number}"
        self._issuer = f"https://firebaseappcheck.googleapis.com/{project_number}"
        self._keys = keys
        self._app_ids = frozenset(app_ids)

    def presented(self, headers: Mapping[str, str]) -> bool:
        return bool(headers.get(HEADER, "").strip())

    async def identify(self, headers: Mapping[str, str], body: bytes) -> Caller | None:
        token = headers.get(HEADER, "").strip()
        kid = rs256_kid(token) if token else None
        if kid is None:
            return None
        key = await self._keys.key(kid)
        if key is None:
            return None
        claims = decode_rs256(token, key, audience=self._audience, issuer=self._issuer)
        if claims is None:
            return None
        app_id = claims.get("sub")
        if not isinstance(app_id, str) or not app_id.strip():
            return None
        if self._app_ids and app_id not in self._app_ids:
            raise Forbidden("this app is not allowed to call this function")
        return Caller(f"app:{app_id}")
