"""Offline `terraform validate` (infra/validate): infra/ validates, and a
misspelled argument or block in a copy of it does not.

The terraform tests are skipped where no terraform binary is installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA = REPO_ROOT / "infra"
RUN = INFRA / "validate" / "run.sh"
SCHEMAS = INFRA / "validate" / "schemas.json"

needs_terraform = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform not installed")


def validate(directory: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VALIDATE_PYTHON": sys.executable}
    return subprocess.run(
        ["bash", str(RUN), str(directory)], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_schemas_cover_every_type_used() -> None:
    """A new resource type in infra/*.tf needs `python3 infra/validate/extract_schemas.py`."""
    providers = json.loads(SCHEMAS.read_text())["provider_schemas"]
    known = {
        (kind, name)
        for schema in providers.values()
        for kind, section in (
            ("resource", "resource_schemas"),
            ("data", "data_source_schemas"),
            ("ephemeral", "ephemeral_resource_schemas"),
        )
        for name in schema.get(section, {})
    }
    used = {
        (kind, name)
        for tf in INFRA.glob("*.tf")
        for kind, name in re.findall(r'^(resource|data|ephemeral) "(\w+)"', tf.read_text(), re.M)
    }
    assert used <= known, f"not in schemas.json (rerun infra/validate/extract_schemas.py): {sorted(used - known)}"


@needs_terraform
def test_infra_validates() -> None:
    result = validate(INFRA)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success! The configuration is valid." in result.stdout


@needs_terraform
def test_misspelled_argument_and_block_fail(tmp_path: Path) -> None:
    for tf in INFRA.glob("*.tf"):
        shutil.copy(tf, tmp_path / tf.name)
    storage = tmp_path / "storage.tf"
    text = storage.read_text()
    mutated = re.sub(
        r"^(\s*)uniform_bucket_level_access(\s*=)", r"\1uniform_bucket_level_acess\2", text, count=1, flags=re.M
    )
    mutated = re.sub(r"^(\s*)versioning \{", r"\1versionin {", mutated, count=1, flags=re.M)
    assert mutated.count("uniform_bucket_level_acess") == 1 and mutated.count("versionin {") == 1, (
        "storage.tf changed: pick another argument and block to misspell"
    )
    storage.write_text(mutated)

    result = validate(tmp_path)

    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert 'An argument named "uniform_bucket_level_acess" is not expected here' in out, out
    assert 'Blocks of type "versionin" are not expected here' in out, out


@needs_terraform
def test_new_resource_types_are_checked_against_their_schemas(tmp_path: Path) -> None:
    """The schemas of monitoring.tf, jobs.tf and the generated key (random's ephemeral random_bytes) are real:
    a misspelled argument in each is refused."""
    for tf in INFRA.glob("*.tf"):
        shutil.copy(tf, tmp_path / tf.name)
    mutations = {
        "monitoring.tf": ("value_extractor = ", "value_extracter = "),
        "jobs.tf": ("max_doublings      = ", "max_doubling = "),
        "secrets.tf": ("  length = 32", "  lenght = 32"),
    }
    for name, (old, new) in mutations.items():
        path = tmp_path / name
        text = path.read_text()
        assert old in text, f"{name} changed: pick another argument to misspell"
        path.write_text(text.replace(old, new, 1))

    result = validate(tmp_path)

    assert result.returncode != 0
    out = " ".join((result.stdout + result.stderr).split())
    for argument in ("value_extracter", "max_doubling", "lenght"):
        assert f'An argument named "{argument}" is not expected here' in out, out
