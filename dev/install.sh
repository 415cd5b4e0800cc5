#!/usr/bin/env bash
# dev/install.sh VENV REQUIREMENTS.txt...: install the locked, hashed sets into VENV (created if missing).
#
# Every requirements*.txt is a compiled lock (`make lock`): installed with its hashes checked, so
# what runs here is what CI tested and what Cloud Build installs. uv does it in about a second: the
# one on PATH, else one bootstrapped into the venv from the hashed dev/uv.txt. pip does the same job
# more slowly when uv cannot be had.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$1"; shift
PYTHON="${PYTHON:-python3}"
reqs=(); for f in "$@"; do reqs+=(-r "$f"); done
quiet=(--quiet --disable-pip-version-check)

uv="$(command -v uv || true)"
if [ -z "$uv" ] && [ -x "$venv/bin/uv" ]; then uv="$venv/bin/uv"; fi
if [ -z "$uv" ] && [ -x .venv/bin/uv ]; then uv="$PWD/.venv/bin/uv"; fi

if [ ! -x "$venv/bin/python" ]; then
  if [ -n "$uv" ]; then
    "$uv" venv --quiet --python "$PYTHON" "$venv"
  elif "$PYTHON" -m pip --version >/dev/null 2>&1; then
    "$PYTHON" -m venv --without-pip "$venv"  # the outer pip bootstraps uv below: no 7 s of ensurepip
  else
    "$PYTHON" -m venv "$venv"
  fi
fi

if [ -z "$uv" ]; then
  if "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    pip=("$venv/bin/python" -m pip)
  else
    pip=("$PYTHON" -m pip --python "$venv/bin/python")
  fi
  if "${pip[@]}" install "${quiet[@]}" --require-hashes -r dev/uv.txt; then
    uv="$venv/bin/uv"
  else
    echo "uv could not be installed: installing with pip instead (slower)" >&2
  fi
fi

if [ -n "$uv" ]; then
  exec "$uv" pip install --quiet --python "$venv/bin/python" --require-hashes "${reqs[@]}"
fi
"$venv/bin/python" -m pip --version >/dev/null 2>&1 || "$venv/bin/python" -m ensurepip --upgrade >/dev/null
exec "$venv/bin/python" -m pip install "${quiet[@]}" --require-hashes "${reqs[@]}"
