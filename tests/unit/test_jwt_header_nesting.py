"""callers/jwt_keys.py: a token header nested past the recursion limit is no token (401), not a crash (500)."""

from __future__ import annotations

from gemini_gateway.callers.jwt_keys import rs256_kid
from tests.support.firebase_tokens import b64url


def test_a_deeply_nested_header_has_no_kid() -> None:
    for header in (b"[" * 2000 + b"]" * 2000, b'{"kid":' + b"[" * 2000 + b"]" * 2000 + b"}"):
        assert rs256_kid(".".join([b64url(header), "e30", "c2ln"])) is None


def test_a_plain_header_still_has_its_kid() -> None:
    assert rs256_kid(".".join([b64url(b'{"alg":"RS256","kid":"k1"}'), "e30", "c2ln"])) == "k1"
