"""Caller checks (contract section 6) behind one interface.

A request must pass at least one configured check. Each check looks only at
its own kind of credential and answers with the caller's identity, or None;
`CallerGate.identify` runs them and is the one call the request path makes.
Firebase Auth, App Check and signed webhooks plug in here as further checks.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from .errors import Forbidden, Unauthenticated, Unavailable
from .logs import log
from .secret_store import SecretRef, SecretStore

__all__ = ["ApiKeyCheck", "Caller", "CallerCheck", "CallerGate", "parse_client_keys", "presented_keys"]

_BEARER = re.compile(r"^\s*bearer\s+(\S+)\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling, as it goes into `cf-aig-metadata` (`caller`)."""

    identity: str


class CallerCheck(Protocol):
    async def identify(self, headers: Mapping[str, str], body: bytes) -> Caller | None:
        """The caller, if this check's credential is present and valid; else None."""
        ...


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
    match = _BEARER.match(headers.get("authorization", ""))
    if match:
        keys.append(match.group(1))
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


class CallerGate:
    """Run the configured checks; with none, serve anonymously only if allowed."""

    def __init__(self, checks: Sequence[CallerCheck], allow_unauthenticated: bool) -> None:
        self._checks = tuple(checks)
        self._anonymous = allow_unauthenticated and not self._checks

    async def identify(self, headers: Mapping[str, str], body: bytes) -> Caller:
        if self._anonymous:
            return Caller("anonymous")
        # A check that refuses a genuine credential (403) or cannot judge it right now (503, e.g.
        # Google's keys unreachable) does not stop the others: another credential may still admit.
        refused: Forbidden | None = None
        unavailable: Unavailable | None = None
        for check in self._checks:
            try:
                caller = await check.identify(headers, body)
            except Forbidden as exc:
                refused = refused or exc
                continue
            except Unavailable as exc:
                unavailable = unavailable or exc
                continue
            if caller is not None:
                return caller
        raise unavailable or refused or Unauthenticated()
