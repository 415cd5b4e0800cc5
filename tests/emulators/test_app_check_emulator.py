"""The App Check stand-in verifies and consumes tokens like Firebase's verifyAppCheckToken.

Why: replay protection (docs/API.md §6) is tested against this stand-in:
first use, replay, a refused token and an unreachable Firebase must look on
the wire as they do from Google, and the stand-in must accept exactly the
tokens tests/support/firebase_tokens.py signs.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import pytest

from tests.emulators.conftest import APP_CHECK_KID, APP_CHECK_NUMBER, APP_CHECK_PROJECT_ID, AppCheck
from tests.support.firebase_tokens import app_check_claims, signing_key, unsigned_token

__all__: list[str] = []

APP_ID = "1:123456789012:android:0123456789abcdef"


def _token(**changes: Any) -> str:
    return signing_key(APP_CHECK_KID).sign(app_check_claims(APP_CHECK_NUMBER, APP_ID, **changes))


def _error(response: httpx.Response) -> tuple[int, str]:
    error = response.json()["error"]
    assert error["code"] == response.status_code and isinstance(error["message"], str)
    return response.status_code, str(error["status"])


def test_ready_line(app_check: AppCheck) -> None:
    assert f"App Check emulator listening on {app_check.server.url}" in app_check.server.output()


def test_first_use_then_replay(app_check: AppCheck) -> None:
    token = _token()
    first = app_check.verify(token)
    assert (first.status_code, first.json()) == (200, {})  # alreadyConsumed is omitted the first time
    again = app_check.verify(token)
    assert (again.status_code, again.json()) == (200, {"alreadyConsumed": True})
    by_id = app_check.verify(token, project=APP_CHECK_PROJECT_ID)  # the path may name the project by id
    assert by_id.json() == {"alreadyConsumed": True}
    other = app_check.verify(_token(jti="another"))
    assert other.json() == {}
    stats = app_check.stats()
    assert stats["calls"] == 4 and stats["outcomes"] == {"ok": 2, "replayed": 2} and stats["consumed"] == 2
    assert stats["with_authorization"] == 0

    app_check.reset()
    assert app_check.verify(token).json() == {}


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": int(time.time()) - 10},
        {"iss": "https://firebaseappcheck.googleapis.com/999999999999"},
        {"iss": "https://securetoken.google.com/123456789012"},
        {"aud": ["projects/999999999999"]},
        {"sub": None},
    ],
    ids=["expired", "other-project-issuer", "not-app-check", "other-audience", "no-subject"],
)
def test_invalid_tokens_are_403(app_check: AppCheck, changes: dict[str, Any]) -> None:
    assert _error(app_check.verify(_token(**changes))) == (403, "PERMISSION_DENIED")
    assert app_check.stats()["consumed"] == 0


def test_unknown_keys_and_algorithms_are_403(app_check: AppCheck) -> None:
    claims = app_check_claims(APP_CHECK_NUMBER, APP_ID)
    foreign = signing_key("not-app-check").sign(claims, kid=APP_CHECK_KID)
    assert _error(app_check.verify(foreign)) == (403, "PERMISSION_DENIED")
    assert _error(app_check.verify(signing_key("not-app-check").sign(claims))) == (403, "PERMISSION_DENIED")
    unsigned = unsigned_token({"alg": "none", "typ": "JWT", "kid": APP_CHECK_KID}, claims)
    assert _error(app_check.verify(unsigned)) == (403, "PERMISSION_DENIED")
    hs256 = jwt.encode(claims, "a-shared-test-secret-of-32-bytes!", algorithm="HS256", headers={"kid": APP_CHECK_KID})
    assert _error(app_check.verify(hs256)) == (403, "PERMISSION_DENIED")


def test_malformed_requests_are_400_and_unknown_projects_403(app_check: AppCheck) -> None:
    assert _error(app_check.verify("not-a-jwt")) == (400, "INVALID_ARGUMENT")
    assert _error(app_check.verify("")) == (400, "INVALID_ARGUMENT")
    assert _error(app_check.verify(12)) == (400, "INVALID_ARGUMENT")
    url = f"{app_check.base}/projects/{APP_CHECK_NUMBER}:verifyAppCheckToken"
    assert _error(app_check.client.post(url, content=b"{not json")) == (400, "INVALID_ARGUMENT")
    assert _error(app_check.client.post(url, content=b"[]")) == (400, "INVALID_ARGUMENT")
    assert _error(app_check.verify(_token(), project="999999999999")) == (403, "PERMISSION_DENIED")
    assert app_check.client.post(f"{app_check.server.url}/v1beta/elsewhere").status_code == 404
    outcomes = app_check.stats()["outcomes"]
    assert outcomes == {"invalid": 5, "forbidden": 1}


def test_own_tokens_and_jwks(app_check: AppCheck) -> None:
    """Without the test helpers (make run, benchmarks): the stand-in mints tokens its JWKS verifies."""
    minted = app_check.client.post(f"{app_check.server.url}/__emulator/token", json={"app_id": APP_ID})
    token = minted.json()["token"]
    assert app_check.verify(token).json() == {}
    jwks = app_check.client.get(f"{app_check.server.url}/v1/jwks").json()
    assert APP_CHECK_KID in {k["kid"] for k in jwks["keys"]} and len(jwks["keys"]) == 2
    key = jwt.PyJWKClient(f"{app_check.server.url}/v1/jwks").get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=f"projects/{APP_CHECK_NUMBER}")
    assert claims["sub"] == APP_ID and claims["iss"].endswith(APP_CHECK_NUMBER)

    new_key = signing_key("added-at-run-time")
    added = app_check.client.post(f"{app_check.server.url}/__emulator/jwks", json={"keys": [new_key.jwk()]})
    assert "added-at-run-time" in added.json()["kids"]
    assert app_check.verify(new_key.sign(app_check_claims(APP_CHECK_NUMBER, APP_ID))).json() == {}


def test_unavailable_slow_and_dropped(app_check: AppCheck) -> None:
    """What the function must turn into a retryable 503: Google's 503, no answer in time, a cut connection."""
    token = _token()
    app_check.config(status=503)
    assert _error(app_check.verify(token)) == (503, "UNAVAILABLE")
    app_check.config(status=None, drop=True)
    with pytest.raises(httpx.RemoteProtocolError):
        app_check.verify(token)
    app_check.config(drop=False)
    app_check.faults({"status": 503}, {"status": 429})
    assert _error(app_check.verify(token)) == (503, "UNAVAILABLE")
    assert _error(app_check.verify(token)) == (429, "RESOURCE_EXHAUSTED")
    assert app_check.stats() | {"outcomes": None} == {
        "calls": 4,
        "outcomes": None,
        "with_authorization": 0,
        "consumed": 0,  # none of those consumed the token
    }
    assert app_check.verify(token).json() == {}
    assert app_check.stats()["outcomes"] == {"fault": 4, "ok": 1}

    # a caller that gives up waiting does not stop Firebase: the token is consumed all the same,
    # so a retry must come with a fresh limited-use token
    slow = _token(jti="slow")
    app_check.config(delay=0.4)
    with pytest.raises(httpx.ReadTimeout):
        app_check.verify(slow, timeout=0.1)
    time.sleep(0.5)
    app_check.config(delay=0)
    assert app_check.verify(slow).json() == {"alreadyConsumed": True}


def test_authorization_headers_are_counted(app_check: AppCheck) -> None:
    """The function must send no Google credentials to a loopback stand-in; tests check it with this count."""
    app_check.verify(_token(), headers={"Authorization": "Bearer fake-test-token"})
    app_check.verify(_token(jti="x"))
    assert app_check.stats()["with_authorization"] == 1
    requests = app_check.client.get(f"{app_check.server.url}/__emulator/requests").json()["requests"]
    assert [r["authorization"] for r in requests] == [True, False]
    assert requests[0]["app_id"] == APP_ID and requests[0]["project"] == APP_CHECK_NUMBER
