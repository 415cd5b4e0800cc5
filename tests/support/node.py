"""`node` with tests/node's locked packages, or a quick, clear skip or failure.

The Node SDK tests (tests/integration/test_gemini_native.py) need `node` and
the packages locked in tests/node/package-lock.json. `.ci/run` installs them
with `npm ci`; elsewhere the first test that needs them runs `npm ci` once.
npm's defaults wait minutes for a registry it cannot reach (a 5-minute fetch
timeout, retried), so the install here prefers npm's cache, gives up on a
silent registry after about 30 s, and is cut at INSTALL_DEADLINE. Then:

- no `node`: the tests are skipped, saying how to install it;
- packages missing and not installable: the tests fail at once, saying why
  and what command installs them, instead of hanging.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

import pytest

from tests.support.processes import ROOT

__all__ = [
    "INSTALL_DEADLINE",
    "NODE_DIR",
    "NPM_FETCH_FLAGS",
    "missing_packages",
    "node_with_packages",
    "sdk_check",
]

NODE_DIR = ROOT / "tests" / "node"
# In milliseconds. A registry that accepts connections and never answers costs about 30 s (npm
# fetches in about three waves), not npm's default 5 minutes x 3 tries per request. .ci/run allows
# one retry for the first install; this is the second chance, so it gives up sooner.
NPM_FETCH_FLAGS = ("--fetch-timeout=10000", "--fetch-retries=0")
NPM_CI = ("ci", "--prefer-offline", "--ignore-scripts", "--no-audit", "--no-fund", *NPM_FETCH_FLAGS)
INSTALL_DEADLINE = 60.0
INSTALL_HINT = f"npm ci --prefix tests/node {' '.join(NPM_CI[1:])}"


def missing_packages() -> list[str]:
    """The dependencies of tests/node/package.json not installed at their pinned version in node_modules."""
    wanted: dict[str, str] = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]
    missing = []
    for name, version in wanted.items():
        manifest = NODE_DIR / "node_modules" / name / "package.json"
        try:
            installed = json.loads(manifest.read_text()).get("version")
        except (OSError, ValueError):
            installed = None
        if installed != version:
            missing.append(f"{name}@{version}")
    return missing


def node_with_packages() -> str:
    """Path of `node` once tests/node's packages are installed; skips without node, fails fast without packages."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None:
        pytest.skip("node is not installed (CI installs it in .ci/run: apt-get install nodejs npm)")
    missing = missing_packages()
    if not missing:
        return node
    if npm is None:
        pytest.fail(
            f"tests/node/node_modules lacks {', '.join(missing)} and npm is not installed: "
            f"apt-get install npm, then {INSTALL_HINT}",
            pytrace=False,
        )
    try:
        done = subprocess.run(
            [npm, *NPM_CI, "--prefix", str(NODE_DIR)],
            capture_output=True,
            text=True,
            timeout=INSTALL_DEADLINE,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(
            f"npm ci did not install tests/node's packages ({', '.join(missing)}) within {INSTALL_DEADLINE:g} s: "
            f"is the npm registry reachable (npm config get registry)? Install them with: {INSTALL_HINT}",
            pytrace=False,
        )
    still_missing = missing_packages()
    if done.returncode != 0 or still_missing:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        pytest.fail(
            f"npm ci could not install tests/node's packages ({', '.join(still_missing or missing)}); "
            f"is the npm registry reachable (npm config get registry)? Install them with: {INSTALL_HINT}\n"
            f"npm said (exit {done.returncode}):\n{tail}",
            pytrace=False,
        )
    return node


def sdk_check(node: str, base_url: str, key: str, model: str, case: str, arg: str | None = None) -> dict[str, Any]:
    """Run one case of tests/node/sdk_check.mjs against `base_url`; what the SDK handed back, as a dict."""
    env = {**os.environ, "BASE_URL": base_url, "API_KEY": key, "MODEL": model}
    done = subprocess.run(
        [node, str(NODE_DIR / "sdk_check.mjs"), case, arg or f"{case} from node"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
