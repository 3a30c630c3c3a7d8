#!/usr/bin/env bash
# The end-to-end suite (crate wharf-e2e, tests/) with every broker on https:// and a private CA.
#
#   bash infra/local/tls_e2e.sh
#
# Makes a throwaway CA and a server certificate for 127.0.0.1 and localhost (openssl, or the
# broker's `tls_certs` example where openssl is missing) in a temporary directory, then runs the
# suite with WHARF_TEST_TLS_DIR pointing at it (the test kit starts each broker with that
# certificate and hands out https:// URLs) and SSL_CERT_FILE at the CA, which every Wharf client
# trusts through rustls-native-certs: the tests' own clients and the functions under
# `cargo lambda watch`, which inherit the variable. LocalStack stays plain http.
#
# Uses the LocalStack already running if there is one (and leaves it running); otherwise starts
# it and stops it again on exit. Exits non-zero if a test fails.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

say() { printf '[tls-e2e] %s\n' "$*" >&2; }

pki="$(mktemp -d)"
cleanup=(rm -rf "$pki")
trap '"${cleanup[@]}"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if command -v openssl >/dev/null; then
  (
    cd "$pki"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
      -subj "/CN=wharf e2e ca" -keyout ca-key.pem -out ca.pem \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -subj "/CN=127.0.0.1" -keyout key.pem -out cert.csr 2>/dev/null
    printf '%s\n' "basicConstraints=critical,CA:FALSE" \
      "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
      "subjectAltName=IP:127.0.0.1,DNS:localhost" >cert.ext
    openssl x509 -req -in cert.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
      -extfile cert.ext -out cert.pem 2>/dev/null
    rm -f ca-key.pem cert.csr cert.ext ca.srl
  )
  say "certificates made with $(openssl version | cut -d' ' -f1-2)"
else
  cargo run -q --locked -p wharf-broker --example tls_certs -- "$pki"
  say "certificates made with rcgen (no openssl on PATH)"
fi

# Build before SSL_CERT_FILE narrows the trusted roots to the private CA: cargo may still have
# crates to download.
cargo test -p wharf-e2e --locked --no-run

stack="$here/stack.sh"
if bash "$stack" status >/dev/null 2>&1; then
  say "LocalStack is already running; it stays up"
else
  cleanup=(sh -c 'bash "$1" down --localstack-only; rm -rf "$2"' _ "$stack" "$pki")
  bash "$stack" up --localstack-only
fi
eval "$(bash "$stack" env)"

export WHARF_TEST_TLS_DIR="$pki"
export SSL_CERT_FILE="$pki/ca.pem"
started=$(date +%s)
# One scenario at a time, as `.config/nextest.toml` runs them: each starts a broker and
# `cargo lambda watch`, and on two cores parallel ones miss each other's deadlines.
cargo test -p wharf-e2e --locked -- --test-threads=1
say "e2e over tls passed in $(($(date +%s) - started)) s"
