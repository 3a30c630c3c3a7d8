#!/usr/bin/env bash
# Deployment checks of the test command (see infra/README.md, "The checks"):
#   1. cfn-lint and `sam validate --lint` on every template
#   2. systemd-analyze verify/security on the broker unit; the functions link no console crate
#   3. `sam build` of both functions (cargo-lambda, arm64, no Docker)
#   4. the aarch64 broker release tarball
#   5. deploy the storage part of template.yaml and the broker stack into LocalStack, verify
#      them with real API calls (and the properties LocalStack does not model in the templates)
#   6. delete both stacks and verify they are gone
#
# LocalStack must already be up: the endpoint comes from AWS_ENDPOINT_URL (loopback only).
# WHARF_DEPLOY_SKIP_BUILD=1 skips steps 3 and 4 (for a quick template-only run).
# Exits non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
# shellcheck source=../deploy/tools.sh
. "$root/infra/deploy/tools.sh"

step() { printf '\n==> %s\n' "$*"; }
t0=$(date +%s)
elapsed() { echo "    ($(( $(date +%s) - $1 )) s)"; }

if [ -z "${AWS_ENDPOINT_URL:-}" ]; then
  echo "check-deploy: AWS_ENDPOINT_URL is not set; start LocalStack (infra/local/stack.sh up) and eval its env" >&2
  exit 2
fi
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
if ! curl -fsS "$AWS_ENDPOINT_URL/_localstack/health" >/dev/null; then
  echo "check-deploy: no LocalStack answers at $AWS_ENDPOINT_URL" >&2
  exit 2
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

step "tools"
wharf_ensure_sam
"$WHARF_SAM" --version
"$WHARF_CFN_LINT" --version

templates=(template.yaml infra/aws/broker.yaml)
for t in "${templates[@]}"; do
  step "cfn-lint $t"
  "$WHARF_CFN_LINT" "$t"
  echo "    clean"
  step "sam validate --lint $t"
  "$WHARF_SAM" validate --lint --region "$AWS_DEFAULT_REGION" -t "$t"
done

step "systemd unit infra/systemd/wharf-broker.service"
if command -v systemd-analyze >/dev/null 2>&1; then
  # verify wants the ExecStart binary to exist: point it at /bin/true, keep everything else.
  sed 's#^ExecStart=/usr/local/bin/wharf-broker#ExecStart=/bin/true#' infra/systemd/wharf-broker.service > "$tmp/wharf-broker.service"
  systemd-analyze verify "$tmp/wharf-broker.service"
  echo "    systemd-analyze verify: clean"
  # exposure 0 (locked down) .. 10 (unprotected); fail above 2.0
  systemd-analyze security --offline=yes --threshold=20 --no-pager "$tmp/wharf-broker.service" | tail -1
else
  echo "    systemd-analyze not installed: unit not verified" >&2
  exit 1
fi

step "the Lambda functions do not link the web console"
# The console (maud templates, vendored htmx and CSS) lives in the broker crate; the function
# zips must carry none of it. `cargo tree` reads the lock file only: no build.
for crate in wharf-producer wharf-consumer; do
  if cargo tree -p "$crate" -e normal --locked | grep -E ' (maud|wharf-broker) v'; then
    echo "check-deploy: $crate depends on the console's crates (above)" >&2
    exit 1
  fi
  echo "    $crate: no maud, no wharf-broker"
done

tarball=""
if [ "${WHARF_DEPLOY_SKIP_BUILD:-0}" != 1 ]; then
  step "sam build (both functions, arm64)"
  wharf_ensure_aarch64_target
  wharf_ensure_cargo_lambda
  s=$(date +%s)
  # A fresh build dir, so a failed build can never pass on the previous run's binaries.
  rm -rf .aws-sam/build
  if ! "$WHARF_SAM" build --template-file template.yaml --build-dir .aws-sam/build > "$tmp/sam-build.log" 2>&1; then
    cat "$tmp/sam-build.log" >&2
    echo "check-deploy: sam build failed" >&2
    exit 1
  fi
  grep -v -E '^\s*$|^\[\*\]|^Commands you can use|^=+$' "$tmp/sam-build.log" || true
  for f in Producer Consumer; do
    [[ "$(readelf -h .aws-sam/build/$f/bootstrap 2>/dev/null)" == *"Machine:"*"AArch64"* ]] \
      || { echo "check-deploy: .aws-sam/build/$f/bootstrap is missing or not aarch64" >&2; exit 1; }
    echo "    $f: $(du -h .aws-sam/build/$f/bootstrap | cut -f1) aarch64 bootstrap"
  done
  elapsed "$s"

  step "aarch64 broker tarball"
  s=$(date +%s)
  bash infra/broker/build-tarball.sh 2>&1 | tee "$tmp/tarball.log"
  tarball="$(tail -1 "$tmp/tarball.log")"
  listing="$(tar -tzf "$tarball")"
  for entry in bin/wharf-broker wharf-broker.service config.example.toml INSTALL.md; do
    grep -qx "wharf-broker-[^/]*/$entry" <<<"$listing" \
      || { echo "check-deploy: $entry missing from $tarball" >&2; exit 1; }
  done
  echo "    layout ok"
  elapsed "$s"
fi

step "deploy to LocalStack at $AWS_ENDPOINT_URL, verify, delete"
"$WHARF_TOOLS_PYTHON" infra/deploy/stacks.py check ${tarball:+--tarball "$tarball"}

echo
echo "check-deploy: all passed in $(( $(date +%s) - t0 )) s"
