#!/usr/bin/env bash
# Crash bench (issue 19): the SIGKILL test of broker/tests/kill9_acks_all.rs for many rounds.
# Each round starts 4 producers writing `acks=all` to 3 partitions, SIGKILLs the broker at a
# random moment while requests are in flight, restarts it over the same data and checks that
# every acknowledged record is at its offset with its payload and that no offset holds two
# records. Prints the test's figures line (rounds, acknowledged records checked, restart time).
#
#   bash infra/bench/crash.sh          # 100 rounds (about 2 minutes on 2 cores)
#   bash infra/bench/crash.sh 20       # fewer
#
# The test suite runs the same test for 5 rounds.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
rounds="${1:-100}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
WHARF_CRASH_ROUNDS="$rounds" cargo test -q -p wharf-broker --test kill9_acks_all -- --nocapture \
  2>&1 | tee "$log" | grep -E "crash figures|panicked|test result" || true
grep -q "crash figures: rounds=$rounds" "$log" || { echo "crash bench failed"; tail -40 "$log"; exit 1; }
