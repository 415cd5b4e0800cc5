"""Opaque tool-call ids that carry Gemini 3's thought signature through the caller and back.

Gemini 3 returns a `thoughtSignature` with each function call and refuses the
next turn unless it comes back on that call (ai.google.dev/gemini-api/docs/
thought-signatures). Callers of `POST /` and the OpenAI route only echo ids
(`tool_call_id`), so the id handed out holds what the next turn needs: the
function's name, Gemini's own call id, and the signature.

    call_<base64url( 0x01 | check (8 bytes) | JSON {"n": name, "i": id?, "s": signature?} )>

The check is a truncated HMAC-SHA256 keyed by this deployment's gateway
(account and gateway id): an id handed out by another deployment, cut short
or altered is refused with a 400 naming its field. It is an integrity check,
not a secret: a deliberately forged signature still reaches Gemini, which
refuses it (400) on its own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

__all__ = ["MAX_ID_CHARS", "ToolCallRef", "ToolIds"]

MAX_ID_CHARS = 16 * 1024
_PREFIX = "call_"
_VERSION = b"\x01"
_CHECK_BYTES = 8


@dataclass(frozen=True, slots=True)
class ToolCallRef:
    """What a tool-call id stands for."""

    name: str
    call_id: str | None = None  # Gemini's functionCall.id, when it gave one
    signature: str | None = None  # Gemini's thoughtSignature (base64), on the first call of a step


class ToolIds:
    def __init__(self, deployment: str) -> None:
        self._key = hashlib.sha256(b"gemini-gateway tool-call id v1\x00" + deployment.encode()).digest()

    def encode(self, ref: ToolCallRef) -> str:
        fields: dict[str, str] = {"n": ref.name}
        if ref.call_id is not None:
            fields["i"] = ref.call_id
        if ref.signature is not None:
            fields["s"] = ref.signature
        body = json.dumps(fields, separators=(",", ":"), ensure_ascii=True).encode()
        raw = _VERSION + self._check(body) + body
        return _PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def decode(self, tool_id: str) -> ToolCallRef:
        """The call an id stands for; ValueError when it was not handed out by this deployment."""
        if len(tool_id) > MAX_ID_CHARS or not tool_id.startswith(_PREFIX):
            raise ValueError("is not a tool call id handed out by this function")
        text = tool_id[len(_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raise ValueError("is not a tool call id handed out by this function") from None
        version, check, body = raw[:1], raw[1 : 1 + _CHECK_BYTES], raw[1 + _CHECK_BYTES :]
        if version != _VERSION or not hmac.compare_digest(check, self._check(body)):
            raise ValueError("is not a tool call id handed out by this function (altered or from elsewhere)")
        fields = json.loads(body)
        return ToolCallRef(fields["n"], fields.get("i"), fields.get("s"))

    def _check(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:_CHECK_BYTES]
