"""Headless Chromium (Debian's package, driven by Playwright) against the demo page and the function.

Everything on loopback: the emulators and the function from the integration
fixtures, the function started with ALLOWED_ORIGINS set to the page's origin,
a static server for demo/ (the allowed origin) and a second one on another
port (an origin the function does not allow). No browser download: Playwright
launches /usr/bin/chromium, which `.ci/run` installs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (  # noqa: F401 - fixtures shared with the integration tests
    CLIENT_KEYS,
    Function,
    Gateway,
    _clean_gateway,
    gateway,
    logs_dir,
    secret_manager,
    start_function,
)
from tests.support.processes import ROOT, Server, free_port, start_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - requirements-dev.txt pins it
    sync_playwright = None  # type: ignore[assignment]


def _static_server(name: str, directory: Path, logs: Path) -> Server:
    port = free_port()
    args = ["-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(directory)]
    return start_server(name, args, port, logs)


@pytest.fixture(scope="session")
def demo_site(logs_dir: Path) -> Iterator[Server]:  # noqa: F811
    """demo/ served on its own port: the page's origin, which the function allows."""
    server = _static_server("demo-site", ROOT / "demo", logs_dir)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def other_site(logs_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:  # noqa: F811
    """A second origin (another port) that the function does not allow."""
    directory = tmp_path_factory.mktemp("other-site")
    (directory / "index.html").write_text("<!doctype html><title>other origin</title><p>not allowed</p>\n")
    server = _static_server("other-site", directory, logs_dir)
    yield server
    server.stop()


def origin_of(server: Server) -> str:
    return f"http://127.0.0.1:{server.port}"


@pytest.fixture(scope="session")
def demo_fn(start_function: Any, demo_site: Server) -> Function:  # noqa: F811
    """The function, allowing exactly the demo page's origin."""
    function: Function = start_function(ALLOWED_ORIGINS=origin_of(demo_site))
    return function


@pytest.fixture(scope="package")  # closed after tests/browser: its event loop must not outlive them
def browser() -> Iterator[Browser]:
    if sync_playwright is None:
        pytest.skip("playwright is not installed (pip install -r requirements-dev.txt)")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: `apt-get install -y chromium` (.ci/run installs it in CI)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 900, "height": 720})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
