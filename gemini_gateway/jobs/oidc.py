"""Who may call `POST /internal/jobs/{id}`: Cloud Tasks, with a Google-signed OIDC token of JOBS_SERVICE_ACCOUNT.

The token is an RS256 JWT signed by Google: issuer `https://accounts.google.com`
(or the bare `accounts.google.com` Google also writes), audience JOBS_URL,
`email` the jobs service account with `email_verified`, not expired, not
issued in the future. The certificates (`{kid: PEM}`, GOOGLE_OIDC_CERTS_URL)
are kept for their `Cache-Control: max-age` by the same `KeySet` the Firebase
checks use: one fetch shared by concurrent tasks, an unknown `kid` refetched
at most once a minute, stale keys kept while Google is unreachable. PyJWT
checks the signature and claims (what `google.oauth2.id_token` would do, with
certificates fetched per call on a blocking client).

Nothing else opens this route: no client key, no Firebase token, no
`ALLOW_UNAUTHENTICATED`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from ..callers.gate import bearer_token
from ..callers.jwt_keys import CLOCK_SKEW_SECONDS, KeySet, parse_x509_certs, rs256_kid
from ..errors import Forbidden, Unauthenticated

__all__ = ["ISSUERS", "TaskTokens"]

ISSUERS = ("https://accounts.google.com", "accounts.google.com")
_LABEL = "Google OIDC certificates"


class TaskTokens:
    def __init__(self, certs_url: str, audience: str, email: str, http: httpx.AsyncClient | None = None) -> None:
        self._keys = KeySet(certs_url, parse_x509_certs, label=_LABEL, http=http)
        self._audience = audience
        self._email = email

    @property
    def fetches(self) -> int:
        return self._keys.fetches

    async def verify(self, headers: Mapping[str, str]) -> dict[str, Any]:
        """The token's claims; 401 for no or a bad token, 403 for a good token of another account."""
        import jwt

        token = bearer_token(headers)
        kid = rs256_kid(token) if token else None
        if token is None or kid is None:
            raise Unauthenticated("this route takes only Cloud Tasks' OIDC token")
        key = await self._keys.key(kid)
        if key is None:
            raise Unauthenticated("the token is not signed by a current Google key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self._audience,
                issuer=ISSUERS,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "iat", "aud", "iss", "email"], "verify_signature": True},
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"the token was refused ({type(exc).__name__})") from None
        if claims.get("email") != self._email or claims.get("email_verified") is not True:
            raise Forbidden("the token is not the jobs service account's")
        return claims
