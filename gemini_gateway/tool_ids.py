"""Opaque ids the function hands out: sealed with a secret key and bound to the caller they were given to.

Tool-call ids carry Gemini 3's thought signature through callers that only
echo ids (ai.google.dev/gemini-api/docs/thought-signatures): the function's
name, Gemini's own call id and the signature. Interaction ids (the
Interactions API) carry Google's id the same way. An id is

    <prefix><base64url( version | check (16 bytes) | JSON payload )>

where the check is HMAC-SHA256 over (purpose, caller identity, payload) with
a secret key: `TOOL_ID_KEY_SECRET` (Terraform creates a random one), or a key
derived from the Gemini key when none is configured. So an id cannot be
forged, altered, or used by another caller: each is refused with a 400
naming its field (404 for an interaction). Several keys may be configured
(one per line or comma-separated) during a rotation: the first seals, every
one opens.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import Unavailable
from .logs import log
from .secret_store import SecretRef, SecretStore

__all__ = ["MAX_ID_CHARS", "IdKeys", "Sealer", "ToolCallRef", "ToolIds"]

MAX_ID_CHARS = 16 * 1024
_VERSION = b"\x02"
_CHECK_BYTES = 16
_DERIVED = b"gemini-gateway id key v2\x00"
_ENTRY = re.compile(r"[,\n]")


class Sealer:
    """Seal and open payloads for one purpose and one caller, with the deployment's id keys."""

    def __init__(self, keys: Sequence[bytes], purpose: str, caller: str) -> None:
        if not keys:
            raise ValueError("no id key")
        self._keys = tuple(keys)
        self._context = purpose.encode() + b"\x00" + caller.encode() + b"\x00"

    def seal(self, prefix: str, payload: dict[str, Any]) -> str:
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode()
        raw = _VERSION + self._check(self._keys[0], body) + body
        return prefix + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def open(self, prefix: str, sealed: str) -> dict[str, Any]:
        """The payload sealed for this caller; ValueError for anything else (cut, altered, another caller's)."""
        if len(sealed) > MAX_ID_CHARS or not sealed.startswith(prefix):
            raise ValueError("is not an id handed out by this function")
        text = sealed[len(prefix) :]
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raise ValueError("is not an id handed out by this function") from None
        version, check, body = raw[:1], raw[1 : 1 + _CHECK_BYTES], raw[1 + _CHECK_BYTES :]
        matched = False
        for key in self._keys:  # every key tried: the same work whichever matches
            matched |= hmac.compare_digest(check, self._check(key, body))
        if version != _VERSION or not matched:
            raise ValueError("is not an id handed out by this function to this caller")
        try:
            payload = json.loads(body)
        except ValueError:
            raise ValueError("is not an id handed out by this function") from None
        if not isinstance(payload, dict):
            raise ValueError("is not an id handed out by this function")
        return payload

    def _check(self, key: bytes, body: bytes) -> bytes:
        return hmac.new(key, self._context + body, hashlib.sha256).digest()[:_CHECK_BYTES]


@dataclass(frozen=True, slots=True)
class ToolCallRef:
    """What a tool-call id stands for."""

    name: str
    call_id: str | None = None  # Gemini's functionCall.id, when it gave one
    signature: str | None = None  # Gemini's thoughtSignature (base64), on the first call of a step


class ToolIds:
    """Tool-call ids for one caller: `call_…`."""

    _PREFIX = "call_"

    def __init__(self, keys: Sequence[bytes], caller: str) -> None:
        self._sealer = Sealer(keys, "tool-call", caller)

    def encode(self, ref: ToolCallRef) -> str:
        fields: dict[str, Any] = {"n": ref.name}
        if ref.call_id is not None:
            fields["i"] = ref.call_id
        if ref.signature is not None:
            fields["s"] = ref.signature
        return self._sealer.seal(self._PREFIX, fields)

    def decode(self, tool_id: str) -> ToolCallRef:
        """The call an id stands for; ValueError when it was not handed out to this caller by this deployment."""
        fields = self._sealer.open(self._PREFIX, tool_id)
        name, call_id, signature = fields.get("n"), fields.get("i"), fields.get("s")
        if not isinstance(name, str) or not isinstance(call_id, str | None) or not isinstance(signature, str | None):
            raise ValueError("is not a tool call id handed out by this function")
        return ToolCallRef(name, call_id, signature)


class IdKeys:
    """The keys ids are sealed with: TOOL_ID_KEY(_SECRET), or one derived from the Gemini key."""

    def __init__(self, secrets: SecretStore, configured: SecretRef | None, gemini_key: SecretRef) -> None:
        self._secrets = secrets
        self._configured = configured
        self._gemini_key = gemini_key
        self._parsed: tuple[str, tuple[bytes, ...]] | None = None

    async def keys(self) -> tuple[bytes, ...]:
        text = await self._secrets.get(self._configured or self._gemini_key)
        if self._parsed is None or self._parsed[0] != text:
            if self._configured is not None:
                keys = tuple(entry.strip().encode() for entry in _ENTRY.split(text) if entry.strip())
                if not keys:  # only separators: no id could be sealed or opened (a 503, not a crash)
                    log.error("the tool-call id key is misconfigured", extra={"fields": {"problem": "no key in it"}})
                    raise Unavailable("the tool-call id key is misconfigured; see the function's logs")
            else:  # a key of its own, so an id never reveals anything about the Gemini key
                keys = (hmac.new(text.encode(), _DERIVED, hashlib.sha256).digest(),)
            self._parsed = (text, keys)
        return self._parsed[1]
