"""Client API keys (CLIENT_API_KEYS_SECRET, or CLIENT_API_KEYS locally) → the key's name.

Only SHA-256 digests are kept; every configured key is compared, constant-time,
whichever matches, so timing tells nothing about which key was close.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Annotated, ClassVar

from pydantic import BaseModel, Field, SecretStr

from ..config_types import Optional, SecretName
from ..errors import Unavailable
from ..logs import log
from ..secret_store import SecretRef, SecretSetting, SecretStore
from .gate import Caller, bearer_token
from .spec import CheckSpec

__all__ = ["SPEC", "ApiKeyCheck", "ApiKeySettings", "parse_client_keys", "presented_keys"]

SECRET = SecretSetting("client_api_keys", "client API keys")


class ApiKeySettings(BaseModel):
    client_api_keys_secret: Annotated[SecretName, Field(alias="CLIENT_API_KEYS_SECRET")] = None
    client_api_keys: Annotated[SecretStr | None, Field(alias="CLIENT_API_KEYS"), Optional] = None


def presented_keys(headers: Mapping[str, str]) -> list[str]:
    """Client key candidates from `X-API-Key`, `x-goog-api-key` and `Authorization: Bearer`.

    Both are tried: a Bearer header may carry another check's token (a
    Firebase ID token) while the client key travels in X-API-Key.
    """
    keys = []
    for name in ("x-api-key", "x-goog-api-key"):  # the Gemini SDKs send the client key as x-goog-api-key
        key = headers.get(name, "").strip()
        if key:
            keys.append(key)
    token = bearer_token(headers)
    if token:
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

    async def identify(self, headers: Mapping[str, str], body: bytes) -> Caller | None:
        candidates = presented_keys(headers)
        if not candidates:
            return None
        keys = await self._keys()
        found: str | None = None
        for key in candidates:
            digest = hashlib.sha256(key.encode()).digest()
            for name, expected in keys.items():  # no early exit: same work for any key
                if hmac.compare_digest(digest, expected):
                    found = name
        return Caller(found) if found is not None else None


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
)
