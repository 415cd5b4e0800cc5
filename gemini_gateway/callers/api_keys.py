"""Client API keys (CLIENT_API_KEYS_SECRET, or CLIENT_API_KEYS locally) → the key's name.

A key travels in `X-API-Key`, `x-goog-api-key` (the Gemini SDKs) or
`Authorization: Bearer` (unless that holds a JWT: a Firebase ID token). Every
key presented must be a configured key, and all of them the same one. Only
SHA-256 digests are kept; every configured key is compared, constant-time,
whichever matches, so timing tells nothing about which key was close.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Annotated, ClassVar

from pydantic import Field, SecretStr

from ..config_types import Optional, SecretName, SettingsPart
from ..errors import Unauthenticated, Unavailable
from ..logs import log
from ..secret_store import SecretRef, SecretSetting, SecretStore
from .gate import Layer, bearer_token, note
from .spec import CheckSpec

__all__ = ["SPEC", "ApiKeyCheck", "ApiKeySettings", "parse_client_keys", "presented_keys"]

SECRET = SecretSetting("client_api_keys", "client API keys")


class ApiKeySettings(SettingsPart):
    client_api_keys_secret: Annotated[SecretName, Field(alias="CLIENT_API_KEYS_SECRET")] = None
    client_api_keys: Annotated[SecretStr | None, Field(alias="CLIENT_API_KEYS"), Optional] = None


_JWT = re.compile(r"^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


def presented_keys(headers: Mapping[str, str]) -> list[str]:
    """Client key candidates from `X-API-Key`, `x-goog-api-key` and `Authorization: Bearer` (not a JWT)."""
    keys = []
    for name in ("x-api-key", "x-goog-api-key"):  # the Gemini SDKs send the client key as x-goog-api-key
        key = headers.get(name, "").strip()
        if key:
            keys.append(key)
    token = bearer_token(headers)
    if token and not _JWT.match(token):
        keys.append(token)
    return keys


def parse_client_keys(text: str) -> dict[str, bytes]:
    """`name:key` entries, one per line or comma-separated → name → SHA-256(key).

    Only digests are kept, so comparisons are constant-time over equal-length
    values and the keys themselves are not held beyond parsing.
    """
    keys: dict[str, bytes] = {}
    for raw in re.split(r"[,\n]", text):
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        name, sep, key = entry.partition(":")
        if not sep or not name.strip() or not key.strip():
            raise ValueError("client keys must be name:key entries")
        keys[name.strip()] = hashlib.sha256(key.strip().encode()).digest()
    if not keys:
        raise ValueError("no client keys configured")
    return keys


class ApiKeyCheck:
    """Client API keys from CLIENT_API_KEYS_SECRET (or CLIENT_API_KEYS locally)."""

    kind: ClassVar[str] = "api_key"
    needs_body: ClassVar[bool] = False

    def __init__(self, secrets: SecretStore, ref: SecretRef) -> None:
        self._secrets = secrets
        self._ref = ref
        self._parsed: tuple[str, dict[str, bytes]] | None = None

    async def _keys(self) -> dict[str, bytes]:
        text = await self._secrets.get(self._ref)
        if self._parsed is None or self._parsed[0] != text:
            try:
                self._parsed = (text, parse_client_keys(text))
            except ValueError as exc:
                log.error("client API keys are misconfigured", extra={"fields": {"problem": str(exc)}})
                raise Unavailable("the client API keys are misconfigured; see the function's logs") from None
        return self._parsed[1]

    def presented(self, headers: Mapping[str, str]) -> bool:
        return bool(presented_keys(headers))

    async def verify(self, headers: Mapping[str, str], body: bytes) -> Layer:
        keys = await self._keys()
        names: set[str | None] = set()
        for key in presented_keys(headers):
            digest = hashlib.sha256(key.encode()).digest()
            found: str | None = None
            for name, expected in keys.items():  # no early exit: same work for any key
                if hmac.compare_digest(digest, expected):
                    found = name
            names.add(found)
        if len(names) != 1 or None in names:
            note(refused="client key" if len(names) <= 1 else "two different client keys")
            raise Unauthenticated()
        (matched,) = names
        return Layer("api_key", str(matched))


def _rules(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """CLIENT_API_KEYS, when it is what serves, parsed at start: a malformed literal will not fix itself."""
    literal = environ.get("CLIENT_API_KEYS", "").strip()
    if not literal or environ.get("CLIENT_API_KEYS_SECRET", "").strip():
        return []
    try:
        parse_client_keys(literal)
    except ValueError as exc:
        return [("CLIENT_API_KEYS", str(exc))]
    return []


SPEC = CheckSpec(
    name="client_api_keys",
    enabled_by=("CLIENT_API_KEYS_SECRET", "CLIENT_API_KEYS"),
    enabled=lambda s: SECRET.ref(s) is not None,
    build=lambda settings, deps: ApiKeyCheck(deps.secrets, SECRET.required(settings)),
    headers=("Authorization", "X-API-Key", "x-goog-api-key", "x-goog-api-client"),
    security={
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "A client API key (`CLIENT_API_KEYS`) or a Firebase Auth ID token.",
        },
        "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "A client API key."},
        "googApiKey": {
            "type": "apiKey",
            "in": "header",
            "name": "x-goog-api-key",
            "description": "A client API key, where the official Gemini SDKs put theirs.",
        },
    },
    secrets=(SECRET,),
    rules=_rules,
)
