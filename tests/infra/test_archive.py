"""The source zip holds exactly the deployable files: main.py,
requirements.txt and the gemini_gateway package."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra.archive_walk import archive_members, build_zip, compile_glob
from tests.infra.conftest import REPO_ROOT

PACKAGE = "gemini_gateway"

# A repository as it looks on a developer's machine: the deployable files plus
# everything that must never be deployed (venvs, caches, secrets, tests, infra).
DEPLOYABLE = {
    "main.py",
    "requirements.txt",
    f"{PACKAGE}/__init__.py",
    f"{PACKAGE}/app.py",
    f"{PACKAGE}/callers/__init__.py",
    f"{PACKAGE}/callers/firebase.py",
}
NOT_DEPLOYABLE = {
    ".env",
    ".env.local",
    ".gitignore",
    ".DS_Store",
    ".git/config",
    ".git/objects/ab/cdef",
    ".ci/run",
    ".github/workflows/ci.yml",
    ".venv/lib/python3.11/site-packages/httpx/__init__.py",
    ".venv-checkov/bin/checkov",
    ".pytest_cache/v/cache/nodeids",
    ".mypy_cache/3.11/main.data.json",
    ".ruff_cache/content",
    ".hypothesis/examples/x",
    ".run/server.pid",
    "README.md",
    "CHANGELOG.md",
    "LICENSE",
    "Makefile",
    "pyproject.toml",
    "conftest.py",
    "requirements-dev.txt",
    "requirements-infra.txt",
    "main.pyc",
    "__pycache__/main.cpython-313.pyc",
    f"{PACKAGE}/__pycache__/app.cpython-313.pyc",
    f"{PACKAGE}/callers/__pycache__/firebase.cpython-313.pyc",
    f"{PACKAGE}/stale.pyc",
    f"{PACKAGE}/.DS_Store",
    f"{PACKAGE}.egg-info/PKG-INFO",
    "tests/__init__.py",
    "tests/infra/test_archive.py",
    "bench/run.py",
    "bench/results/out.json",
    "emulators/gateway.py",
    "dev/serve.sh",
    "docs/index.md",
    "infra/function.tf",
    "infra/terraform.tfvars",
    "infra/terraform.tfstate",
    "infra/.build/function-source.zip",
    "infra/.terraform/providers/x",
    "test-artifacts/log.txt",
    "build/lib/main.py",
    "dist/pkg.whl",
}


def _excludes(config) -> list[str]:
    return config.data("archive_file", "source").body["excludes"]


def _make_tree(root: Path, files: set[str]) -> None:
    for rel in files:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"# {rel}\n", encoding="utf-8")


def test_archive_source_is_the_repo_root(config):
    body = config.data("archive_file", "source").body
    assert body["type"] == "zip"
    assert body["source_dir"] == "${path.module}/.."
    # The zip is written under infra/, which is excluded: it never zips itself.
    assert body["output_path"].startswith("${path.module}/.build/")


def test_excludes_never_match_the_root(config):
    # archive_file matches "." too: an exclude like "**/.*" would skip everything.
    for pattern in _excludes(config):
        assert not compile_glob(pattern).match("."), pattern


def test_zip_of_a_full_tree_holds_exactly_the_deployable_files(config, tmp_path):
    src = tmp_path / "repo"
    _make_tree(src, DEPLOYABLE | NOT_DEPLOYABLE)
    names = build_zip(src, _excludes(config), tmp_path / "function-source.zip")
    assert sorted(names) == sorted(DEPLOYABLE)


def test_zip_of_the_real_repository(config, tmp_path):
    """The working tree as it is now (files that do not exist yet are skipped)."""
    names = set(build_zip(REPO_ROOT, _excludes(config), tmp_path / "function-source.zip"))
    expected = {f for f in ("main.py", "requirements.txt") if (REPO_ROOT / f).is_file()}
    pkg = REPO_ROOT / PACKAGE
    if pkg.is_dir():
        expected |= {
            p.relative_to(REPO_ROOT).as_posix()
            for p in pkg.rglob("*.py")
            if "__pycache__" not in p.parts and not any(part.startswith(".") for part in p.parts)
        }
    # the deployment's own prompt templates (PROMPTS_DIR, default prompts/) go with the function
    expected |= {p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "prompts").glob("*.prompt")}
    unexpected = sorted(n for n in names - expected if not n.endswith("/py.typed"))
    assert not unexpected, (
        f"these files would be deployed: {unexpected}; add them to the excludes of "
        'data "archive_file" "source" in infra/storage.tf (or move them out of the repo root)'
    )
    assert expected <= names


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("**/.?*", ".git", True),
        ("**/.?*", "gemini_gateway/.DS_Store", True),
        ("**/.?*", ".", False),
        ("**/__pycache__", "__pycache__", True),
        ("**/__pycache__", "a/b/__pycache__", True),
        ("**/*.pyc", "a/b.pyc", True),
        ("*.md", "README.md", True),
        ("*.md", "gemini_gateway/README.md", False),
        ("tests", "tests", True),
        ("tests", "gemini_gateway/tests", False),
        ("requirements-*.txt", "requirements.txt", False),
    ],
)
def test_doublestar_emulation(pattern, path, matches):
    assert bool(compile_glob(pattern).match(path)) is matches


def test_unsupported_glob_syntax_is_refused():
    with pytest.raises(ValueError):
        compile_glob("{a,b}")


def test_empty_archive_is_refused(tmp_path):
    _make_tree(tmp_path, {"tests/x.py"})
    with pytest.raises(ValueError):
        archive_members(tmp_path, ["tests"])


def test_object_name_changes_with_the_archive(config):
    obj = config.resource("google_storage_bucket_object", "source").body
    assert "${data.archive_file.source.output_md5}" in obj["name"] or (
        "${data.archive_file.source.output_sha256}" in obj["name"]
    )
    assert obj["source"] == "${data.archive_file.source.output_path}"
    assert obj["bucket"] == "${google_storage_bucket.source.name}"
    fn = config.resource("google_cloudfunctions2_function", "this").body
    storage_source = fn["build_config"][0]["source"][0]["storage_source"][0]
    assert storage_source["object"] == "${google_storage_bucket_object.source.name}"
    assert storage_source["bucket"] == "${google_storage_bucket.source.name}"
