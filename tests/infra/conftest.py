"""Shared fixtures for the offline checks of infra/ (parsed with python-hcl2).

python-hcl2 lives in the dev venv; checkov (which ships an older, conflicting
top-level ``hcl2`` module) lives in .venv-checkov and is run by infra/check.sh.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

hcl2 = pytest.importorskip("hcl2")

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA = REPO_ROOT / "infra"
TF_FILES = sorted(INFRA.glob("*.tf"))

_OPTIONS = hcl2.SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)


def parse_file(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        return hcl2.load(fh, serialization_options=_OPTIONS)


@dataclass(frozen=True)
class Block:
    """One labelled block: resource/data (type + name) or variable/output (name)."""

    kind: str
    type: str
    name: str
    body: dict[str, Any]
    file: str

    @property
    def address(self) -> str:
        return f"{self.type}.{self.name}" if self.type else self.name


class Config:
    """The whole infra/ module, parsed."""

    def __init__(self, parsed: dict[str, dict[str, Any]], texts: dict[str, str]) -> None:
        self.parsed = parsed
        self.texts = texts

    def blocks(self, kind: str) -> list[Block]:
        out = []
        for fname, doc in self.parsed.items():
            for entry in doc.get(kind, []):
                if kind in ("resource", "data"):
                    for rtype, named in entry.items():
                        for name, body in named.items():
                            out.append(Block(kind, rtype, name, body, fname))
                else:
                    for name, body in entry.items():
                        out.append(Block(kind, "", name, body, fname))
        return out

    def resources(self, rtype: str | None = None) -> list[Block]:
        return [b for b in self.blocks("resource") if rtype is None or b.type == rtype]

    def resource(self, rtype: str, name: str) -> Block:
        found = [b for b in self.resources(rtype) if b.name == name]
        assert found, f"missing resource {rtype}.{name}"
        return found[0]

    def data(self, dtype: str, name: str) -> Block:
        found = [b for b in self.blocks("data") if b.type == dtype and b.name == name]
        assert found, f"missing data {dtype}.{name}"
        return found[0]

    @property
    def variables(self) -> dict[str, dict[str, Any]]:
        return {b.name: b.body for b in self.blocks("variable")}

    @property
    def outputs(self) -> dict[str, dict[str, Any]]:
        return {b.name: b.body for b in self.blocks("output")}

    @property
    def locals(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for doc in self.parsed.values():
            for entry in doc.get("locals", []):
                out.update(entry)
        return out

    @property
    def text(self) -> str:
        return "\n".join(self.texts.values())


@pytest.fixture(scope="session")
def config() -> Config:
    assert TF_FILES, f"no .tf files in {INFRA}"
    return Config(
        {p.name: parse_file(p) for p in TF_FILES},
        {p.name: p.read_text(encoding="utf-8") for p in TF_FILES},
    )


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Yield (dotted path, value) for every key and leaf of a parsed body."""
    if isinstance(value, dict):
        for k, v in value.items():
            p = f"{path}.{k}" if path else str(k)
            yield p, v
            yield from walk(v, p)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk(v, f"{path}[{i}]")


def single(block_list: Any) -> dict[str, Any]:
    """A nested block (parsed as a one-element list) as its body."""
    assert isinstance(block_list, list) and len(block_list) == 1, block_list
    return block_list[0]


def hcl_regexes(condition: str) -> list[str]:
    """The regex("...") literals of a validation condition, HCL escapes decoded."""
    return [re.sub(r"\\(.)", r"\1", lit) for lit in re.findall(r'regex\("((?:[^"\\]|\\.)*)"', condition)]
