"""What `data "archive_file"` with `source_dir` + `excludes` puts in the zip.

Mirrors terraform-provider-archive >= 2.5 (archive/archiver.go, createWalkFunc):
``filepath.Walk`` over source_dir in lexical order; every path, the root "."
included, is made relative to source_dir and matched against each exclude
with ``doublestar.PathMatch``; a matching directory is skipped whole, a
matching file is left out; symlinked directories are followed.

Only the doublestar syntax used in infra/ is supported (``**`` as a whole path
component, ``*``, ``?``); anything else raises so the emulation cannot drift
silently from what the provider does.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

__all__ = ["archive_members", "build_zip", "compile_glob"]


def compile_glob(pattern: str) -> re.Pattern[str]:
    """doublestar.PathMatch semantics for the supported subset."""
    if any(c in pattern for c in "[]{}\\") or pattern.startswith("/"):
        raise ValueError(f"unsupported doublestar syntax in exclude {pattern!r}: extend archive_walk.py")
    parts = pattern.split("/")
    rx = ""
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            rx += ".*" if last else "(?:[^/]+/)*"
            continue
        for ch in part:
            rx += "[^/]*" if ch == "*" else "[^/]" if ch == "?" else re.escape(ch)
        if not last:
            rx += "/"
    return re.compile(rx + r"\Z")


def archive_members(source_dir: Path, excludes: list[str]) -> list[str]:
    """Archive member names (forward slashes), in the provider's walk order."""
    matchers = [compile_glob(e) for e in excludes if e]

    def excluded(rel: str) -> bool:
        return any(m.match(rel) for m in matchers)

    if excluded("."):
        # The provider skips the root itself and then refuses the empty archive.
        raise ValueError("an exclude matches '.', the source_dir itself: the archive would be empty")

    members: list[str] = []
    for dirpath, dirnames, filenames in os.walk(source_dir, topdown=True, followlinks=True):
        rel_dir = Path(dirpath).relative_to(source_dir).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(d for d in dirnames if not excluded(prefix + d))
        # filepath.Walk visits entries in lexical order, files and dirs interleaved;
        # the member SET is what matters here, so files first is fine.
        members.extend(prefix + f for f in sorted(filenames) if not excluded(prefix + f))
    if not members:
        raise ValueError("archive has not been created as it would be empty")
    return members


def build_zip(source_dir: Path, excludes: list[str], output: Path) -> list[str]:
    """Write the zip as archive_file would and return its member list."""
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in archive_members(source_dir, excludes):
            zf.write(source_dir / name, name)
    with zipfile.ZipFile(output) as zf:
        return zf.namelist()
