#!/usr/bin/env bash
# The README's test command: formatting, lints, the whole test suite, and the deployment checks.
#
# Installs what the suite needs on first use (into ignored folders of this checkout) and
# starts/stops the local services it needs. Exits non-zero on the first failure.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

# A clean run gains nothing from incremental caches, and they cost gigabytes of disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)
logs="$(mktemp -d)"

step "rustfmt"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "postgres"
# A throwaway PostgreSQL (Debian's packages, temporary directory) for the coordination backend's
# tests (broker/src/pg/). Stopped on exit unless it was already running before this script.
stop_postgres=:
if bash "$here/postgres.sh" env >/dev/null 2>&1; then
  echo "PostgreSQL is already running; it stays up after the tests"
else
  stop_postgres='bash "$here/postgres.sh" down'
  trap 'eval "$stop_postgres"; rm -rf "$logs"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
fi
eval "$(bash "$here/postgres.sh" up)"

step "local stack"
# LocalStack on the host: S3 and SQS for the tests, CloudFormation, EC2, IAM, SSM and STS for the
# deployment checks. Stopped on exit unless it was already running before this script (then it
# belongs to someone else: leave it).
export WHARF_LOCALSTACK_SERVICES="${WHARF_LOCALSTACK_SERVICES:-s3,sqs,cloudformation,ec2,iam,ssm,sts}"
stack="$here/stack.sh"
# Only LocalStack: the tests start their own brokers and `cargo lambda watch` on free ports.
if bash "$stack" status >/dev/null 2>&1; then
  echo "LocalStack is already running; it stays up after the tests"
else
  trap 'bash "$stack" down --localstack-only; eval "$stop_postgres"; rm -rf "$logs"' EXIT
  # Turn Ctrl-C / kill into a normal exit so that the EXIT trap stops LocalStack.
  trap 'exit 130' INT
  trap 'exit 143' TERM
fi
bash "$stack" up --localstack-only
eval "$(bash "$stack" env)"

step "browser"
# Debian's chromium and chromedriver for the console's browser tests, installed if missing.
bash "$here/browser.sh"

step "tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast 2>&1 | tee "$logs/nextest.log"
  # nextest does not run doctests
  cargo test --workspace --locked --doc 2>&1 | tee "$logs/doctest.log"
else
  cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$logs/nextest.log"
fi

step "e2e over tls"
# The end-to-end suite again with every broker on https:// and a throwaway private CA (issue 19).
bash "$here/tls_e2e.sh" 2>&1 | tee "$logs/tls.log"

step "schema registry with confluent-kafka"
# Confluent's Python client against the real broker (issue 18); about 50 s on first use (pip
# install into infra/local/.tools/schema-venv), a few seconds after.
bash "$here/schema_registry_check.sh" 2>&1 | tee "$logs/schema.log"

step "schemathesis over the OpenAPI document"
# Every check, the stateful phase included, against the real binary (issue 19): zero failures,
# every operation reached. About 60 s on first use (pip install into
# infra/local/.tools/schemathesis-venv), about 30 s after.
bash "$here/schemathesis.sh" 2>&1 | tee "$logs/schemathesis.log"

step "deployment checks"
# These checks prove that the functions and the broker build for arm64 and that the templates
# deploy; they do not ship or run the artifacts. So they build unoptimised (opt-level 0), without
# LTO, with more codegen units and without debug info: sam build plus the tarball took 1,164 s on
# 2 cores with opt-level 3, 392 s like this (2026-11-27). The environment beats both the
# workspace's release profile and the functions' size profile (functions/.cargo/config.toml).
# Deployable builds (infra/README.md) use the real profiles; set these variables to override.
export CARGO_PROFILE_RELEASE_LTO="${CARGO_PROFILE_RELEASE_LTO:-false}"
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS="${CARGO_PROFILE_RELEASE_CODEGEN_UNITS:-16}"
export CARGO_PROFILE_RELEASE_OPT_LEVEL="${CARGO_PROFILE_RELEASE_OPT_LEVEL:-0}"
export CARGO_PROFILE_RELEASE_DEBUG="${CARGO_PROFILE_RELEASE_DEBUG:-false}"
export CARGO_PROFILE_RELEASE_STRIP="${CARGO_PROFILE_RELEASE_STRIP:-false}"
export CARGO_PROFILE_RELEASE_PANIC="${CARGO_PROFILE_RELEASE_PANIC:-unwind}"
bash "$here/check-deploy.sh" 2>&1 | tee "$logs/deploy.log"

# One closing line for the whole run: nextest's summary, doc tests, the schema registry check
# and deployment checks.
sum() { grep -oE "$1" "$2" 2>/dev/null | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}'; }
passed=$(( $(sum '[0-9]+ passed' "$logs/nextest.log") + $(sum '[0-9]+ passed' "$logs/doctest.log") + $(sum '[0-9]+ passed' "$logs/deploy.log") + $(sum '[0-9]+ passed' "$logs/schema.log") ))
skipped=$(sum '[0-9]+ skipped' "$logs/nextest.log")
printf '\nall checks passed in %d s\n' "$(( $(date +%s) - started ))"
printf 'wharf: %d passed, 0 failed, %d skipped\n' "$passed" "$skipped"
printf 'schemathesis: %s\n' "$(grep -oE '[0-9]+ generated, [0-9]+ passed' "$logs/schemathesis.log" | tail -1)"
