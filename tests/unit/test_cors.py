"""gemini_gateway.cors: exact-match allow-list, never a reflected origin (docs/API.md, "CORS")."""

from __future__ import annotations

import pytest

from gemini_gateway.cors import cors_headers, preflight_headers

APP = "https://app.example"
ALLOWED = (APP, "http://localhost:3000")
METHODS = "GET, POST, OPTIONS"


def test_no_allow_list_no_cors() -> None:
    assert cors_headers(APP, ()) == {}
    assert preflight_headers(APP, (), METHODS) == {}


@pytest.mark.parametrize("origin", [APP, "http://localhost:3000"])
def test_exact_match(origin: str) -> None:
    headers = cors_headers(origin, ALLOWED)
    assert headers["Access-Control-Allow-Origin"] == origin
    assert headers["Vary"] == "Origin"
    assert "X-Request-Id" in headers["Access-Control-Expose-Headers"]
    assert "Retry-After" in headers["Access-Control-Expose-Headers"]


@pytest.mark.parametrize(
    "origin",
    [
        None,
        "",
        "null",
        "https://evil.example",
        "https://app.example.evil.example",
        "https://evil.app.example",
        "http://app.example",
        "https://app.example:443",
        "https://APP.example",
        "https://app.example/",
        " https://app.example",
        "*",
    ],
)
def test_disallowed_origin_gets_no_allow_origin(origin: str | None) -> None:
    headers = cors_headers(origin, ALLOWED)
    assert "Access-Control-Allow-Origin" not in headers
    assert headers == {"Vary": "Origin"}
    preflight = preflight_headers(origin, ALLOWED, METHODS)
    assert preflight == {"Vary": "Origin"}


@pytest.mark.parametrize("origin", [None, APP, "https://anything.example"])
def test_star(origin: str | None) -> None:
    headers = cors_headers(origin, ("*",))
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "Vary" not in headers


def test_star_among_others_is_star() -> None:
    assert cors_headers("https://other.example", (APP, "*"))["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("allowed", [ALLOWED, ("*",)])
@pytest.mark.parametrize("origin", ["https://evil.example", "https://x.example"])
def test_never_reflects_an_arbitrary_origin(allowed: tuple[str, ...], origin: str) -> None:
    for headers in (cors_headers(origin, allowed), preflight_headers(origin, allowed, METHODS)):
        assert origin not in headers.values()


@pytest.mark.parametrize(("origin", "allowed", "expected"), [(APP, ALLOWED, APP), (APP, ("*",), "*")])
def test_preflight(origin: str, allowed: tuple[str, ...], expected: str) -> None:
    headers = preflight_headers(origin, allowed, METHODS)
    assert headers["Access-Control-Allow-Origin"] == expected
    assert headers["Access-Control-Allow-Methods"] == METHODS
    assert int(headers["Access-Control-Max-Age"]) > 0
    assert "Access-Control-Expose-Headers" not in headers
    requested = {h.strip().lower() for h in headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "x-firebase-appcheck", "x-request-id", "x-api-key"} <= requested


def test_results_are_fresh_dicts() -> None:
    first = cors_headers(APP, ALLOWED)
    first["Access-Control-Allow-Origin"] = "mutated"
    assert cors_headers(APP, ALLOWED)["Access-Control-Allow-Origin"] == APP
