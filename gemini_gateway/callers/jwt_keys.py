"""RS256 JWTs checked against public keys published at a URL (Firebase Auth, App Check).

Both Firebase checks verify RS256 tokens against keys Google publishes: Auth as
x509 certificates (`{kid: PEM}`), App Check as a JWKS. `KeySet` fetches one
such document, keeps the parsed keys for the response's `Cache-Control:
max-age`, shares one fetch between callers that arrive together, and fetches
again for an unknown `kid` at most once a minute (keys rotate; a stream of
made-up kids must not turn into a stream of fetches). When a refetch fails
the keys at hand keep serving; with none at all the check answers 503, since
a possibly valid token cannot be judged.

`decode_rs256` is the one place a token's signature and standard claims are
checked: RS256 only (`none`, HS256 and everything else refused before any key
is looked at), with a small clock skew.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:  # cryptography (~40 ms) is imported where keys are parsed: only deployments with a Firebase check
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from ..errors import Unavailable
from ..logs import log
from .gate import bearer_token

__all__ = [
    "CLOCK_SKEW_SECONDS",
    "KeySet",
    "bearer_token",
    "decode_rs256",
    "parse_jwks",
    "parse_x509_certs",
    "preload_pyjwt",
    "rs256_kid",
]

CLOCK_SKEW_SECONDS = 60
MAX_TOKEN_CHARS = 8192  # Firebase tokens are ~1 KB; refuse to parse anything far larger
_JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.IGNORECASE)

_MIN_TTL = 30.0  # even `max-age=0` / `no-store` is kept this long: no fetch per request
_MAX_TTL = 86400.0
_UNKNOWN_KID_REFETCH_EVERY = 60.0
_RETRY_FAILED_FETCH_AFTER = 10.0
_FETCH_TIMEOUT = httpx.Timeout(10.0)
_MIN_RSA_BITS = 2048

KeyParser = Callable[[Any], "dict[str, RSAPublicKey]"]


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def preload_pyjwt() -> None:
    """Import PyJWT and cryptography (~50-90 ms) at start, before the fork, rather than on the first request."""
    import jwt  # noqa: F401


def rs256_kid(token: str) -> str | None:
    """The `kid` of a JWT-shaped token whose header says RS256; None for anything else.

    Only the header is read (nothing is trusted yet): it decides which key to
    fetch. A token with `alg: none`, HS256 or no kid never gets that far.
    """
    if len(token) > MAX_TOKEN_CHARS or not _JWT_SHAPE.match(token):
        return None
    try:
        header = json.loads(_b64url(token.split(".", 1)[0]))
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):  # RecursionError: 1,000 nested `[`
        return None
    if not isinstance(header, dict) or header.get("alg") != "RS256":
        return None
    kid = header.get("kid")
    return kid if isinstance(kid, str) and kid else None


def decode_rs256(
    token: str,
    key: RSAPublicKey,
    *,
    audience: str,
    issuer: str,
    require: Sequence[str] = ("exp", "iat", "aud", "iss", "sub"),
    leeway: float = CLOCK_SKEW_SECONDS,
) -> dict[str, Any] | None:
    """The verified claims, or None: bad signature, wrong alg/aud/iss, expired, issued in the future."""
    import jwt  # PyJWT: imported on first use, only deployments with a Firebase check pay for it

    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            audience=audience,
            issuer=issuer,
            leeway=leeway,
            options={"require": list(require), "verify_signature": True},
        )
    except jwt.PyJWTError:
        return None
    return claims if isinstance(claims, dict) else None


def _rsa(key: object) -> RSAPublicKey | None:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

    if isinstance(key, RSAPublicKey) and key.key_size >= _MIN_RSA_BITS:
        return key
    return None


def parse_x509_certs(document: Any) -> dict[str, RSAPublicKey]:
    """`{kid: PEM certificate}` (Firebase Auth's securetoken certs) → kid → RSA public key."""
    from cryptography import x509

    keys: dict[str, RSAPublicKey] = {}
    if not isinstance(document, dict):
        raise ValueError("the certificates document is not a JSON object")
    for kid, pem in document.items():
        if not isinstance(kid, str) or not isinstance(pem, str):
            continue
        try:
            key = _rsa(x509.load_pem_x509_certificate(pem.encode()).public_key())
        except ValueError:
            continue
        if key is not None:
            keys[kid] = key
    return keys


def parse_jwks(document: Any) -> dict[str, RSAPublicKey]:
    """A JWKS (`{"keys": [{kty, kid, n, e, ...}]}`, App Check's) → kid → RSA public key."""
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("the JWKS document has no keys list")
    keys: dict[str, RSAPublicKey] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or jwk.get("alg", "RS256") != "RS256":
            continue
        if jwk.get("use", "sig") != "sig" or not isinstance(jwk.get("kid"), str):
            continue
        try:
            n = int.from_bytes(_b64url(str(jwk["n"])), "big")
            e = int.from_bytes(_b64url(str(jwk["e"])), "big")
            key = _rsa(RSAPublicNumbers(e, n).public_key())
        except (KeyError, ValueError, binascii.Error):
            continue
        if key is not None:
            keys[jwk["kid"]] = key
    return keys


def _ttl(cache_control: str | None, default: float) -> float:
    match = _MAX_AGE.search(cache_control or "")
    seconds = float(match.group(1)) if match else default
    return max(_MIN_TTL, min(_MAX_TTL, seconds))


class KeySet:
    """Public keys from one URL, cached per `Cache-Control: max-age`."""

    def __init__(
        self,
        url: str,
        parse: KeyParser,
        *,
        label: str,
        http: httpx.AsyncClient | None = None,
        default_ttl: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._parse = parse
        self._label = label  # what these keys are, for logs and errors
        self._http = http
        self._default_ttl = default_ttl
        self._clock = clock
        self._keys: dict[str, RSAPublicKey] | None = None
        self._expires = 0.0
        self._fetched_at: float | None = None
        self._failed_at: float | None = None
        self._generation = 0
        self._lock: asyncio.Lock | None = None
        self.fetches = 0  # attempts, for tests and the benchmark

    async def key(self, kid: str) -> RSAPublicKey | None:
        """The key for `kid`, fetching the document when it is stale or the kid is new."""
        now = self._clock()
        stale = self._keys is None or now >= self._expires
        new_kid = self._keys is not None and kid not in self._keys
        if stale or (new_kid and (self._fetched_at is None or now - self._fetched_at >= _UNKNOWN_KID_REFETCH_EVERY)):
            await self._refresh(self._generation)
        if self._keys is None:
            raise Unavailable(f"the {self._label} cannot be fetched right now")
        return self._keys.get(kid)

    async def _refresh(self, seen: int) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._generation != seen:
                return  # another caller fetched (or failed to) while this one waited: share its outcome
            now = self._clock()
            if self._failed_at is not None and now - self._failed_at < _RETRY_FAILED_FETCH_AFTER:
                return
            try:
                keys, ttl = await self._fetch()
            except Exception as exc:  # noqa: BLE001 - any failure keeps the old keys or becomes 503
                self._failed_at = self._clock()
                if self._keys is not None:
                    self._expires = self._failed_at + _RETRY_FAILED_FETCH_AFTER
                log.warning(
                    f"fetching the {self._label} failed",
                    extra={
                        "fields": {
                            "url": self.url,
                            "error": type(exc).__name__,
                            "serving_stale": self._keys is not None,
                        }
                    },
                )
            else:
                self._keys = keys
                self._fetched_at = self._clock()
                self._expires = self._fetched_at + ttl
                self._failed_at = None
            finally:
                self._generation += 1

    async def _fetch(self) -> tuple[dict[str, RSAPublicKey], float]:
        self.fetches += 1
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=_FETCH_TIMEOUT, follow_redirects=False)
        response = await self._http.get(self.url, timeout=_FETCH_TIMEOUT, headers={"Accept": "application/json"})
        if response.status_code != 200:
            raise ValueError(f"HTTP {response.status_code}")
        keys = self._parse(response.json())
        if not keys:
            raise ValueError("no usable RS256 keys in the document")
        return keys, _ttl(response.headers.get("cache-control"), self._default_ttl)
