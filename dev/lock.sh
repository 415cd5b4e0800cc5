#!/usr/bin/env bash
# `make lock`: compile the short, hand-written requirements*.in into the requirements*.txt that
# every install uses: every transitive dependency pinned and hashed, so that Cloud Build installs
# exactly what CI tested. One resolution for Python 3.11 and later on every platform (CI and
# laptops run 3.11, the function deploys on python313). Versions already in a .txt are kept
# unless an input asks otherwise; `make lock UPGRADE=1` moves everything to the newest allowed.
# tests/unit/test_locks.py fails when a .txt is stale against its .in.
set -euo pipefail
cd "$(dirname "$0")/.."
UV="${UV:-uv}"
common=(--quiet --generate-hashes --universal --python-version 3.11 --custom-compile-command "make lock")
[ -n "${UPGRADE:-}" ] && common+=(--upgrade)

# The runtime first; the run and dev sets are constrained to its versions (and dev to run's), so
# what the tests import is what deploys. checkov lives in its own venv (infra/check.sh).
"$UV" pip compile "${common[@]}" requirements.in -o requirements.txt
"$UV" pip compile "${common[@]}" requirements-run.in -c requirements.txt -o requirements-run.txt
"$UV" pip compile "${common[@]}" requirements-dev.in -c requirements-run.txt -o requirements-dev.txt
"$UV" pip compile "${common[@]}" requirements-infra.in -o requirements-infra.txt
"$UV" pip compile "${common[@]}" dev/uv.in -o dev/uv.txt
