#!/usr/bin/env bash
# The local stack: LocalStack (S3, SQS, SSM) on the host from a Python venv (no Docker), the
# broker binary, and the Lambda functions under `cargo lambda watch`, all on 127.0.0.1.
#
#   bash infra/local/stack.sh install                 # venvs under infra/local/.tools (re-runs reuse them)
#   bash infra/local/stack.sh up                      # LocalStack + offload bucket + broker + topic + functions
#   bash infra/local/stack.sh up --localstack-only    # LocalStack + offload bucket only (what test.sh uses)
#   bash infra/local/stack.sh status                  # exit 0 if LocalStack answers, 3 if not; lists the rest
#   bash infra/local/stack.sh env [--functions]       # `export` lines: eval "$(... env --functions)"
#   bash infra/local/stack.sh down                    # stop the functions, the broker, LocalStack (by PID)
#   bash infra/local/stack.sh down --localstack-only  # stop only the LocalStack this script started
#
# `up` installs what is missing, starts LocalStack and creates the offload bucket, builds and
# starts the broker (claim checks in that bucket; a fresh data directory each time), creates the
# topic, starts `cargo lambda watch` serving the workspace's functions (wharf-producer,
# wharf-inventory, wharf-consumer, wharf-inventory-msk) and invokes the producer and the
# inventory once so that they are compiled and answering before it returns. If any step fails,
# whatever this run started is stopped again. PIDs and logs are in infra/local/.state.
# `env` prints what points the AWS CLI and SDKs at LocalStack; `env --functions` adds what points
# the functions (and `aws lambda invoke`) at the broker and the local Lambda runtime.
#
# Environment (all optional):
#   WHARF_STACK_BROKER_PORT     broker port on 127.0.0.1 (default 8080)
#   WHARF_STACK_INVOKE_PORT     Lambda Invoke API port of cargo lambda watch (default 9000)
#   WHARF_STACK_TOPIC           topic created by `up` and consumed by the functions
#                               (default order.order-service.created, 3 partitions)
#   WHARF_STACK_GROUP           consumer group of the consumer functions (default inventory)
#   WHARF_STACK_RELEASE         1: release builds of the broker and the functions (default: debug)
#   WHARF_LOCALSTACK_SERVICES   services to start (default s3,sqs,ssm)
#   WHARF_LOCALSTACK_PORT       gateway port on 127.0.0.1 (default 4566)
#   WHARF_LOCALSTACK_TIMEOUT_S  seconds to wait for LocalStack's readiness (default 90)
#   WHARF_OFFLOAD_BUCKET        bucket created by `up` (default wharf-offload)
#   WHARF_PYTHON                interpreter for the venvs (default python3; CPython 3.11 is what
#                               the pins in constraints.txt are verified with)
#   CARGO_TARGET_DIR            where the broker and the functions are built (default target/)
#
# State (pid files, logs, LocalStack's file system root, the broker's data, the inventory's
# stock file) lives in infra/local/.state, tools in infra/local/.tools; both are git-ignored.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tools="$here/.tools"
state="$here/.state"
constraints="$here/constraints.txt"

root="$(cd "$here/../.." && pwd)"
python="${WHARF_PYTHON:-python3}"
host=127.0.0.1
port="${WHARF_LOCALSTACK_PORT:-4566}"
endpoint="http://$host:$port"
services="${WHARF_LOCALSTACK_SERVICES:-s3,sqs,ssm}"
bucket="${WHARF_OFFLOAD_BUCKET:-wharf-offload}"
timeout_s="${WHARF_LOCALSTACK_TIMEOUT_S:-90}"

broker_port="${WHARF_STACK_BROKER_PORT:-8080}"
invoke_port="${WHARF_STACK_INVOKE_PORT:-9000}"
topic="${WHARF_STACK_TOPIC:-order.order-service.created}"
group="${WHARF_STACK_GROUP:-inventory}"
release="${WHARF_STACK_RELEASE:-0}"
broker_url="http://$host:$broker_port"
invoke_url="http://$host:$invoke_port"

ls_venv="$tools/localstack-venv"
lambda_venv="$tools/lambda-venv"
# Package sets per venv; part of the install marker so that editing them reinstalls.
ls_packages=("localstack-core[runtime]" "service_identity" "awscli-local[ver1]")
lambda_packages=("cargo-lambda" "ziglang")

pid_file="$state/localstack.pid"
log_file="$state/localstack.log"
cert_file="$state/localstack-cert.pem"
broker_pid_file="$state/broker.pid"
broker_log="$state/broker.log"
broker_data="$state/broker-data"
watch_pid_file="$state/watch.pid"
watch_log="$state/watch.log"

say() { printf '[stack] %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

usage() {
  sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
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

# port_in_use [PORT]: something accepts connections on $host:PORT (default: LocalStack's port).
port_in_use() {
  (exec 3<>"/dev/tcp/$host/${1:-$port}") 2>/dev/null
}

# pid_from FILE PATTERN: the pid in FILE if that process still runs and its command line
# matches PATTERN (guards against pid reuse).
pid_from() {
  local file="$1" pattern="$2" pid
  [[ -f "$file" ]] || return 1
  pid="$(cat "$file")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$pattern" || return 1
  printf '%s\n' "$pid"
}

# The pid from the pid file if that process is still our LocalStack (or broker, or watch).
our_pid() { pid_from "$pid_file" 'localstack.runtime.main'; }
broker_pid() { pid_from "$broker_pid_file" 'wharf-broker'; }
watch_pid() { pid_from "$watch_pid_file" 'lambda watch'; }

# stop_pid PID [SIGNAL]: SIGNAL (default TERM) to the process, SIGKILL to its process group after
# 15 s. Every process this script starts is a session leader (setsid), so its group is its own.
stop_pid() {
  local pid="$1" signal="${2:-TERM}" waited=0
  kill "-$signal" "$pid" 2>/dev/null || return 0
  # LocalStack exits in about 2 s on SIGTERM; give it 15 s before forcing.
  while kill -0 "$pid" 2>/dev/null && ((waited < 150)); do
    sleep 0.1
    waited=$((waited + 1))
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "pid $pid ignored SIG$signal for 15 s; sending SIGKILL"
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

# LocalStack serves TLS on its gateway too and makes itself a certificate with pyOpenSSL's
# X509.add_extensions, which pyOpenSSL 25+ no longer has ("'X509' object has no attribute
# 'add_extensions'" at start-up). Giving it a ready-made certificate (CUSTOM_SSL_CERT_PATH, key and
# certificate in one PEM) skips that code whatever pyOpenSSL pip picked.
ensure_cert() {
  [[ -s "$cert_file" ]] && return 0
  "$ls_venv/bin/python" - "$cert_file" <<'PY'
import datetime, ipaddress, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (
    x509.CertificateBuilder()
    .subject_name(name).issuer_name(name).public_key(key.public_key())
    .serial_number(x509.random_serial_number())
    .not_valid_before(now - datetime.timedelta(days=1))
    .not_valid_after(now + datetime.timedelta(days=730))
    .add_extension(x509.SubjectAlternativeName([
        x509.DNSName("localhost"), x509.DNSName("localhost.localstack.cloud"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    .sign(key, hashes.SHA256())
)
with open(sys.argv[1], "wb") as f:
    f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption()))
    f.write(cert.public_bytes(serialization.Encoding.PEM))
PY
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

localstack_up() {
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
  ensure_cert || die "cannot write a certificate for LocalStack to $cert_file"
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
    CUSTOM_SSL_CERT_PATH="$cert_file" \
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

localstack_down() {
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

# http METHOD URL [BODY]: prints the status code, then the body; never fails on HTTP errors.
http() {
  "$python" - "$@" 2>/dev/null <<'PY'
import sys, urllib.request, urllib.error
method, url = sys.argv[1], sys.argv[2]
data = sys.argv[3].encode() if len(sys.argv) > 3 else None
req = urllib.request.Request(url, data=data, method=method,
                             headers={"content-type": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=1800) as r:
        print(r.status); sys.stdout.write(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code); sys.stdout.write(e.read().decode())
except Exception as e:
    print(0); sys.stdout.write(str(e))
PY
}

# The last lines of a log, for a failed start.
show_log() {
  if [[ -f "$1" ]]; then
    say "last lines of ${1#"$here/"}:"
    tail -n 40 "$1" >&2
  fi
}

# What the AWS CLI and SDKs (the functions, the broker's claim check) need to reach LocalStack.
aws_env() {
  cat <<EOF
AWS_ENDPOINT_URL=$endpoint
AWS_ACCESS_KEY_ID=test
AWS_SECRET_ACCESS_KEY=test
AWS_REGION=us-east-1
AWS_DEFAULT_REGION=us-east-1
EOF
}

# What points the functions at the stack (also printed by `env --functions`).
functions_env() {
  cat <<EOF
WHARF_URL=$broker_url
WHARF_TOPIC=$topic
WHARF_GROUP=$group
WHARF_IDLE_EXIT_MS=2000
WHARF_OFFLOAD_BUCKET=$bucket
WHARF_OFFLOAD_ENDPOINT_URL=$endpoint
WHARF_LAMBDA_ENDPOINT=$invoke_url
WHARF_TARGET_FUNCTION=wharf-inventory-msk
INVENTORY_STATE_DIR=$state/inventory
EOF
}

broker_up() {
  local pid profile_dir build=(build -p wharf-broker --bin wharf-broker)
  if pid="$(broker_pid)"; then
    die "the broker (pid $pid) is already running; run '$0 down' first"
  fi
  rm -f "$broker_pid_file"
  if port_in_use "$broker_port"; then
    die "port $broker_port on $host is taken (WHARF_STACK_BROKER_PORT picks another)"
  fi
  profile_dir="${CARGO_TARGET_DIR:-$root/target}/debug"
  if [[ "$release" == 1 ]]; then
    build+=(--release)
    profile_dir="${CARGO_TARGET_DIR:-$root/target}/release"
  fi
  say "building the broker (cargo ${build[*]})"
  (cd "$root" && cargo "${build[@]}") || die "building the broker failed"
  # A fresh log each time: LocalStack's S3 starts empty too, and pointers must not dangle.
  rm -rf "$broker_data"
  mkdir -p "$broker_data"
  : >"$broker_log"
  say "starting the broker on $broker_url; log: ${broker_log#"$here/"}"
  # Claim checks of HTTP producers go to the same bucket as the functions'.
  # shellcheck disable=SC2046 # one KEY=VALUE word per line, no spaces in the values
  env $(aws_env) \
    WHARF_CLAIM_CHECK_STORE=s3 \
    WHARF_CLAIM_CHECK_BUCKET="$bucket" \
    WHARF_CLAIM_CHECK_ENDPOINT_URL="$endpoint" \
    WHARF_CLAIM_CHECK_FORCE_PATH_STYLE=true \
    WHARF_CLAIM_CHECK_REGION=us-east-1 \
    NO_COLOR=1 \
    setsid "$profile_dir/wharf-broker" --listen "$host:$broker_port" --data-dir "$broker_data" \
    >>"$broker_log" 2>&1 </dev/null &
  pid=$!
  printf '%s\n' "$pid" >"$broker_pid_file"
  local deadline=$((SECONDS + 60))
  until [[ "$(http GET "$broker_url/ready" | head -n1)" == 200 ]]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      show_log "$broker_log"
      die "the broker exited during start-up"
    fi
    if ((SECONDS >= deadline)); then
      show_log "$broker_log"
      die "the broker was not ready within 60 s"
    fi
    sleep 0.2
  done
  say "broker ready (pid $pid)"
  local answer
  answer="$(http POST "$broker_url/v1/topics" "{\"name\":\"$topic\",\"partitions\":3}")"
  case "$(head -n1 <<<"$answer")" in
    201) say "created topic $topic (3 partitions)" ;;
    409) say "topic $topic exists" ;;
    *) die "cannot create topic $topic: $answer" ;;
  esac
}

watch_up() {
  local pid
  local args=(lambda watch --invoke-address "$host" --invoke-port "$invoke_port" --ignore-changes --timeout 900)
  if pid="$(watch_pid)"; then
    die "cargo lambda watch (pid $pid) is already running; run '$0 down' first"
  fi
  rm -f "$watch_pid_file"
  if port_in_use "$invoke_port"; then
    die "port $invoke_port on $host is taken (WHARF_STACK_INVOKE_PORT picks another)"
  fi
  if [[ "$release" == 1 ]]; then
    args+=(--release)
  fi
  # The inventory remembers applied (partition, offset)s; the broker's log is new, so is its stock.
  rm -rf "$state/inventory"
  mkdir -p "$state/inventory"
  : >"$watch_log"
  say "starting cargo lambda watch on $invoke_url; log: ${watch_log#"$here/"}"
  (
    cd "$root"
    # shellcheck disable=SC2046 # one KEY=VALUE word per line, no spaces in the values
    exec env $(aws_env) $(functions_env) PATH="$lambda_venv/bin:$PATH" NO_COLOR=1 \
      setsid "$lambda_venv/bin/cargo-lambda" "${args[@]}" >>"$watch_log" 2>&1 </dev/null
  ) &
  pid=$!
  printf '%s\n' "$pid" >"$watch_pid_file"
  local deadline=$((SECONDS + 60))
  until port_in_use "$invoke_port"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      show_log "$watch_log"
      die "cargo lambda watch exited during start-up"
    fi
    if ((SECONDS >= deadline)); then
      show_log "$watch_log"
      die "cargo lambda watch did not listen within 60 s"
    fi
    sleep 0.2
  done
  # Ready means compiled and answering: invoke the producer and the inventory once each (the
  # first invocation compiles a function; minutes on a cold target directory).
  local started=$SECONDS answer
  say "compiling and starting wharf-producer and wharf-inventory (first invocations)"
  # The producer gets an empty direct request: it refuses it (nothing is produced), which is an
  # answer all the same.
  answer="$(http POST "$invoke_url/2015-03-31/functions/wharf-producer/invocations" \
    "{\"topic\":\"$topic\",\"records\":[]}")"
  case "$(head -n1 <<<"$answer")" in
    0 | 404)
      show_log "$watch_log"
      die "wharf-producer did not answer: $answer"
      ;;
  esac
  answer="$(http POST "$invoke_url/2015-03-31/functions/wharf-inventory/invocations" \
    '{"max_duration_ms":0}')"
  if [[ "$(head -n1 <<<"$answer")" != 200 ]]; then
    show_log "$watch_log"
    die "wharf-inventory did not answer: $answer"
  fi
  say "functions ready in $((SECONDS - started)) s (cargo lambda watch pid $pid)"
}

broker_down() {
  local pid
  if pid="$(broker_pid)"; then
    say "stopping the broker (pid $pid)"
    stop_pid "$pid" TERM
  fi
  rm -f "$broker_pid_file"
}

watch_down() {
  local pid
  if pid="$(watch_pid)"; then
    say "stopping cargo lambda watch and its functions (pid $pid)"
    # SIGINT lets cargo-lambda stop the function processes it started; then whatever is left of
    # its process group (a function, a cargo build) goes too.
    stop_pid "$pid" INT
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$watch_pid_file"
}

# EXIT trap of `up`: when it did not finish, stop what this run started.
up_cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [[ -n "${up_in_progress:-}" ]]; then
    say "up did not finish; stopping what it started"
    watch_down
    broker_down
    if [[ -n "${up_started_localstack:-}" ]]; then
      localstack_down
    fi
  fi
  exit "$status"
}

cmd_up() {
  local only=""
  case "${1:-}" in
    --localstack-only) only=1 ;;
    "") ;;
    *) usage ;;
  esac
  if [[ -z "$only" ]]; then
    # Fail before starting anything when the broker's or the runtime's port is taken.
    local p
    for p in "$broker_port" "$invoke_port"; do
      if port_in_use "$p"; then
        die "port $p on $host is taken (WHARF_STACK_BROKER_PORT / WHARF_STACK_INVOKE_PORT pick others)"
      fi
    done
  fi
  up_in_progress=1
  up_started_localstack=""
  healthy >/dev/null || up_started_localstack=1
  trap up_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  localstack_up
  if [[ -z "$only" ]]; then
    broker_up
    watch_up
    say "stack up: broker $broker_url, Lambda Invoke API $invoke_url, LocalStack $endpoint"
    say "next: eval \"\$(bash infra/local/stack.sh env --functions)\""
  fi
  up_in_progress=""
  trap - EXIT INT TERM
}

cmd_down() {
  case "${1:-}" in
    --localstack-only) ;;
    "")
      watch_down
      broker_down
      ;;
    *) usage ;;
  esac
  localstack_down
}

cmd_status() {
  local pid health status=0
  if health="$(healthy)"; then
    if pid="$(our_pid)"; then
      say "LocalStack running on $endpoint (pid $pid, started by this script)"
    else
      say "LocalStack running on $endpoint (not started by this script)"
    fi
    printf '%s\n' "$health"
  else
    if pid="$(our_pid)"; then
      say "LocalStack process $pid exists but $endpoint does not answer"
    else
      say "LocalStack not running"
    fi
    status=3
  fi
  if pid="$(broker_pid)"; then say "broker running on $broker_url (pid $pid)"; fi
  if pid="$(watch_pid)"; then say "cargo lambda watch running on $invoke_url (pid $pid)"; fi
  return "$status"
}

cmd_env() {
  case "${1:-}" in
    --functions | "") ;;
    *) usage ;;
  esac
  aws_env | sed 's/^/export /'
  cat <<EOF
export WHARF_TEST_S3_ENDPOINT=$endpoint
export WHARF_OFFLOAD_BUCKET=$bucket
EOF
  if [[ "${1:-}" == "--functions" ]]; then
    functions_env | grep -v '^WHARF_OFFLOAD_BUCKET=' | sed 's/^/export /'
    # The AWS CLI and SDKs reach Lambda at cargo lambda watch, everything else at LocalStack:
    #   aws lambda invoke --function-name wharf-inventory --payload '{}' out.json
    echo "export AWS_ENDPOINT_URL_LAMBDA=$invoke_url"
  fi
}

case "${1:-}" in
  install) cmd_install ;;
  up) cmd_up "${2:-}" ;;
  down) cmd_down "${2:-}" ;;
  status) cmd_status ;;
  env) cmd_env "${2:-}" ;;
  *) usage ;;
esac
