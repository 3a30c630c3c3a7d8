#!/usr/bin/env bash
# The README's test command: formatting, lints, and the whole test suite.
#
# Installs what the suite needs on first use (into ignored folders of this checkout) and
# starts/stops the local services it needs. Exits non-zero on the first failure.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

step() { printf '\n==> %s\n' "$*"; }

step "rustfmt"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "local stack"
# LocalStack (S3, SQS) on the host for the tests that talk to AWS APIs. Stopped on exit unless it
# was already running before this script (then it belongs to someone else: leave it).
stack="$here/stack.sh"
if bash "$stack" status >/dev/null 2>&1; then
  echo "LocalStack is already running; it stays up after the tests"
else
  trap 'bash "$stack" down' EXIT
  # Turn Ctrl-C / kill into a normal exit so that the EXIT trap stops LocalStack.
  trap 'exit 130' INT
  trap 'exit 143' TERM
fi
bash "$stack" up
eval "$(bash "$stack" env)"

step "tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
  # nextest does not run doctests
  cargo test --workspace --locked --doc
else
  cargo test --workspace --locked --no-fail-fast
fi
