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

import re
from collections.abc import Iterable, Mapping
from typing import Annotated, ClassVar

import httpx
from pydantic import Field, field_validator

from ..config_types import CsvList, HttpUrl, Optional, SettingsPart
from ..errors import Forbidden, Unauthenticated, Unavailable
from ..logs import log
from .gate import Layer, note
from .google_credentials import GoogleAccessToken
from .jwt_keys import KeySet, decode_rs256, parse_jwks, preload_pyjwt, rs256_kid
from .spec import CheckDeps, CheckSpec

__all__ = [
    "APP_CHECK_JWKS_URL",
    "SPEC",
    "AppCheckCheck",
    "AppCheckConsumer",
    "AppCheckSettings",
    "app_check_key_set",
]

APP_CHECK_JWKS_URL = "https://firebaseappcheck.googleapis.com/v1/jwks"
APP_CHECK_VERIFY_URL = "https://firebaseappcheck.googleapis.com/v1beta"
HEADER = "x-firebase-appcheck"
_LOCAL = re.compile(r"^http://(127\.0\.0\.1|localhost)(:[0-9]+)?(/|$)")
_CONSUME_TIMEOUT = 5.0


class AppCheckSettings(SettingsPart):
    app_check_project_number: Annotated[
        str | None, Field(alias="APP_CHECK_PROJECT_NUMBER", pattern=r"^\s*[0-9]{1,20}\s*$"), Optional
    ] = None
    app_check_app_ids: Annotated[CsvList, Field(alias="APP_CHECK_APP_IDS")] = ()
    app_check_jwks_url: Annotated[HttpUrl, Field(alias="APP_CHECK_JWKS_URL")] = APP_CHECK_JWKS_URL
    app_check_consume: Annotated[bool, Field(alias="APP_CHECK_CONSUME")] = False
    app_check_verify_url: Annotated[HttpUrl, Field(alias="APP_CHECK_VERIFY_URL")] = APP_CHECK_VERIFY_URL

    @field_validator("app_check_project_number")
    @classmethod
    def _project_number(cls, value: str | None) -> str | None:
        return value.strip() if value else value


def app_check_key_set(url: str = APP_CHECK_JWKS_URL, http: httpx.AsyncClient | None = None) -> KeySet:
    """The App Check JWKS; Firebase advises caching it for no more than 6 hours."""
    return KeySet(url, parse_jwks, label="App Check keys", http=http, default_ttl=6 * 3600.0)


class AppCheckCheck:
    kind: ClassVar[str] = "app_check"
    needs_body: ClassVar[bool] = False

    def __init__(self, project_number: str, keys: KeySet, app_ids: Iterable[str] = ()) -> None:
        self._audience = f"projects/{project_number}"
        self._issuer = f"https://firebaseappcheck.googleapis.com/{project_number}"
        self._keys = keys
        self._app_ids = frozenset(app_ids)

    def presented(self, headers: Mapping[str, str]) -> bool:
        return bool(headers.get(HEADER, "").strip())

    async def verify(self, headers: Mapping[str, str], body: bytes) -> Layer:
        token = headers.get(HEADER, "").strip()
        kid = rs256_kid(token)
        if kid is None:
            raise _refused("not an RS256 token with a key id")
        key = await self._keys.key(kid)
        if key is None:
            raise _refused("signed by an unknown key")
        claims = decode_rs256(token, key, audience=self._audience, issuer=self._issuer)
        if claims is None:
            raise _refused("signature, audience, issuer or time")
        app_id = claims.get("sub")
        if not isinstance(app_id, str) or not app_id.strip():
            raise _refused("no app id")
        if self._app_ids and app_id not in self._app_ids:
            raise Forbidden("this app is not allowed to call this function")
        return Layer("app_check", f"app:{app_id}", token=token)


def _refused(why: str) -> Unauthenticated:
    note(refused=f"App Check token: {why}")
    return Unauthenticated()


class AppCheckConsumer:
    """Replay protection: each App Check token verified *and consumed* with Firebase, once.

    `POST {APP_CHECK_VERIFY_URL}/projects/{number}:verifyAppCheckToken` with the
    function's own Google credentials (the runtime identity needs the App Check
    token verifier role); Firebase answers `{}` the first time and
    `{"alreadyConsumed": true}` after. A token Firebase refuses or reports
    consumed is 401; Firebase unreachable or failing is 503, retryable: never a
    silent pass. A loopback URL is a local stand-in: no credentials are fetched
    or sent to it.
    """

    def __init__(self, project_number: str, verify_url: str, http: httpx.AsyncClient) -> None:
        self._url = f"{verify_url}/projects/{project_number}:verifyAppCheckToken"
        self._http = http
        self._credentials = None if _LOCAL.match(verify_url) else GoogleAccessToken()

    async def consume(self, layer: Layer) -> None:
        headers = {"Content-Type": "application/json"}
        if self._credentials is not None:
            headers["Authorization"] = f"Bearer {await self._credentials.token()}"
        try:
            response = await self._http.post(
                self._url, json={"appCheckToken": layer.token}, headers=headers, timeout=_CONSUME_TIMEOUT
            )
            answer = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("App Check: Firebase could not be asked", extra={"fields": {"error": type(exc).__name__}})
            raise Unavailable("the App Check token could not be verified right now; retry") from None
        if response.status_code in (400, 403):
            # Firebase refused the token (or, with 403, the runtime identity lacks the verifier role).
            note(refused=f"App Check consume: HTTP {response.status_code}")
            raise Unauthenticated()
        if not isinstance(answer, dict):
            log.warning("App Check: Firebase failed", extra={"fields": {"status": response.status_code}})
            raise Unavailable("the App Check token could not be verified right now; retry")
        if answer.get("alreadyConsumed") is True:
            note(refused="App Check token already consumed (a replay)")
            raise Unauthenticated("this App Check token was already used: send a fresh limited-use token")


def _build(settings: AppCheckSettings, deps: CheckDeps) -> AppCheckCheck:
    assert settings.app_check_project_number is not None  # built only when enabled
    jwks = app_check_key_set(settings.app_check_jwks_url, deps.http)
    return AppCheckCheck(settings.app_check_project_number, jwks, settings.app_check_app_ids)


def _rules(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    if environ.get("APP_CHECK_APP_IDS", "").strip() and not environ.get("APP_CHECK_PROJECT_NUMBER", "").strip():
        return [("APP_CHECK_APP_IDS", "needs APP_CHECK_PROJECT_NUMBER")]
    return []


SPEC = CheckSpec(
    name="app_check",
    enabled_by=("APP_CHECK_PROJECT_NUMBER",),
    enabled=lambda s: bool(s.app_check_project_number),
    build=_build,
    headers=("X-Firebase-AppCheck",),
    security={
        "appCheck": {
            "type": "apiKey",
            "in": "header",
            "name": "X-Firebase-AppCheck",
            "description": "A Firebase App Check token.",
        }
    },
    preload=preload_pyjwt,
    consumer=lambda settings, deps: AppCheckConsumer(
        settings.app_check_project_number, settings.app_check_verify_url, deps.http
    ),
    rules=_rules,
)
