"""The demo chat page in headless Chromium: streamed text in steps, the usage line, readable errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.support.processes import Server

from .conftest import CLIENT_KEYS, Function, Gateway, origin_of

PROMPT = "tell me a story about the sea and the ships that sail on it"

# Every change of the answer's text, with the time it happened (set up before sending).
RECORD_STEPS = """() => {
  window.__steps = [];
  const output = document.getElementById("output");
  new MutationObserver(() => window.__steps.push([performance.now(), output.textContent]))
    .observe(output, {childList: true, characterData: true, subtree: true});
}"""


def open_demo(page: Page, demo_site: Server, fn: Function, key: str) -> None:
    page.goto(f"{origin_of(demo_site)}/?url={fn.url}")
    expect(page.locator("#url")).to_have_value(fn.url)
    page.fill("#key", key)


def test_answer_streams_into_the_page(
    page: Page, demo_site: Server, demo_fn: Function, gateway: Gateway, artifacts: Path
) -> None:
    gateway.config(stream_delay=0.25)  # the emulator pauses between chunks: steps a person (and a test) can see
    open_demo(page, demo_site, demo_fn, CLIENT_KEYS["web"])
    page.fill("#prompt", PROMPT)
    page.evaluate(RECORD_STEPS)
    page.click("#send")
    expect(page.locator("#meta")).to_have_text("streaming…")
    page.screenshot(path=str(artifacts / "demo-chat-streaming.png"), full_page=True)
    expect(page.locator("#meta")).to_contain_text("finish: stop", timeout=20_000)
    expected = f"Echo: {PROMPT}"
    expect(page.locator("#output")).to_have_text(expected)
    steps: list[list[Any]] = page.evaluate("window.__steps")
    texts = [text.replace("▍", "") for _, text in steps]
    partial = [t for t in dict.fromkeys(texts) if t and t != expected]
    assert len(partial) >= 2, f"expected the text to grow in several steps, saw {texts}"
    assert all(expected.startswith(t) for t in partial), partial
    first = next(at for at, text in steps if text.replace("▍", ""))
    last = max(at for at, text in steps if text.replace("▍", "") == expected)
    assert last - first >= 250, "the whole answer arrived at once: buffered?"
    meta = page.locator("#meta").inner_text()
    assert "tokens:" in meta and " in, " in meta and " total" in meta, meta
    expect(page.locator("#error")).to_be_hidden()
    page.screenshot(path=str(artifacts / "demo-chat.png"), full_page=True)


def test_bad_key_is_shown_readably(page: Page, demo_site: Server, demo_fn: Function, artifacts: Path) -> None:
    open_demo(page, demo_site, demo_fn, "not-a-real-key")
    page.fill("#prompt", "hello")
    page.click("#send")
    error = page.locator("#error")
    expect(error).to_be_visible()
    expect(error.locator(".kind")).to_have_text("401 unauthenticated")
    expect(error.locator(".message")).to_contain_text("credentials")
    expect(error.locator(".rid")).to_contain_text("request id ")
    expect(page.locator("#output")).to_have_text("")
    page.screenshot(path=str(artifacts / "demo-chat-error.png"), full_page=True)


def test_invalid_request_names_the_field(page: Page, demo_site: Server, demo_fn: Function) -> None:
    open_demo(page, demo_site, demo_fn, CLIENT_KEYS["web"])
    page.fill("#prompt", "x" * 10)
    page.route(  # the page sends a valid body; swap in an out-of-range field to see a 400 rendered
        f"{demo_fn.url}/",
        lambda route: route.continue_(post_data='{"prompt": "x", "stream": true, "temperature": 9}'),
    )
    page.click("#send")
    expect(page.locator("#error .kind")).to_have_text("400 invalid_request")
    expect(page.locator("#error .message")).to_contain_text("temperature")


def test_unreachable_function_is_explained(page: Page, demo_site: Server, other_site: Server) -> None:
    page.goto(f"{origin_of(demo_site)}/?url={origin_of(other_site)}")  # serves files, answers POST with 501
    page.fill("#prompt", "hello")
    page.click("#send")
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#error .kind")).to_have_text("Could not reach the function")
    expect(page.locator("#error .message")).to_contain_text("ALLOWED_ORIGINS")
