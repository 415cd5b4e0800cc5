"""CORS in a real browser (docs/API.md, "CORS"): the allowed origin can call the function, another origin cannot."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import Page

from tests.support.processes import Server

from .conftest import CLIENT_KEYS, Function, origin_of

# A credentialed, JSON POST: not a "simple" request, so the browser sends a preflight first.
CALL = """async ([url, key]) => {
  try {
    const r = await fetch(url + "/", {
      method: "POST",
      headers: {"Authorization": "Bearer " + key, "Content-Type": "application/json"},
      body: JSON.stringify({prompt: "hello from the browser"}),
    });
    return {ok: true, status: r.status, body: await r.json(), requestId: r.headers.get("X-Request-Id")};
  } catch (err) {
    return {ok: false, name: err.name, message: err.message};
  }
}"""


def call_from(page: Page, site: Server, fn: Function) -> dict[str, Any]:
    page.goto(origin_of(site) + "/")
    result: dict[str, Any] = page.evaluate(CALL, [fn.url, CLIENT_KEYS["web"]])
    return result


def test_allowed_origin_fetch_succeeds(page: Page, demo_site: Server, demo_fn: Function) -> None:
    result = call_from(page, demo_site, demo_fn)
    assert result["ok"], result
    assert result["status"] == 200 and result["body"]["text"] == "Echo: hello from the browser"
    assert result["requestId"], "X-Request-Id must be exposed to the page"


def test_disallowed_origin_fetch_is_blocked(page: Page, other_site: Server, demo_fn: Function) -> None:
    result = call_from(page, other_site, demo_fn)
    assert not result["ok"], f"a fetch from a disallowed origin must fail in the browser: {result}"
    assert result["name"] == "TypeError", result
    simple: dict[str, Any] = page.evaluate(  # no preflight needed, but the answer is still withheld
        "async (url) => { try { await fetch(url + '/healthz'); return 'read'; } catch (e) { return e.name; } }",
        demo_fn.url,
    )
    assert simple == "TypeError"


def test_preflight_allows_authorization_and_json(page: Page, demo_site: Server, demo_fn: Function) -> None:
    result = call_from(page, demo_site, demo_fn)
    assert result["ok"] and result["status"] == 200, result
    origin = origin_of(demo_site)
    answer = httpx.options(
        demo_fn.url + "/",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == origin
    allowed = {h.strip().lower() for h in answer.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert "POST" in answer.headers["access-control-allow-methods"]
    refused = httpx.options(
        demo_fn.url + "/",
        headers={"Origin": "http://127.0.0.1:1", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in refused.headers
