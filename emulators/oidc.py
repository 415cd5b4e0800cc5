"""A stand-in for Google's OIDC ID-token signer and its public certificate endpoint.

Why: Cloud Tasks calls an HTTP target with `Authorization: Bearer <ID token>`
that Google signs for a service account; the receiver verifies it against
`https://www.googleapis.com/oauth2/v1/certs` (`{kid: PEM certificate}`).
Locally the Cloud Tasks emulator signs with a key made here at start and
serves the matching certificates, so the function's verification code runs
unchanged with only the certificate URL swapped (`GOOGLE_OIDC_CERTS_URL`).

Run alone: ``python -m emulators.oidc --port 8790`` (the Cloud Tasks emulator
embeds the same routes on its `--oidc-port`).
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from emulators.serve import cli_parser, serve_app

__all__ = [
    "CERTS_PATH",
    "GOOGLE_ISSUER",
    "JWKS_PATH",
    "OidcKey",
    "OidcSigner",
    "add_routes",
    "create_app",
    "main",
    "service_account_id",
]

GOOGLE_ISSUER = "https://accounts.google.com"
CERTS_PATH = "/oauth2/v1/certs"
"""Same path as Google's, so `GOOGLE_OIDC_CERTS_URL=http://127.0.0.1:Q/oauth2/v1/certs`."""
JWKS_PATH = "/oauth2/v3/certs"
TOKEN_LIFETIME = 3600
"""Google's ID tokens for service accounts live one hour."""

_SIGNER_KEY: web.AppKey[OidcSigner] = web.AppKey("oidc_signer")
_MAX_AGE_KEY: web.AppKey[int] = web.AppKey("oidc_certs_max_age")
_MAX_CONTROL_BODY = 64 * 1024


def _b64url_uint(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()


def service_account_id(email: str) -> str:
    """A stable 21-digit "unique id" for an email: Google puts the account's numeric id in `sub` and `azp`."""
    digest = int.from_bytes(hashlib.sha256(email.encode()).digest()[:9], "big")
    return "1" + str(digest % 10**20).zfill(20)


@dataclass(frozen=True)
class OidcKey:
    """One RSA signing key with the self-signed certificate published for it."""

    kid: str
    private: rsa.RSAPrivateKey
    certificate_pem: str

    @classmethod
    def generate(cls) -> OidcKey:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        der = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        kid = hashlib.sha1(der, usedforsecurity=False).hexdigest()  # Google's kids are 40 hex characters too
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "oidc-emulator.test")])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(private.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=14))
            .sign(private, hashes.SHA256())
        )
        return cls(kid, private, certificate.public_bytes(serialization.Encoding.PEM).decode())

    def jwk(self) -> dict[str, str]:
        numbers = self.private.public_key().public_numbers()
        return {
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": self.kid,
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
        }


class OidcSigner:
    """Signs ID tokens the way Google does for a service account; publishes every key it has used."""

    def __init__(self) -> None:
        self.keys: list[OidcKey] = [OidcKey.generate()]

    @property
    def current(self) -> OidcKey:
        return self.keys[-1]

    def rotate(self) -> str:
        """A new key signs from now on; the old ones stay published (Google overlaps keys too)."""
        self.keys.append(OidcKey.generate())
        return self.current.kid

    def certs(self) -> dict[str, str]:
        return {key.kid: key.certificate_pem for key in self.keys}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.jwk() for key in self.keys]}

    def sign(self, claims: Mapping[str, Any]) -> str:
        key = self.current
        return jwt.encode(dict(claims), key.private, algorithm="RS256", headers={"kid": key.kid, "typ": "JWT"})

    @staticmethod
    def claims(
        audience: str, email: str, *, now: float | None = None, lifetime: int = TOKEN_LIFETIME
    ) -> dict[str, Any]:
        """The claims of a Google-signed ID token for service account `email` (as Cloud Tasks sends)."""
        issued = int(time.time() if now is None else now)
        unique_id = service_account_id(email)
        return {
            "aud": audience,
            "azp": unique_id,
            "email": email,
            "email_verified": True,
            "exp": issued + lifetime,
            "iat": issued,
            "iss": GOOGLE_ISSUER,
            "sub": unique_id,
        }

    def id_token(self, audience: str, email: str, *, now: float | None = None, lifetime: int = TOKEN_LIFETIME) -> str:
        return self.sign(self.claims(audience, email, now=now, lifetime=lifetime))


# --------------------------------------------------------------------------- HTTP


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body, indent=2).encode(),
        content_type="application/json",
        charset="UTF-8",
        headers=dict(headers or {}),
    )


def _cache_headers(max_age: int) -> dict[str, str]:
    return {"Cache-Control": f"public, max-age={max_age}, must-revalidate, no-transform"}


async def _read_json(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = json.loads(await request.read() or b"{}")
    except web.HTTPRequestEntityTooLarge:
        return _json(413, {"error": "body too large"})
    except ValueError:
        return _json(400, {"error": "body is not JSON"})
    if not isinstance(body, dict):
        return _json(400, {"error": "body must be a JSON object"})
    return body


async def _certs(request: web.Request) -> web.Response:
    signer = request.app[_SIGNER_KEY]
    return _json(200, signer.certs(), _cache_headers(request.app[_MAX_AGE_KEY]))


async def _jwks(request: web.Request) -> web.Response:
    signer = request.app[_SIGNER_KEY]
    return _json(200, signer.jwks(), _cache_headers(request.app[_MAX_AGE_KEY]))


async def _mint(request: web.Request) -> web.Response:
    """`{"audience", "email", "lifetime"?, "claims"?}` → `{"token"}`; `claims` overrides (null removes one)."""
    body = await _read_json(request)
    if isinstance(body, web.Response):
        return body
    audience, email = body.get("audience"), body.get("email")
    if not isinstance(audience, str) or not isinstance(email, str):
        return _json(400, {"error": "audience and email (strings) are required"})
    lifetime = body.get("lifetime", TOKEN_LIFETIME)
    extra = body.get("claims") or {}
    if not isinstance(lifetime, int) or not isinstance(extra, dict):
        return _json(400, {"error": "lifetime must be an integer and claims an object"})
    signer = request.app[_SIGNER_KEY]
    claims = signer.claims(audience, email, lifetime=lifetime)
    claims.update(extra)
    claims = {k: v for k, v in claims.items() if v is not None}
    return _json(200, {"token": signer.sign(claims), "kid": signer.current.kid, "claims": claims})


async def _rotate(request: web.Request) -> web.Response:
    return _json(200, {"kid": request.app[_SIGNER_KEY].rotate()})


def add_routes(app: web.Application, signer: OidcSigner, cache_max_age: int = 3600) -> None:
    """Mount the certificate endpoints and the token controls on `app` (shared with other emulators)."""
    app[_SIGNER_KEY] = signer
    app[_MAX_AGE_KEY] = cache_max_age
    app.router.add_get(CERTS_PATH, _certs)
    app.router.add_get(JWKS_PATH, _jwks)
    app.router.add_post("/__emulator/oidc/token", _mint)
    app.router.add_post("/__emulator/oidc/rotate", _rotate)


def create_app(signer: OidcSigner | None = None, cache_max_age: int = 3600) -> web.Application:
    app = web.Application(client_max_size=_MAX_CONTROL_BODY)
    add_routes(app, signer if signer is not None else OidcSigner(), cache_max_age)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = cli_parser("emulators.oidc", __doc__)
    parser.add_argument("--certs-max-age", type=int, default=3600, help="Cache-Control max-age of the certs")
    args = parser.parse_args(argv)
    url = f"http://{args.host}:{args.port}"
    banner = f"OIDC emulator listening on {url} (certs: {url}{CERTS_PATH})"
    asyncio.run(serve_app(create_app(cache_max_age=args.certs_max_age), args.host, args.port, banner))


if __name__ == "__main__":
    main()
