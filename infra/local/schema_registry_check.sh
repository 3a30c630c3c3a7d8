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
marker="$venv/.wharf-install"
wanted="$(printf '%s\n' "${packages[@]}")"

if [[ ! -f "$marker" || "$(cat "$marker")" != "$wanted" ]]; then
  echo "installing ${packages[*]} into ${venv#"$root/"} (first use)"
  rm -rf "$venv"
  "${WHARF_PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "${packages[@]}"
  printf '%s' "$wanted" >"$marker"
fi

bin="${WHARF_BROKER_BIN:-}"
if [[ -z "$bin" ]]; then
  (cd "$root" && cargo build -q -p wharf-broker --bin wharf-broker)
  bin="${CARGO_TARGET_DIR:-$root/target}/debug/wharf-broker"
fi

work="$(mktemp -d)"
broker_pid=""
cleanup() {
  if [[ -n "$broker_pid" ]]; then kill "$broker_pid" 2>/dev/null || true; wait "$broker_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
"$bin" --data-dir "$work/data" --listen 127.0.0.1:0 --log-format json >"$work/broker.log" 2>&1 &
broker_pid=$!
addr=""
for _ in $(seq 1 300); do
  addr="$(grep -o '"addr":"[^"]*"' "$work/broker.log" | head -1 | cut -d'"' -f4 || true)"
  [[ -n "$addr" ]] && break
  kill -0 "$broker_pid" 2>/dev/null || { cat "$work/broker.log"; exit 1; }
  sleep 0.1
done
[[ -n "$addr" ]] || { echo "broker did not report its address"; cat "$work/broker.log"; exit 1; }
"$venv/bin/python" "$here/schema_registry_check.py" "http://$addr"
