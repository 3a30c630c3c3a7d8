# shellcheck shell=bash
# Tools of the deployment checks, installed on first use into ignored folders of this checkout:
#   infra/local/.tools/sam-venv     aws-sam-cli + cfn-lint (+ boto3, which SAM brings along)
#   infra/local/.tools/lambda-venv  cargo-lambda + ziglang (shared with infra/local/stack.sh)
# plus the Rust target aarch64-unknown-linux-gnu (Lambda arm64 and the Graviton broker host).
#
# Source it, then call the wharf_ensure_* functions; each prints what it installs and exits the
# shell on failure (set -e in the caller).

wharf_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
wharf_tools="$wharf_root/infra/local/.tools"
export SAM_CLI_TELEMETRY=0

wharf_python() {
  # Python 3.10+ with venv; the project's machines have CPython 3.11.
  command -v python3 || { echo "python3 is required" >&2; return 1; }
}

wharf_ensure_sam() {
  local venv="$wharf_tools/sam-venv"
  if [ ! -x "$venv/bin/sam" ] || [ ! -x "$venv/bin/cfn-lint" ]; then
    echo "installing aws-sam-cli and cfn-lint into $venv (about 90 s)"
    "$(wharf_python)" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check aws-sam-cli cfn-lint
  fi
  WHARF_SAM="$venv/bin/sam"
  WHARF_CFN_LINT="$venv/bin/cfn-lint"
  WHARF_TOOLS_PYTHON="$venv/bin/python"
  export WHARF_SAM WHARF_CFN_LINT WHARF_TOOLS_PYTHON
}

wharf_ensure_cargo_lambda() {
  # Accept a cargo-lambda already on PATH (e.g. put there by infra/local/stack.sh).
  if cargo lambda --version >/dev/null 2>&1; then
    if command -v zig >/dev/null 2>&1 || python3 -c 'import ziglang' >/dev/null 2>&1; then
      return 0
    fi
  fi
  local venv="$wharf_tools/lambda-venv"
  if [ ! -x "$venv/bin/cargo-lambda" ] || ! "$venv/bin/python" -c 'import ziglang' >/dev/null 2>&1; then
    echo "installing cargo-lambda and ziglang into $venv"
    "$(wharf_python)" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check cargo-lambda ziglang
  fi
  # cargo-lambda finds zig as `python3 -m ziglang`, so the venv's python must come first too.
  export PATH="$venv/bin:$PATH"
}

wharf_ensure_aarch64_target() {
  if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    echo "adding the Rust target aarch64-unknown-linux-gnu"
    rustup target add aarch64-unknown-linux-gnu
  fi
}
