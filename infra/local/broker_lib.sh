# Sourced by the check scripts that run a tool against the real broker binary:
#   source "$here/broker_lib.sh"; wharf_broker_bin; wharf_start_broker "$work" [broker args...]
# sets $bin, then $addr (host:port) and $broker_pid; wharf_stop_broker stops it by its PID.
# WHARF_BROKER_BIN picks a binary instead of building one (debug, as the test suite does).

wharf_broker_bin() {
  bin="${WHARF_BROKER_BIN:-}"
  if [[ -z "$bin" ]]; then
    (cd "$root" && cargo build -q -p wharf-broker --bin wharf-broker)
    bin="${CARGO_TARGET_DIR:-$root/target}/debug/wharf-broker"
  fi
}

wharf_start_broker() {
  local work="$1"
  shift
  "$bin" --data-dir "$work/data" --listen 127.0.0.1:0 --log-format json "$@" >"$work/broker.log" 2>&1 &
  broker_pid=$!
  addr=""
  for _ in $(seq 1 300); do
    addr="$(grep -o '"addr":"[^"]*"' "$work/broker.log" | head -1 | cut -d'"' -f4 || true)"
    [[ -n "$addr" ]] && return 0
    kill -0 "$broker_pid" 2>/dev/null || { cat "$work/broker.log"; return 1; }
    sleep 0.1
  done
  echo "broker did not report its address"
  cat "$work/broker.log"
  return 1
}

wharf_stop_broker() {
  if [[ -n "${broker_pid:-}" ]]; then
    kill "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
    broker_pid=""
  fi
}

# wharf_venv DIR PACKAGE...: a virtualenv at DIR holding exactly these pinned packages, made on
# first use (or when the pins change) and reused after. WHARF_PYTHON picks the interpreter.
wharf_venv() {
  local venv="$1"
  shift
  local marker="$venv/.wharf-install" wanted
  wanted="$(printf '%s\n' "$@")"
  if [[ ! -f "$marker" || "$(cat "$marker")" != "$wanted" ]]; then
    echo "installing $* into ${venv#"$root/"} (first use)"
    rm -rf "$venv"
    "${WHARF_PYTHON:-python3}" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "$@"
    printf '%s' "$wanted" >"$marker"
  fi
}
