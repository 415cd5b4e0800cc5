"""docs/API.md keeps up with the code: routes, error types, environment variables.

Only facts read from the code are checked (openapi.json, the error classes,
the settings model), so the reference may describe more than the code does
yet, never less. Plus: the repository is self-contained, no file points
outside it.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from gemini_gateway.errors import error_types
from gemini_gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "API.md"
# Written in two pieces so this file does not contain what it looks for.
OUTSIDE = "../" + "shared"


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _openapi_operations() -> list[tuple[str, str]]:
    spec = json.loads((ROOT / "openapi.json").read_text(encoding="utf-8"))
    methods = {"get", "head", "post", "put", "patch", "delete", "options"}
    return [(path, method.upper()) for path, ops in spec["paths"].items() for method in ops if method in methods]


@pytest.mark.parametrize(("path", "method"), _openapi_operations())
def test_every_route_is_documented_with_its_method(doc: str, path: str, method: str) -> None:
    rows = [line for line in doc.splitlines() if line.startswith("|") and f"`{path}`" in line]
    assert rows, f"{path} (from openapi.json) is not in a table of docs/API.md"
    assert any(re.search(rf"\b{method}\b", row) for row in rows), f"{method} {path} is not in docs/API.md"


@pytest.mark.parametrize(("status", "type_"), error_types())
def test_every_error_type_is_documented_with_its_status(doc: str, status: int, type_: str) -> None:
    rows = [line for line in doc.splitlines() if line.startswith("|") and f"`{type_}`" in line]
    assert any(re.match(rf"^\|\s*{status}\s*\|", row) for row in rows), (
        f"docs/API.md has no table row '| {status} | `{type_}` |'"
    )


@pytest.mark.parametrize(
    "variable", sorted(field.alias for field in Settings.model_fields.values() if field.alias is not None)
)
def test_every_environment_variable_is_documented(doc: str, variable: str) -> None:
    assert f"`{variable}`" in doc, f"{variable} (gemini_gateway.settings.Settings) is not in docs/API.md"


def test_no_file_points_outside_the_repository() -> None:
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip("not a git checkout")
    names = [name for name in listed.decode("utf-8", "surrogateescape").split("\0") if name]
    offenders = []
    for name in names:
        if name.startswith("tests/node/"):
            continue
        file = ROOT / name
        if not file.is_file():  # deleted in the working tree, or a submodule
            continue
        if OUTSIDE.encode() in file.read_bytes():
            offenders.append(name)
    assert not offenders, f"these files refer to {OUTSIDE}, which a clone of the repository does not have: {offenders}"
