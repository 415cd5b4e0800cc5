#!/usr/bin/env bash
# Offline checks of the Terraform in infra/ (no registry, no cloud access):
#   1. terraform fmt -check   (skipped with a message when terraform is absent)
#   1b. terraform validate    (offline: schema-only providers, infra/validate/run.sh;
#                              skipped with a message when terraform is absent)
#   2. checkov, terraform + secrets frameworks, zero failed checks
#      (own venv .venv-checkov: checkov's bc-python-hcl2 would shadow python-hcl2)
#   3. pytest tests/infra     (python-hcl2 invariants, archive contents, and a
#      provider-less terraform plan of the variables when terraform exists)
# Prints one summary line per step; exits non-zero if any step fails.
# `terraform init` is not run: it needs the provider registry.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3}"
CHECKOV_VENV="${CHECKOV_VENV:-$ROOT/.venv-checkov}"
DEV_PYTEST="${DEV_PYTEST:-$ROOT/.venv/bin/pytest}"
LOG_DIR="$(mktemp -d)"
trap 'rm -rf "$LOG_DIR"' EXIT

failed=0
say() { echo "$1"; }

# --- 1. terraform fmt ------------------------------------------------------
if command -v terraform >/dev/null 2>&1; then
  if TF_CLI_CONFIG_FILE=/dev/null terraform fmt -check -recursive -diff infra >"$LOG_DIR/fmt.log" 2>&1; then
    say "fmt:     ok (terraform fmt -check -recursive infra)"
  else
    cat "$LOG_DIR/fmt.log"
    say "fmt:     FAILED (run: terraform fmt -recursive infra)"
    failed=1
  fi
else
  say "fmt:     terraform not installed: fmt check skipped"
fi

# --- 1b. terraform validate (schema-only providers, no registry) -------------
if command -v terraform >/dev/null 2>&1; then
  if bash infra/validate/run.sh infra >"$LOG_DIR/validate.log" 2>&1; then
    say "validate: ok (terraform validate, offline schemas in infra/validate)"
  else
    cat "$LOG_DIR/validate.log"
    say "validate: FAILED (terraform validate with the schema-only providers of infra/validate)"
    failed=1
  fi
else
  say "validate: terraform not installed: validate skipped"
fi

# --- 2. checkov --------------------------------------------------------------
stamp="$CHECKOV_VENV/.installed"
if [ ! -x "$CHECKOV_VENV/bin/checkov" ] || [ ! "$stamp" -nt requirements-infra.txt ]; then
  echo "checkov: installing requirements-infra.txt into ${CHECKOV_VENV#"$ROOT"/} ..."
  if PYTHON="$PYTHON" bash dev/install.sh "$CHECKOV_VENV" requirements-infra.txt >"$LOG_DIR/pip.log" 2>&1; then
    touch "$stamp"
  else
    cat "$LOG_DIR/pip.log"
  fi
fi
if [ -x "$CHECKOV_VENV/bin/checkov" ]; then
  "$CHECKOV_VENV/bin/checkov" -d infra --framework terraform secrets \
    --skip-download --quiet --compact --output cli \
    >"$LOG_DIR/checkov.log" 2>"$LOG_DIR/checkov.err"
  rc=$?
  # One "Passed checks: P, Failed checks: F, Skipped checks: S" line per framework.
  counts="$(grep -E 'Passed checks: [0-9]+, Failed checks: [0-9]+, Skipped checks: [0-9]+' "$LOG_DIR/checkov.log" | tr '\n' ';')"
  # --quiet prints nothing when there are no failures: rerun the summary without it.
  if [ -z "$counts" ]; then
    "$CHECKOV_VENV/bin/checkov" -d infra --framework terraform secrets \
      --skip-download --compact --output cli >"$LOG_DIR/checkov-full.log" 2>/dev/null
    counts="$(grep -E 'Passed checks: [0-9]+, Failed checks: [0-9]+, Skipped checks: [0-9]+' "$LOG_DIR/checkov-full.log" | tr '\n' ';')"
  fi
  if [ "$rc" -eq 0 ]; then
    say "checkov: ok ${counts:-(no summary)}"
  else
    cat "$LOG_DIR/checkov.log" "$LOG_DIR/checkov.err"
    say "checkov: FAILED (exit $rc) $counts"
    failed=1
  fi
else
  say "checkov: FAILED (could not install $want into ${CHECKOV_VENV#"$ROOT"/})"
  failed=1
fi

# --- 3. pytest tests/infra ----------------------------------------------------
if [ -x "$DEV_PYTEST" ]; then
  if "$DEV_PYTEST" tests/infra -q -p no:cacheprovider >"$LOG_DIR/pytest.log" 2>&1; then
    say "pytest:  ok ($(tail -n 1 "$LOG_DIR/pytest.log" | tr -d '=' | sed 's/^ *//;s/ *$//'))"
  else
    cat "$LOG_DIR/pytest.log"
    say "pytest:  FAILED ($(tail -n 1 "$LOG_DIR/pytest.log" | tr -d '=' | sed 's/^ *//;s/ *$//'))"
    failed=1
  fi
else
  say "pytest:  FAILED ($DEV_PYTEST not found: create the dev venv first)"
  failed=1
fi

if [ "$failed" -ne 0 ]; then
  echo "infra-check: FAILED"
  exit 1
fi
echo "infra-check: ok"
