"""Signed webhooks: `X-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]` → `webhook`.

The sender signs `f"{t}.".encode() + raw_body` with HMAC-SHA256 and a shared
secret; the signature is checked on the raw bytes, before anything parses
them. A timestamp more than 300 s away from now (either way) is refused, so
a captured request cannot be replayed later (it can within those 300 s:
senders that need more put an idempotency key in the body).

Rotation: the secret (WEBHOOK_SECRET_SECRET, or WEBHOOK_SECRET locally) may
hold several secrets, one per line or comma-separated, every one accepted;
the sender may send several `v1=` values (one per secret it signs with). Any
(secret, v1) pair matching is enough. Every pair is compared, constant-time,
with no early exit, so timing tells nothing about which secret was close.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from typing import Annotated, ClassVar

from pydantic import BaseModel, Field, SecretStr

from ..config_types import Optional, SecretName
from ..errors import Unavailable
from ..logs import log
from ..secret_store import SecretRef, SecretSetting, SecretStore
from .gate import Caller, note
from .spec import CheckSpec

__all__ = [
    "HEADER",
    "SPEC",
    "TOLERANCE_SECONDS",
    "WebhookCheck",
    "WebhookSettings",
    "parse_secrets",
    "parse_signature",
    "sign",
]

SECRET = SecretSetting("webhook_secret", "webhook secret")


class WebhookSettings(BaseModel):
    webhook_secret_secret: Annotated[SecretName, Field(alias="WEBHOOK_SECRET_SECRET")] = None
    webhook_secret: Annotated[SecretStr | None, Field(alias="WEBHOOK_SECRET"), Optional] = None


HEADER = "x-signature"
TOLERANCE_SECONDS = 300
_MAX_HEADER_CHARS = 2048
_MAX_SIGNATURES = 8
_HEX_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `v1` value for `body` sent at `timestamp` (what a sender computes)."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def parse_signature(header: str) -> tuple[int, list[bytes]] | None:
    """`t=<unix>,v1=<hex>,...` → (t, [v1 as lowercase hex bytes]); None if malformed."""
    if len(header) > _MAX_HEADER_CHARS:
        return None
    timestamp: int | None = None
    signatures: list[bytes] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        name, value = name.strip(), value.strip()
        if not sep:
            return None
        if name == "t":
            if timestamp is not None or not _TIMESTAMP.match(value):
                return None
            timestamp = int(value)
        elif name == "v1" and _HEX_SHA256.match(value):
            signatures.append(value.lower().encode())
        # other schemes (v0=..., future versions) are ignored, as senders may add them
    if timestamp is None or not signatures or len(signatures) > _MAX_SIGNATURES:
        return None
    return timestamp, signatures


def parse_secrets(text: str) -> list[bytes]:
    """One secret per line or comma-separated (surrounding whitespace ignored)."""
    secrets = [s.strip().encode() for s in re.split(r"[,\n]", text) if s.strip()]
    if not secrets:
        raise ValueError("no webhook secret configured")
    return secrets


class WebhookCheck:
    needs_body: ClassVar[bool] = True

    def __init__(self, secrets: SecretStore, ref: SecretRef, clock: Callable[[], float] = time.time) -> None:
        self._secrets = secrets
        self._ref = ref
        self._clock = clock
        self._parsed: tuple[str, list[bytes]] | None = None

    async def _keys(self) -> list[bytes]:
        text = await self._secrets.get(self._ref)
        if self._parsed is None or self._parsed[0] != text:
            try:
                self._parsed = (text, parse_secrets(text))
            except ValueError as exc:
                log.error("the webhook secret is misconfigured", extra={"fields": {"problem": str(exc)}})
                raise Unavailable("the webhook secret is misconfigured; see the function's logs") from None
        return self._parsed[1]

    def presented(self, headers: Mapping[str, str]) -> bool:
        return bool(headers.get(HEADER))

    async def identify(self, headers: Mapping[str, str], body: bytes) -> Caller | None:
        header = headers.get(HEADER)
        if not header:
            return None
        parsed = parse_signature(header)
        if parsed is None:
            note(webhook_refused="malformed X-Signature")
            return None
        timestamp, presented = parsed
        if abs(self._clock() - timestamp) > TOLERANCE_SECONDS:
            note(webhook_refused=f"timestamp {round(timestamp - self._clock())} s from now")
            return None
        signed = f"{timestamp}.".encode() + body
        matched = False
        for secret in await self._keys():
            expected = hmac.new(secret, signed, hashlib.sha256).hexdigest().encode()
            for candidate in presented:  # no early exit: the same work whichever pair matches
                matched |= hmac.compare_digest(expected, candidate)
        if not matched:
            note(webhook_refused="no signature matches (secret, or body changed after signing)")
            return None
        return Caller("webhook")


SPEC = CheckSpec(
    name="webhook_secret",
    enabled_by=("WEBHOOK_SECRET_SECRET", "WEBHOOK_SECRET"),
    enabled=lambda s: SECRET.ref(s) is not None,
    build=lambda settings, deps: WebhookCheck(deps.secrets, SECRET.required(settings)),
    headers=("X-Signature",),
    security={
        "webhookSignature": {
            "type": "apiKey",
            "in": "header",
            "name": "X-Signature",
            "description": '`t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`, 300 s tolerance.',
        }
    },
    secrets=(SECRET,),
)
