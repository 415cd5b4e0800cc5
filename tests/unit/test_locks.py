"""The compiled locks (requirements*.txt) are current with their hand-written inputs (requirements*.in).

Offline: no resolver runs here. What `make lock` would change shows up as a
top-level requirement the lock does not satisfy (added or re-pinned in an
.in, not recompiled) or a package the lock keeps only for an .in that no
longer asks for it. Every pin is hashed, and the sets agree with each other:
what the tests import is what deploys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
# lock -> its input; the order is the compile order of dev/lock.sh (each constrained by the one before)
LOCKS = {
    "requirements.txt": "requirements.in",
    "requirements-run.txt": "requirements-run.in",
    "requirements-dev.txt": "requirements-dev.in",
    "requirements-infra.txt": "requirements-infra.in",
    "dev/uv.txt": "dev/uv.in",
}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


@dataclass
class Pinned:
    version: str
    hashes: int = 0
    via: list[str] = field(default_factory=list)


def inputs(path: Path) -> dict[str, Requirement]:
    """The requirements an .in asks for, following its `-r` includes."""
    found: dict[str, Requirement] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            found.update(inputs(path.parent / line[3:].strip()))
            continue
        requirement = Requirement(line)
        found[canonicalize_name(requirement.name)] = requirement
    return found


def pins(path: Path) -> dict[str, Pinned]:
    """What a compiled lock pins: version, how many hashes, and uv's `# via` annotations."""
    found: dict[str, Pinned] = {}
    current: Pinned | None = None
    for line in path.read_text().splitlines():
        match = _PIN.match(line)
        if match:
            current = found[canonicalize_name(match.group(1))] = Pinned(match.group(2))
        elif current is not None and line.strip().startswith("--hash=sha256:"):
            current.hashes += 1
        elif current is not None and line.strip().startswith("#"):
            via = line.strip().lstrip("#").strip().removeprefix("via").strip()
            if via:
                current.via.append(via)
    return found


@pytest.mark.parametrize(("lock", "source"), LOCKS.items())
def test_every_input_is_pinned_as_asked(lock, source):
    locked = pins(ROOT / lock)
    stale = [
        f"{name}: the .in asks {req.specifier or 'any version'}, the lock has {locked[name].version if name in locked else 'nothing'}"
        for name, req in inputs(ROOT / source).items()
        if name not in locked or not req.specifier.contains(locked[name].version, prereleases=True)
    ]
    assert not stale, f"{lock} is stale against {source}; run `make lock`:\n" + "\n".join(stale)


@pytest.mark.parametrize(("lock", "source"), LOCKS.items())
def test_nothing_is_kept_for_a_removed_input(lock, source):
    asked = inputs(ROOT / source)
    locked = pins(ROOT / lock)
    orphans = []
    for name, pinned in locked.items():
        parents = [v for v in pinned.via if not v.startswith(("-r ", "-c "))]
        if name not in asked and not any(canonicalize_name(p) in locked for p in parents):
            orphans.append(name)
    assert not orphans, f"{lock} keeps {orphans} that nothing in {source} needs any more; run `make lock`"


@pytest.mark.parametrize("lock", LOCKS)
def test_every_pin_is_hashed(lock):
    text = (ROOT / lock).read_text()
    assert "make lock" in text.splitlines()[1], "compiled by dev/lock.sh"
    unhashed = [name for name, pinned in pins(ROOT / lock).items() if pinned.hashes == 0]
    assert not unhashed, f"{lock}: no hash for {unhashed}"


@pytest.mark.parametrize(
    ("narrow", "wide"), [("requirements.txt", "requirements-run.txt"), ("requirements-run.txt", "requirements-dev.txt")]
)
def test_the_sets_agree(narrow, wide):
    """Every package of the deployed set is in the run set at the same version, and the run set's in the dev set."""
    inner, outer = pins(ROOT / narrow), pins(ROOT / wide)
    differ = {
        name: (p.version, outer[name].version if name in outer else None)
        for name, p in inner.items()
        if name not in outer or outer[name].version != p.version
    }
    assert not differ, f"{wide} disagrees with {narrow}: {differ}"


def test_the_inputs_say_why():
    """The .in files are the hand-written ones: short, commented, and no hash or transitive pin in them."""
    for source in LOCKS.values():
        text = (ROOT / source).read_text()
        assert "--hash" not in text, source
        assert text.lstrip().startswith("#"), f"{source} starts with what it is for"
