"""Signed webhooks → the `webhook` layer: the function's own scheme, and Standard Webhooks.

- `X-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]`: the sender signs
  `f"{t}.".encode() + raw_body` with HMAC-SHA256 and a shared secret.
- Standard Webhooks (the scheme OpenAI and many SaaS senders use, through
  off-the-shelf libraries): `webhook-id`, `webhook-timestamp`,
  `webhook-signature: v1,<base64>` over `"{id}.{timestamp}.{body}"`, with a
  `whsec_<base64>` secret; the `standardwebhooks` package verifies.

Either way the signature is checked on the raw bytes before anything parses
them, a timestamp more than 300 s from now (either way) is refused, and a
delivery seen again within that window is refused (409 conflict: its
`webhook-id`, or for `X-Signature` any signature it carries, kept in Redis when
REDIS_URL is set, else in memory), so a captured request cannot be replayed.

Rotation: the secret (WEBHOOK_SECRET_SECRET, or WEBHOOK_SECRET locally) may
hold several secrets, one per line or comma-separated, every one accepted:
`whsec_` entries for Standard Webhooks, the others for `X-Signature`. Every
(secret, signature) pair is compared, constant-time, with no early exit.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar

from pydantic import Field, SecretStr

from ..config_types import Optional, SecretName, SettingsPart
from ..errors import Conflict, Unauthenticated, Unavailable
from ..logs import log
from ..secret_store import SecretRef, SecretSetting, SecretStore
from .gate import Layer, note
from .seen import Seen, make_seen
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


class WebhookSettings(SettingsPart):
    webhook_secret_secret: Annotated[SecretName, Field(alias="WEBHOOK_SECRET_SECRET")] = None
    webhook_secret: Annotated[SecretStr | None, Field(alias="WEBHOOK_SECRET"), Optional] = None


HEADER = "x-signature"
STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
TOLERANCE_SECONDS = 300  # the standardwebhooks package's own (5 minutes), and ours
_SEEN_WINDOW = 2.0 * TOLERANCE_SECONDS  # a timestamp may be that far on either side of now
_MAX_HEADER_CHARS = 2048
_MAX_ID_CHARS = 256
_STANDARD_PREFIX = "whsec_"
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


def parse_secrets(text: str) -> tuple[list[bytes], list[str]]:
    """One secret per line or comma-separated → (X-Signature secrets, Standard Webhooks `whsec_` secrets)."""
    entries = [s.strip() for s in re.split(r"[,\n]", text) if s.strip()]
    if not entries:
        raise ValueError("no webhook secret configured")
    standard = [e for e in entries if e.startswith(_STANDARD_PREFIX)]
    for secret in standard:
        key = secret[len(_STANDARD_PREFIX) :].rstrip("=")
        try:
            decoded = base64.b64decode(key + "=" * (-len(key) % 4), validate=True)
        except (ValueError, binascii.Error):
            raise ValueError("a whsec_ secret is not base64") from None
        if not decoded:  # the standardwebhooks package refuses an empty key with an error of its own
            raise ValueError("a whsec_ secret is empty")
    return [e.encode() for e in entries if not e.startswith(_STANDARD_PREFIX)], standard


class WebhookCheck:
    kind: ClassVar[str] = "webhook"
    needs_body: ClassVar[bool] = True

    def __init__(
        self,
        secrets: SecretStore,
        ref: SecretRef,
        seen: Seen | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secrets = secrets
        self._ref = ref
        self._seen = seen or make_seen(None)
        self._clock = clock
        self._parsed: tuple[str, tuple[list[bytes], list[Any]]] | None = None

    async def _keys(self) -> tuple[list[bytes], list[Any]]:
        """(X-Signature secrets, Standard Webhooks verifiers), re-read when the secret changes."""
        text = await self._secrets.get(self._ref)
        if self._parsed is None or self._parsed[0] != text:
            try:
                plain, standard = parse_secrets(text)
            except ValueError as exc:
                log.error("the webhook secret is misconfigured", extra={"fields": {"problem": str(exc)}})
                raise Unavailable("the webhook secret is misconfigured; see the function's logs") from None
            verifiers = []
            if standard:
                from standardwebhooks import Webhook  # only deployments whose senders use it import it

                verifiers = [Webhook(secret) for secret in standard]
            self._parsed = (text, (plain, verifiers))
        return self._parsed[1]

    def presented(self, headers: Mapping[str, str]) -> bool:
        return bool(headers.get(HEADER) or headers.get("webhook-signature"))

    async def verify(self, headers: Mapping[str, str], body: bytes) -> Layer:
        if headers.get("webhook-signature"):
            replay_keys = [await self._standard(headers, body)]
        else:
            replay_keys = await self._own(headers.get(HEADER, ""), body)
        firsts = [await self._seen.first_time(key, _SEEN_WINDOW) for key in replay_keys]  # each one remembered
        if not all(firsts):
            note(webhook_refused="delivery seen before (a replay)")
            raise Conflict("this webhook delivery was already received (the same id or signature)", retryable=False)
        return Layer("webhook", "webhook")

    async def _own(self, header: str, body: bytes) -> list[str]:
        parsed = parse_signature(header)
        if parsed is None:
            raise _refused("malformed X-Signature")
        timestamp, presented = parsed
        if abs(self._clock() - timestamp) > TOLERANCE_SECONDS:
            raise _refused(f"timestamp {round(timestamp - self._clock())} s from now")
        signed = f"{timestamp}.".encode() + body
        matched: list[bytes] = []
        for secret in (await self._keys())[0]:
            expected = hmac.new(secret, signed, hashlib.sha256).hexdigest().encode()
            for candidate in presented:  # no early exit: the same work whichever pair matches
                if hmac.compare_digest(expected, candidate) and expected not in matched:
                    matched.append(expected)
        if not matched:
            raise _refused("no signature matches (secret, or body changed after signing)")
        # Every v1 that matched, not one of them: a delivery signed with two secrets (a rotation) and
        # replayed with only one of its signatures is still a delivery seen before.
        return ["x-signature:" + signature.decode() for signature in matched]

    async def _standard(self, headers: Mapping[str, str], body: bytes) -> str:
        from standardwebhooks import WebhookVerificationError

        wanted = {name: headers.get(name, "") for name in STANDARD_HEADERS}
        if not all(wanted.values()) or any(len(v) > _MAX_HEADER_CHARS for v in wanted.values()):
            raise _refused("Standard Webhooks headers missing or too long")
        if len(wanted["webhook-id"]) > _MAX_ID_CHARS:
            raise _refused("webhook-id too long")
        verifiers = (await self._keys())[1]
        if not verifiers:
            raise _refused("a Standard Webhooks delivery, but no whsec_ secret is configured")
        why = "no signature matches (secret, or body changed after signing)"
        matched = False
        for verifier in verifiers:  # every secret tried: the same work whichever matches
            try:
                verifier.verify(body, wanted, json_parse=False)
                matched = True
            except WebhookVerificationError as exc:
                why = str(exc) if "timestamp" in str(exc) else why
        if not matched:
            raise _refused(why)
        return "webhook-id:" + wanted["webhook-id"]


def _refused(why: str) -> Unauthenticated:
    """401 as for any bad credential; why goes to the access line only, never to the caller."""
    note(webhook_refused=why)
    return Unauthenticated()


def _rules(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """WEBHOOK_SECRET, when it is what serves, parsed at start: a malformed literal will not fix itself."""
    literal = environ.get("WEBHOOK_SECRET", "").strip()
    if not literal or environ.get("WEBHOOK_SECRET_SECRET", "").strip():
        return []
    try:
        parse_secrets(literal)
    except ValueError as exc:
        return [("WEBHOOK_SECRET", str(exc))]
    return []


SPEC = CheckSpec(
    name="webhook_secret",
    enabled_by=("WEBHOOK_SECRET_SECRET", "WEBHOOK_SECRET"),
    enabled=lambda s: SECRET.ref(s) is not None,
    build=lambda settings, deps: WebhookCheck(
        deps.secrets, SECRET.required(settings), make_seen(deps.redis_url, deps.redis)
    ),
    headers=("X-Signature", "webhook-id", "webhook-timestamp", "webhook-signature"),
    security={
        "webhookSignature": {
            "type": "apiKey",
            "in": "header",
            "name": "X-Signature",
            "description": '`t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`, 300 s tolerance.',
        },
        "standardWebhooks": {
            "type": "apiKey",
            "in": "header",
            "name": "webhook-signature",
            "description": "Standard Webhooks: `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64>` "
            '(HMAC-SHA256 of "id.timestamp.body" with a `whsec_` secret), 300 s tolerance.',
        },
    },
    secrets=(SECRET,),
    rules=_rules,
)
