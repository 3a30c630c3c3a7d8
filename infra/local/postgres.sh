#!/usr/bin/env bash
# A throwaway PostgreSQL for the coordination backend's tests (`broker/src/pg/`), from Debian's
# packages, on 127.0.0.1 and a free port.
#
#   bash infra/local/postgres.sh up     # install on first use (apt-get), initdb, start; prints env
#   bash infra/local/postgres.sh env    # `export WHARF_TEST_POSTGRES_URL=...` of the running server
#   bash infra/local/postgres.sh down   # stop the server this script started, remove its data
#
# `eval "$(bash infra/local/postgres.sh up)"` exports the URL for `cargo nextest run`.
#
# initdb refuses to run as root, so as root the server runs as the `postgres` system user (the
# package creates it); otherwise as the calling user. Its data directory and socket live in a
# temporary directory keyed by this checkout (WHARF_POSTGRES_DIR overrides it), not in the work
# tree, because the `postgres` user may not be able to enter the checkout. Authentication is
# `trust` on 127.0.0.1 only: the server holds test data and nothing else.
#
# Environment (all optional):
#   WHARF_POSTGRES_DIR    state directory (default /tmp/wharf-postgres.<checksum of the checkout>)
#   WHARF_POSTGRES_PORT   port (default: a free one, chosen at `up`)
#   WHARF_POSTGRES_BIN    directory of initdb/pg_ctl (default: the newest /usr/lib/postgresql/*/bin)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
state="${WHARF_POSTGRES_DIR:-/tmp/wharf-postgres.$(printf '%s' "$root" | cksum | cut -d' ' -f1)}"
data="$state/data"
host=127.0.0.1

bin_dir() {
  if [[ -n "${WHARF_POSTGRES_BIN:-}" ]]; then
    echo "$WHARF_POSTGRES_BIN"
    return
  fi
  local found
  found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  echo "$found"
}

install() {
  if [[ -n "$(bin_dir)" && -x "$(bin_dir)/initdb" ]]; then
    return
  fi
  echo "installing postgresql from Debian's packages" >&2
  if [[ "$(id -u)" -ne 0 ]]; then
    echo "postgresql is not installed and installing it needs root (apt-get install postgresql)" >&2
    exit 1
  fi
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
}

# Runs a command as the server's user.
as_owner() {
  if [[ "$(id -u)" -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

url() {
  echo "postgresql://wharf@$host:$(cat "$state/port")/wharf"
}

running() {
  [[ -f "$state/port" ]] && as_owner "$(bin_dir)/pg_ctl" -D "$data" status >/dev/null 2>&1
}

up() {
  install
  local bin
  bin="$(bin_dir)"
  if running; then
    echo "export WHARF_TEST_POSTGRES_URL=$(url)"
    return
  fi
  rm -rf "$state"
  mkdir -p "$state"
  echo "${WHARF_POSTGRES_PORT:-$(free_port)}" >"$state/port"
  if [[ "$(id -u)" -eq 0 ]]; then
    chown postgres: "$state"
  fi
  as_owner "$bin/initdb" -D "$data" -U wharf --auth=trust --no-sync -E UTF8 >"$state/initdb.log" 2>&1 || {
    cat "$state/initdb.log" >&2
    exit 1
  }
  # Throwaway data: no fsync, so the tests do not wait on the disk. Sockets in the state
  # directory (the default /var/run/postgresql may not exist).
  as_owner "$bin/pg_ctl" -D "$data" -l "$state/server.log" -w -t 60 \
    -o "-h $host -p $(cat "$state/port") -k $state -c fsync=off -c max_connections=200" start >&2 || {
    cat "$state/server.log" >&2
    exit 1
  }
  as_owner "$bin/createdb" -h "$host" -p "$(cat "$state/port")" -U wharf wharf
  echo "export WHARF_TEST_POSTGRES_URL=$(url)"
}

down() {
  if [[ -d "$data" ]] && [[ -n "$(bin_dir)" ]]; then
    as_owner "$(bin_dir)/pg_ctl" -D "$data" -m fast -w stop >&2 || true
  fi
  rm -rf "$state"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  env)
    if running; then
      echo "export WHARF_TEST_POSTGRES_URL=$(url)"
    else
      echo "no PostgreSQL started by this script is running (bash $0 up)" >&2
      exit 3
    fi
    ;;
  *)
    echo "usage: $0 up|down|env" >&2
    exit 2
    ;;
esac
