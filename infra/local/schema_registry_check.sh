#!/usr/bin/env bash
# Must-show of issue 18: Confluent's Python client (confluent-kafka with fastavro) against the
# real broker (infra/local/schema_registry_check.py). Installs the client into
# infra/local/.tools/schema-venv on first use (about a minute; re-runs reuse it), builds the
# broker binary if needed (debug, as the test suite does), starts it on a free port over a
# fresh data directory, runs the check and stops the broker by its PID.
#
#   bash infra/local/schema_registry_check.sh          # prints "schema registry check: N passed, 0 failed"
#
# WHARF_PYTHON picks the interpreter for the venv (default python3); WHARF_BROKER_BIN a broker
# binary to use instead of building one.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$here/.tools/schema-venv"
packages=("confluent-kafka[avro,json,schemaregistry]==2.16.1" "fastavro==1.13.1" "jsonschema==4.26.0")

source "$here/broker_lib.sh"
wharf_venv "$venv" "${packages[@]}"
wharf_broker_bin

work="$(mktemp -d)"
cleanup() {
  wharf_stop_broker
  rm -rf "$work"
}
trap cleanup EXIT
wharf_start_broker "$work"
"$venv/bin/python" "$here/schema_registry_check.py" "http://$addr"
