"""The repository stands on its own: nothing in it points at material a fork does not have."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Written in pieces so that this file does not match itself.
_OUTSIDE = re.compile(
    "|".join(
        [
            r"\.\./" + "shared",
            "/work/" + "shared",
            "shared/" + "spec",
            "CONTRACT" + r"\.md",
            "contract " + r"section \d",
            "the " + "contract",
            "farm-" + "studio",
            "farm-" + "bench",
        ]
    ),
    re.I,
)


def _tracked_text_files() -> list[Path]:
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    paths = [ROOT / name for name in listed.decode().split("\0") if name]
    return [p for p in paths if p.is_file() and b"\0" not in p.read_bytes()[:4096]]


def test_nothing_points_outside_the_repository() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}"
        for path in _tracked_text_files()
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if _OUTSIDE.search(line)
    ]
    assert not found, "references to material outside the repository:\n" + "\n".join(found)
