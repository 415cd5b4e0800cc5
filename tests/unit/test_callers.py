"""gemini_gateway.callers: client keys, presented credentials, the caller gate (docs/API.md §6)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping

import httpx
import pytest

from gemini_gateway.callers import ApiKeyCheck, Caller, CallerGate, parse_client_keys, presented_keys
from gemini_gateway.callers.gate import Layer
from gemini_gateway.errors import Unauthenticated, Unavailable
from gemini_gateway.secret_store import SecretRef, SecretStore
from tests.support.callers import verified

KEYS = "ios:test-client-key-ios,web:test-client-key-web"


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


async def no_fetch(name: str) -> str:
    raise AssertionError("a literal SecretRef must never fetch")


def key_check(text: str = KEYS) -> ApiKeyCheck:
    return ApiKeyCheck(SecretStore(no_fetch, 300), SecretRef("client API keys", literal=text))


def headers(**values: str) -> httpx.Headers:
    return httpx.Headers({k.replace("_", "-"): v for k, v in values.items()})


# --- parse_client_keys --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "ios:test-client-key-ios,web:test-client-key-web",
        "ios:test-client-key-ios\nweb:test-client-key-web\n",
        "  ios : test-client-key-ios ,\n\n web:test-client-key-web  ",
        "# client keys\nios:test-client-key-ios\n  # web app\nweb:test-client-key-web",
        "ios:test-client-key-ios\r\nweb:test-client-key-web\r\n",
    ],
)
def test_parse_formats(text: str) -> None:
    assert parse_client_keys(text) == {"ios": digest("test-client-key-ios"), "web": digest("test-client-key-web")}


def test_key_may_contain_colons() -> None:
    assert parse_client_keys("svc:test:key:1") == {"svc": digest("test:key:1")}


def test_only_digests_are_kept() -> None:
    parsed = parse_client_keys(KEYS)
    assert b"test-client-key-ios" not in b"".join(parsed.values())


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "# only a comment",
        ",,\n,",
        "nocolon",
        "ios:",
        ":test-client-key-1",
        " : ",
        "ios:test-client-key-1,bad",
    ],
)
def test_parse_refuses(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_client_keys(text)
    assert "test-client-key" not in str(info.value)


# --- presented_keys------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "key"),
    [
        ({"Authorization": "Bearer test-client-key-ios"}, "test-client-key-ios"),
        ({"Authorization": "bearer   test-client-key-ios  "}, "test-client-key-ios"),
        ({"authorization": "BEARER test-client-key-ios"}, "test-client-key-ios"),
        ({"X-API-Key": "test-client-key-web"}, "test-client-key-web"),
        ({"x-api-key": "  test-client-key-web "}, "test-client-key-web"),
        ({"Authorization": "Basic dXNlcjpwYXNz", "X-API-Key": "test-client-key-web"}, "test-client-key-web"),
        ({"Authorization": "Bearer", "X-API-Key": "test-client-key-web"}, "test-client-key-web"),
        ({"Authorization": "Bearer a b"}, None),
        ({"Authorization": "Bearer "}, None),
        ({"X-API-Key": "   "}, None),
        ({}, None),
    ],
)
def test_presented_keys(given: dict[str, str], key: str | None) -> None:
    assert presented_keys(httpx.Headers(given)) == ([key] if key else [])


def test_both_credentials_are_candidates() -> None:
    """A Bearer header may carry another check's token while the key is in X-API-Key."""
    both = httpx.Headers({"Authorization": "Bearer test-client-key-ios", "X-API-Key": "test-client-key-web"})
    assert presented_keys(both) == ["test-client-key-web", "test-client-key-ios"]


# --- ApiKeyCheck --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "caller"),
    [
        (headers(authorization="Bearer test-client-key-ios"), Caller("ios")),
        (headers(x_api_key="test-client-key-web"), Caller("web")),
        (headers(authorization="Bearer test-client-key-nope"), None),
        (headers(x_api_key="test-client-key-io"), None),
        (headers(x_api_key="ios"), None),
        (headers(), None),
    ],
)
def test_api_key_check(given: Mapping[str, str], caller: Caller | None) -> None:
    assert asyncio.run(verified(key_check(), given, b"{}")) == caller


def test_api_key_check_malformed_keys_are_unavailable() -> None:
    """A malformed CLIENT_API_KEYS value is a configuration problem: 503, not a 500."""
    with pytest.raises(Unavailable):
        asyncio.run(key_check("not-an-entry").verify(headers(x_api_key="x"), b""))


def test_api_key_check_rereads_rotated_keys() -> None:
    values = ["ios:test-client-key-1", "ios:test-client-key-2"]

    async def fetch(name: str) -> str:
        return values.pop(0)

    clock = [0.0]
    store = SecretStore(fetch, 60, lambda: clock[0])
    check = ApiKeyCheck(store, SecretRef("client API keys", name="projects/p/secrets/clients/versions/latest"))

    async def scenario() -> tuple[Caller | None, Caller | None, Caller | None]:
        before = await verified(check, headers(x_api_key="test-client-key-1"))
        clock[0] = 61
        old = await verified(check, headers(x_api_key="test-client-key-1"))
        new = await verified(check, headers(x_api_key="test-client-key-2"))
        return before, old, new

    assert asyncio.run(scenario()) == (Caller("ios"), None, Caller("ios"))


def test_api_key_check_unavailable_secret() -> None:
    async def fail(name: str) -> str:
        raise RuntimeError("down")

    check = ApiKeyCheck(SecretStore(fail, 60), SecretRef("client API keys", name="projects/p/secrets/c/versions/1"))
    with pytest.raises(Unavailable):
        asyncio.run(check.verify(headers(x_api_key="test-client-key-1"), b""))


# --- CallerGate ---------------------------------------------------------------------------------------------


class FixedCheck:
    """A header check that admits as `name` (a layer of `kind`) or refuses with 401."""

    needs_body = False

    def __init__(self, kind: str, name: str | None, header: str) -> None:
        self.kind, self.name, self.header = kind, name, header
        self.calls = 0

    def presented(self, headers: Mapping[str, str]) -> bool:
        return self.header in headers

    async def verify(self, headers: Mapping[str, str], body: bytes) -> Layer:
        self.calls += 1
        if self.name is None:
            raise Unauthenticated()
        return Layer(self.kind, self.name)


def test_anonymous_when_allowed_and_no_checks() -> None:
    assert asyncio.run(CallerGate([], allow_unauthenticated=True).identify(headers(), b"")) == Caller("anonymous")


def test_no_checks_not_allowed_is_unauthenticated() -> None:
    with pytest.raises(Unauthenticated):
        asyncio.run(CallerGate([], allow_unauthenticated=False).identify(headers(), b""))


@pytest.mark.parametrize("allow", [True, False])
def test_checks_configured_means_no_anonymous(allow: bool) -> None:
    gate = CallerGate([key_check()], allow_unauthenticated=allow)
    with pytest.raises(Unauthenticated) as info:
        asyncio.run(gate.identify(headers(), b""))
    assert info.value.status == 401
    assert info.value.headers.get("WWW-Authenticate") == "Bearer"


def test_wrong_key_is_unauthenticated() -> None:
    gate = CallerGate([key_check()], allow_unauthenticated=False)
    with pytest.raises(Unauthenticated) as info:
        asyncio.run(gate.identify(headers(authorization="Bearer test-client-key-wrong"), b""))
    assert "test-client-key" not in info.value.message


def test_right_key_passes() -> None:
    gate = CallerGate([key_check()], allow_unauthenticated=False)
    caller = asyncio.run(gate.identify(headers(x_api_key="test-client-key-web"), b""))
    assert caller.identity == "web" and caller.log_fields() == {"layers": ["api_key"], "key": "web"}


def test_two_different_client_keys_are_refused() -> None:
    both = headers(authorization="Bearer test-client-key-ios", x_api_key="test-client-key-web")
    with pytest.raises(Unauthenticated):
        asyncio.run(CallerGate([key_check()], allow_unauthenticated=False).identify(both, b""))


def test_every_presented_credential_is_checked_and_the_most_specific_names_the_caller() -> None:
    app = FixedCheck("app_check", "app:ios", "x-app")
    key = FixedCheck("api_key", "ios", "x-key")
    user = FixedCheck("user", "uid:u1", "x-user")
    bad = FixedCheck("user", None, "x-bad-user")
    gate = CallerGate([app, key, user, bad], allow_unauthenticated=False)

    async def scenario() -> None:
        caller = await gate.identify(headers(x_app="1", x_key="1", x_user="1"), b"")
        assert caller.identity == "uid:u1"
        assert caller.log_fields() == {"layers": ["user", "api_key", "app_check"], "key": "ios", "app_id": "ios"}
        assert (await gate.identify(headers(x_app="1", x_key="1"), b"")).identity == "ios"
        assert (await gate.identify(headers(x_app="1"), b"")).identity == "app:ios"
        with pytest.raises(Unauthenticated):  # one bad credential refuses, whatever else is good
            await gate.identify(headers(x_app="1", x_key="1", x_user="1", x_bad_user="1"), b"")
        with pytest.raises(Unauthenticated):  # nothing presented
            await gate.identify(headers(), b"")

    asyncio.run(scenario())
    assert (app.calls, key.calls, user.calls, bad.calls) == (4, 3, 2, 1)
