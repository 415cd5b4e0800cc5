#!/usr/bin/env bash
# Offline `terraform validate` of a Terraform directory (default: infra/).
#
# The real providers cannot be installed offline, so each one named in
# schemas.json is replaced, through a dev_overrides CLI config, by
# provider.py: a schema-only plugin that serves the provider's extracted
# schema and accepts every configuration. Terraform core then checks the
# configuration against those schemas. No `terraform init`, no network.
#
#   bash infra/validate/run.sh [DIR]      exit status of terraform validate
#
# Needs terraform (>= 1.11) on PATH and a Python with grpcio and cryptography:
# $VALIDATE_PYTHON, else .venv/bin/python of the repository.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DIR="$(cd "${1:-$ROOT/infra}" && pwd)"
PY="${VALIDATE_PYTHON:-$ROOT/.venv/bin/python}"
command -v "$PY" >/dev/null 2>&1 || PY="$(command -v python3)"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

overrides=""
for address in $("$PY" -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["provider_schemas"]))' "$HERE/schemas.json"); do
  source_addr="${address#registry.terraform.io/}" # e.g. hashicorp/google
  name="${source_addr#*/}"
  mkdir -p "$WORK/$name"
  cat >"$WORK/$name/terraform-provider-$name" <<EOF
#!/bin/sh
exec "$PY" "$HERE/provider.py" "$HERE/schemas.json" "$address"
EOF
  chmod +x "$WORK/$name/terraform-provider-$name"
  overrides="$overrides    \"$source_addr\" = \"$WORK/$name\"
"
done

cat >"$WORK/cli.tfrc" <<EOF
provider_installation {
  dev_overrides {
$overrides  }
  direct {}
}
EOF

# A private data dir: nothing is written next to the configuration.
export TF_CLI_CONFIG_FILE="$WORK/cli.tfrc" TF_DATA_DIR="$WORK/data" TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
# The dev_overrides warning is expected (it names the schema-only plugins):
# drop it, keep everything else.
out="$WORK/validate.out"
set +e
TF_LOG="${TF_LOG:-}" terraform -chdir="$DIR" validate -no-color >"$out" 2>&1
rc=$?
set -e
awk '
  /^Warning: Provider development overrides are in effect/ { skip = 1 }
  skip { if ($0 ~ /^releases\.$/) skip = 0; next }
  /^Success! The configuration is valid, but there were some validation warnings$/ {
    print "Success! The configuration is valid."; getline; next
  }
  /^$/ && (NR == 1 || blank) { blank = 1; next }
  { blank = ($0 == ""); print }
' "$out"
exit "$rc"
