"""Test-made Firebase credentials: RSA keys, their x509 certificates and JWKS, and signed tokens.

Nothing here talks to Google: tests generate their own keys and serve them
(MockTransport in unit tests, a loopback HTTP server in integration tests),
then point FIREBASE_CERTS_URL / APP_CHECK_JWKS_URL at them.
"""

from __future__ import annotations

import base64
import datetime
import functools
import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

__all__ = [
    "KeyServer",
    "SigningKey",
    "app_check_claims",
    "b64url",
    "firebase_claims",
    "serve_keys",
    "signing_key",
    "unsigned_token",
]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    @property
    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def certificate_pem(self) -> str:
        """A self-signed x509 certificate, as Google's securetoken endpoint publishes."""
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "securetoken.system.gserviceaccount.com")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.private.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .sign(self.private, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    def jwk(self) -> dict[str, str]:
        numbers = self.private.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
        }

    def sign(
        self, claims: Mapping[str, Any], *, kid: str | None = None, headers: Mapping[str, Any] | None = None
    ) -> str:
        return jwt.encode(
            dict(claims), self.private, algorithm="RS256", headers={"kid": kid or self.kid, **(headers or {})}
        )


@functools.cache
def signing_key(kid: str) -> SigningKey:
    """One 2048-bit key per kid for the whole test session (generation is the slow part)."""
    return SigningKey(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))


def firebase_claims(project: str, uid: str = "user-123", now: float | None = None, **changes: Any) -> dict[str, Any]:
    now = time.time() if now is None else now
    claims: dict[str, Any] = {
        "iss": f"https://securetoken.google.com/{project}",
        "aud": project,
        "auth_time": int(now) - 120,
        "user_id": uid,
        "sub": uid,
        "iat": int(now) - 60,
        "exp": int(now) + 3540,
        "firebase": {"identities": {}, "sign_in_provider": "anonymous"},
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def app_check_claims(number: str, app_id: str, now: float | None = None, **changes: Any) -> dict[str, Any]:
    now = time.time() if now is None else now
    claims: dict[str, Any] = {
        "iss": f"https://firebaseappcheck.googleapis.com/{number}",
        "aud": [f"projects/{number}", "projects/my-firebase-app"],
        "sub": app_id,
        "iat": int(now) - 60,
        "exp": int(now) + 3540,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def unsigned_token(header: Mapping[str, Any], claims: Mapping[str, Any], signature: bytes = b"") -> str:
    """A JWT put together by hand (alg none, forged signatures)."""
    head = b64url(json.dumps(dict(header)).encode())
    body = b64url(json.dumps(dict(claims)).encode())
    return f"{head}.{body}.{b64url(signature)}"


@dataclass
class KeyServer:
    """A loopback HTTP server for `/certs` (x509 JSON) and `/jwks`, counting fetches."""

    url: str
    documents: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # path → (body, cache-control)
    fetches: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, path: str, document: Any, max_age: int = 3600) -> None:
        with self.lock:
            self.documents[path] = (json.dumps(document).encode(), f"public, max-age={max_age}, must-revalidate")

    def count(self, path: str) -> int:
        with self.lock:
            return self.fetches.get(path, 0)


@contextmanager
def serve_keys() -> Iterator[KeyServer]:
    server_ref: dict[str, KeyServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            keys = server_ref["keys"]
            with keys.lock:
                keys.fetches[self.path] = keys.fetches.get(self.path, 0) + 1
                found = keys.documents.get(self.path)
            if found is None:
                self.send_error(404)
                return
            body, cache_control = found
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Cache-Control", cache_control)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    server_ref["keys"] = KeyServer(url=f"http://127.0.0.1:{httpd.server_address[1]}")
    thread = threading.Thread(target=httpd.serve_forever, name="key-server", daemon=True)
    thread.start()
    try:
        yield server_ref["keys"]
    finally:
        httpd.shutdown()
        httpd.server_close()
