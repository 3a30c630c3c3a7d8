#!/usr/bin/env bash
# The local stack: LocalStack (S3, SQS, ...) on the host from a Python venv, no Docker.
#
#   bash infra/local/stack.sh install   # venvs under infra/local/.tools (re-runs reuse them)
#   bash infra/local/stack.sh up        # install if needed, start LocalStack, create the offload bucket
#   bash infra/local/stack.sh status    # exit 0 if LocalStack answers, 3 if not
#   bash infra/local/stack.sh env       # `export` lines for tests and tools: eval "$(... env)"
#   bash infra/local/stack.sh down      # stop the LocalStack this script started
#
# Environment (all optional):
#   WHARF_LOCALSTACK_SERVICES   services to start (default s3,sqs,ssm)
#   WHARF_LOCALSTACK_PORT       gateway port on 127.0.0.1 (default 4566)
#   WHARF_LOCALSTACK_TIMEOUT_S  seconds to wait for readiness (default 90)
#   WHARF_OFFLOAD_BUCKET        bucket created by `up` (default wharf-offload)
#   WHARF_PYTHON                interpreter for the venvs (default python3; CPython 3.11 is what
#                               the pins in constraints.txt are verified with)
#
# State (pid file, log, LocalStack's file system root) lives in infra/local/.state, tools in
# infra/local/.tools; both are git-ignored.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tools="$here/.tools"
state="$here/.state"
constraints="$here/constraints.txt"

python="${WHARF_PYTHON:-python3}"
host=127.0.0.1
port="${WHARF_LOCALSTACK_PORT:-4566}"
endpoint="http://$host:$port"
services="${WHARF_LOCALSTACK_SERVICES:-s3,sqs,ssm}"
bucket="${WHARF_OFFLOAD_BUCKET:-wharf-offload}"
timeout_s="${WHARF_LOCALSTACK_TIMEOUT_S:-90}"

ls_venv="$tools/localstack-venv"
lambda_venv="$tools/lambda-venv"
# Package sets per venv; part of the install marker so that editing them reinstalls.
ls_packages=("localstack-core[runtime]" "service_identity" "awscli-local[ver1]")
lambda_packages=("cargo-lambda" "ziglang")

pid_file="$state/localstack.pid"
log_file="$state/localstack.log"

say() { printf '[stack] %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

usage() {
  sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# --- install ------------------------------------------------------------------------------------

# The marker holds a digest of everything that decides the venv's contents.
marker_digest() {
  local packages="$1"
  {
    cat "$constraints"
    printf '%s\n' "$packages"
    "$python" -c 'import sys; print(sys.version)'
  } | sha256sum | cut -d' ' -f1
}

# ensure_venv DIR PACKAGE...: (re)creates DIR with exactly the pinned packages unless its marker
# already matches.
ensure_venv() {
  local venv="$1"
  shift
  local digest marker="$venv/.wharf-install"
  digest="$(marker_digest "$*")"
  if [[ -f "$marker" && "$(cat "$marker")" == "$digest" ]]; then
    say "${venv#"$here/"} is up to date"
    return 0
  fi
  local started=$SECONDS
  say "installing $* into ${venv#"$here/"} (first use; takes about a minute)"
  # A partial or outdated venv is rebuilt from scratch so that its contents match the pins exactly.
  rm -rf "$venv"
  "$python" -m venv "$venv" ||
    die "cannot create a venv with $python (on Debian: apt-get install python3-venv)"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    -c "$constraints" "$@" ||
    die "pip install into $venv failed (see above)"
  printf '%s\n' "$digest" >"$marker"
  say "installed ${venv#"$here/"} in $((SECONDS - started)) s"
}

cmd_install() {
  command -v "$python" >/dev/null || die "$python not found (install python3 and python3-venv)"
  [[ -f "$constraints" ]] || die "missing $constraints"
  mkdir -p "$tools"
  # Two test runs starting at once must not build the same venv concurrently.
  exec 9>"$tools/.install.lock"
  flock 9
  ensure_venv "$ls_venv" "${ls_packages[@]}"
  ensure_venv "$lambda_venv" "${lambda_packages[@]}"
  flock -u 9
  exec 9>&-
}

installed() {
  [[ -f "$ls_venv/.wharf-install" &&
    "$(cat "$ls_venv/.wharf-install")" == "$(marker_digest "${ls_packages[*]}")" &&
    -f "$lambda_venv/.wharf-install" &&
    "$(cat "$lambda_venv/.wharf-install")" == "$(marker_digest "${lambda_packages[*]}")" ]]
}

# --- process helpers -----------------------------------------------------------------------------

# Prints the health document if LocalStack answers. Python rather than curl: a fresh Debian has
# python3 (needed anyway) but not necessarily curl.
healthy() {
  "$python" - "$endpoint/_localstack/health" 2>/dev/null <<'PY'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as response:
    sys.stdout.write(response.read().decode())
PY
}

port_in_use() {
  (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

# The pid from the pid file if that process is still our LocalStack (guards against pid reuse).
our_pid() {
  [[ -f "$pid_file" ]] || return 1
  local pid
  pid="$(cat "$pid_file")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'localstack.runtime.main' || return 1
  printf '%s\n' "$pid"
}

stop_pid() {
  local pid="$1" waited=0
  kill -TERM "$pid" 2>/dev/null || return 0
  # LocalStack exits in about 2 s on SIGTERM; give it 15 s before forcing.
  while kill -0 "$pid" 2>/dev/null && ((waited < 150)); do
    sleep 0.1
    waited=$((waited + 1))
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "pid $pid ignored SIGTERM for 15 s; sending SIGKILL"
    # It was started with setsid, so its pid is its process group: take any children with it.
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
}

log_tail() {
  if [[ -f "$log_file" ]]; then
    say "last lines of $log_file:"
    tail -n 40 "$log_file" >&2
  fi
}

# Services named in $services that the health answer does not list as available/running.
missing_services() {
  local health="$1" svc status missing=()
  local -a wanted
  IFS=',' read -r -a wanted <<<"$services"
  for svc in "${wanted[@]}"; do
    status="$(printf '%s' "$health" | "$python" -c \
      'import json,sys; print(json.load(sys.stdin).get("services",{}).get(sys.argv[1],"absent"))' "$svc")"
    case "$status" in
      available | running) ;;
      *) missing+=("$svc=$status") ;;
    esac
  done
  printf '%s\n' "${missing[*]-}"
}

create_bucket() {
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
    "$ls_venv/bin/python" - "$endpoint" "$bucket" <<'PY'
import sys
import boto3
from botocore.config import Config

endpoint, bucket = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
# Ask first: in us-east-1, CreateBucket on an owned bucket answers 200 as if it were new.
try:
    s3.head_bucket(Bucket=bucket)
    print(f"[stack] bucket {bucket} exists", file=sys.stderr)
except s3.exceptions.ClientError as err:
    if err.response["Error"]["Code"] not in ("404", "NoSuchBucket", "NotFound"):
        raise
    s3.create_bucket(Bucket=bucket)
    print(f"[stack] created bucket {bucket}", file=sys.stderr)
PY
}

# --- subcommands ---------------------------------------------------------------------------------

cmd_up() {
  local health missing pid
  if health="$(healthy)"; then
    missing="$(missing_services "$health")"
    [[ -z "$missing" ]] ||
      die "a LocalStack already answers on $endpoint without: $missing (stop it, then retry)"
    say "reusing the LocalStack that answers on $endpoint"
    installed || cmd_install
    create_bucket
    return 0
  fi
  if [[ -f "$pid_file" ]] && ! our_pid >/dev/null; then
    say "removing stale pid file"
    rm -f "$pid_file"
  fi
  if pid="$(our_pid)"; then
    die "LocalStack (pid $pid) is running but does not answer on $endpoint; run '$0 down' first"
  fi
  if port_in_use; then
    die "port $port on $host is taken by something that is not a healthy LocalStack (WHARF_LOCALSTACK_PORT picks another)"
  fi

  installed || cmd_install
  mkdir -p "$state"
  rm -rf "$state/fs"
  mkdir -p "$state/fs"
  : >"$log_file"
  say "starting LocalStack ($services) on $endpoint; log: ${log_file#"$here/"}"
  local started=$SECONDS
  # Host mode settings from the verified facts: no DNS server, no certificate download, no
  # telemetry, real SigV4 checks (presigned URLs must be validated), nothing persisted.
  GATEWAY_LISTEN="$host:$port" \
    LOCALSTACK_HOST="$host:$port" \
    SERVICES="$services" \
    FILESYSTEM_ROOT="$state/fs" \
    DNS_ADDRESS=0 \
    SKIP_SSL_CERT_DOWNLOAD=1 \
    DISABLE_EVENTS=1 \
    EAGER_SERVICE_LOADING=1 \
    S3_SKIP_SIGNATURE_VALIDATION=0 \
    PERSISTENCE=0 \
    setsid "$ls_venv/bin/python" -m localstack.runtime.main >>"$log_file" 2>&1 </dev/null &
  local pid=$!
  printf '%s\n' "$pid" >"$pid_file"

  local deadline=$((SECONDS + timeout_s))
  while true; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$pid_file"
      log_tail
      die "LocalStack exited during start-up"
    fi
    if healthy >/dev/null && grep -q '^Ready\.' "$log_file"; then
      break
    fi
    if ((SECONDS >= deadline)); then
      stop_pid "$pid"
      rm -f "$pid_file"
      log_tail
      die "LocalStack was not ready within $timeout_s s (WHARF_LOCALSTACK_TIMEOUT_S)"
    fi
    sleep 0.2
  done
  say "LocalStack ready in $((SECONDS - started)) s (pid $pid)"
  if ! create_bucket; then
    stop_pid "$pid"
    rm -f "$pid_file"
    log_tail
    die "could not create bucket $bucket"
  fi
}

cmd_down() {
  local pid
  if pid="$(our_pid)"; then
    say "stopping LocalStack (pid $pid)"
    stop_pid "$pid"
    rm -f "$pid_file"
    return 0
  fi
  rm -f "$pid_file"
  if healthy >/dev/null; then
    say "a LocalStack answers on $endpoint but was not started by this script; leaving it"
  else
    say "LocalStack is not running"
  fi
}

cmd_status() {
  local pid health
  if health="$(healthy)"; then
    if pid="$(our_pid)"; then
      say "running on $endpoint (pid $pid, started by this script)"
    else
      say "running on $endpoint (not started by this script)"
    fi
    printf '%s\n' "$health"
    return 0
  fi
  if pid="$(our_pid)"; then
    say "process $pid exists but $endpoint does not answer"
  else
    say "not running"
  fi
  return 3
}

cmd_env() {
  cat <<EOF
export AWS_ENDPOINT_URL=$endpoint
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export WHARF_TEST_S3_ENDPOINT=$endpoint
export WHARF_OFFLOAD_BUCKET=$bucket
EOF
}

case "${1:-}" in
  install) cmd_install ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) usage ;;
esac
