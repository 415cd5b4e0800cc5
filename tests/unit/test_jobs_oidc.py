"""The task route's token check against certificates served on loopback: what opens it, what does not.

Tokens are signed the way Google signs Cloud Tasks' OIDC tokens
(`emulators/oidc.py`), the `{kid: PEM}` certificates published by a
loopback server as GOOGLE_OIDC_CERTS_URL would publish them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from emulators.oidc import OidcSigner
from gemini_gateway.errors import Forbidden, Unauthenticated
from gemini_gateway.jobs.oidc import TaskTokens
from tests.support.firebase_tokens import KeyServer, serve_keys, unsigned_token

AUDIENCE = "https://europe-west1-demo.cloudfunctions.net/generate"
ACCOUNT = "jobs@demo.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def signer() -> OidcSigner:
    return OidcSigner()


@pytest.fixture
def certs(signer: OidcSigner) -> Iterator[KeyServer]:
    with serve_keys() as server:
        server.publish("/oauth2/v1/certs", signer.certs(), max_age=3600)
        yield server


def tokens(certs: KeyServer) -> TaskTokens:
    return TaskTokens(f"{certs.url}/oauth2/v1/certs", AUDIENCE, ACCOUNT)


def verify(check: TaskTokens, token: str | None) -> dict[str, Any]:
    headers = {} if token is None else {"authorization": f"Bearer {token}"}
    return asyncio.run(check.verify(headers))


def test_cloud_tasks_token_is_accepted_and_certificates_are_cached(signer: OidcSigner, certs: KeyServer) -> None:
    check = tokens(certs)

    async def many() -> None:
        for _ in range(20):
            claims = await check.verify({"authorization": f"Bearer {signer.id_token(AUDIENCE, ACCOUNT)}"})
            assert claims["email"] == ACCOUNT

    asyncio.run(many())
    assert certs.count("/oauth2/v1/certs") == 1, "fetched once, kept for its max-age"


def test_the_bare_issuer_google_also_writes_is_accepted(signer: OidcSigner, certs: KeyServer) -> None:
    claims = {**signer.claims(AUDIENCE, ACCOUNT), "iss": "accounts.google.com"}
    assert verify(tokens(certs), signer.sign(claims))["iss"] == "accounts.google.com"


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"aud": "https://other.example.com"}, Unauthenticated),
        ({"aud": AUDIENCE + "/"}, Unauthenticated),
        ({"iss": "https://evil.example.com"}, Unauthenticated),
        ({"exp": -120, "iat": -3720}, Unauthenticated),  # seconds from now, at run time
        ({"iat": 600, "exp": 4200}, Unauthenticated),
        ({"email": None}, Unauthenticated),
        ({"email": "other@demo.iam.gserviceaccount.com"}, Forbidden),
        ({"email_verified": False}, Forbidden),
        ({"email_verified": "true"}, Forbidden),
    ],
)
def test_claims_that_do_not_open_it(
    signer: OidcSigner, certs: KeyServer, change: dict[str, Any], refusal: type[Exception]
) -> None:
    now = int(time.time())
    change = {k: now + v if k in ("iat", "exp") else v for k, v in change.items()}
    claims = {k: v for k, v in {**signer.claims(AUDIENCE, ACCOUNT), **change}.items() if v is not None}
    with pytest.raises(refusal):
        verify(tokens(certs), signer.sign(claims))


def test_tokens_google_did_not_sign(signer: OidcSigner, certs: KeyServer) -> None:
    check = tokens(certs)
    claims = signer.claims(AUDIENCE, ACCOUNT)
    stranger = OidcSigner()  # a key of its own, never published
    forged = [
        None,
        "",
        "not-a-jwt",
        stranger.id_token(AUDIENCE, ACCOUNT),
        unsigned_token({"alg": "none", "kid": signer.current.kid}, claims),
        unsigned_token({"alg": "RS256", "kid": signer.current.kid}, claims, b"\x00" * 256),
        unsigned_token({"alg": "HS256", "kid": signer.current.kid}, claims, b"x" * 32),
    ]
    for token in forged:
        with pytest.raises(Unauthenticated):
            verify(check, token)
    # A stranger's key under the real kid: the signature does not verify.
    resigned = stranger.sign(claims).split(".")
    header = signer.id_token(AUDIENCE, ACCOUNT).split(".")[0]
    with pytest.raises(Unauthenticated):
        verify(check, ".".join([header, *resigned[1:]]))


def test_a_rotated_key_is_found_with_one_more_fetch(signer: OidcSigner, certs: KeyServer) -> None:
    check = tokens(certs)
    verify(check, signer.id_token(AUDIENCE, ACCOUNT))
    rotated = OidcSigner()
    rotated.keys = [*signer.keys, *rotated.keys]
    certs.publish("/oauth2/v1/certs", rotated.certs(), max_age=3600)
    check._keys._fetched_at = -1e9  # as if the last fetch were more than a minute ago
    assert verify(check, rotated.id_token(AUDIENCE, ACCOUNT))["email"] == ACCOUNT
    assert certs.count("/oauth2/v1/certs") == 2
