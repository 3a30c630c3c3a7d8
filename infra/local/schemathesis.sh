#!/usr/bin/env bash
# Must-show of issue 19: schemathesis (PyPI) over the broker's own OpenAPI document
# (`GET /v1/openapi.json`) with every check, its stateful phase included, against the real
# broker binary on a fresh data directory. Installs schemathesis into
# infra/local/.tools/schemathesis-venv on first use.
#
#   bash infra/local/schemathesis.sh      # exits non-zero on any failure
#
# WHARF_SCHEMATHESIS_MAX_EXAMPLES (default 30) bounds the examples per operation and phase;
# WHARF_BROKER_BIN picks a broker binary instead of building one.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$here/.tools/schemathesis-venv"

source "$here/broker_lib.sh"
wharf_venv "$venv" "schemathesis==4.32.5"
wharf_broker_bin

work="$(mktemp -d)"
cleanup() {
  wharf_stop_broker
  rm -rf "$work"
}
trap cleanup EXIT
# Long polls wait at most 2 s (the document says so), well inside the request timeout.
printf 'max_wait_ms = 2000\n' >"$work/broker.toml"
wharf_start_broker "$work" --config "$work/broker.toml"

# The report lists each operation schemathesis reached; the test command keeps it in the log.
# One worker: with two, Hypothesis's lambda-source cache races between the worker threads and a
# run now and then ends in an internal KeyError ("Runtime Error", no failing request).
"$venv/bin/schemathesis" --config-file "$here/schemathesis.toml" run "http://$addr/v1/openapi.json" \
  --checks all \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "${WHARF_SCHEMATHESIS_MAX_EXAMPLES:-30}" \
  --workers 1 \
  --request-timeout 30 \
  --seed 1 \
  --no-color
