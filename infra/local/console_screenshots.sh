#!/usr/bin/env bash
# Screenshots of every console page at 1280 px and 390 px into docs/console/, from a freshly
# seeded broker (debug build). Needs Debian's chromium: apt-get install -y chromium.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/docs/console"
mkdir -p "$out"
cargo build -q -p wharf-broker --manifest-path "$root/Cargo.toml"
bin="${CARGO_TARGET_DIR:-$root/target}/debug/wharf-broker"
data=$(mktemp -d)
profile=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
B="http://127.0.0.1:$port"
"$bin" --listen "127.0.0.1:$port" --data-dir "$data" >"$data/broker.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$data" "$profile"' EXIT
for _ in $(seq 50); do curl -sf "$B/health" >/dev/null && break; sleep 0.2; done

# seed: a topic with keyed JSON records and a value schema, a group with a live member, a DLQ
# with one record
curl -sf -XPOST "$B/v1/topics" -d '{"name":"order.order-service.created","partitions":3}' >/dev/null
curl -sf -XPOST "$B/v1/topics" -d '{"name":"order.order-service.created.dlq","partitions":1}' >/dev/null
for i in $(seq 1 30); do
  curl -sf -XPOST "$B/v1/topics/order.order-service.created/records" \
    -d "{\"records\":[{\"key\":\"order-$i\",\"value\":{\"id\":$i,\"sku\":\"A-$((i % 4))\"},\"headers\":{\"trace-id\":\"t-$i\"}}]}" >/dev/null
done
curl -sf -XPOST "$B/v1/topics/order.order-service.created.dlq/records" -d '{"records":[{"key":"order-7","value":{"id":7},
  "headers":{"wharf-dlq-error":"handler failed: out of stock","wharf-dlq-attempts":"3","wharf-dlq-source-topic":"order.order-service.created",
  "wharf-dlq-source-partition":"1","wharf-dlq-source-offset":"4","wharf-dlq-group":"inventory"}}]}' >/dev/null
curl -sf -XPOST "$B/schemas/subjects/order.order-service.created-value/versions" \
  -d '{"schemaType":"JSON","schema":"{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"},\"sku\":{\"type\":\"string\"}}}"}' >/dev/null
curl -sf -XPOST "$B/v1/groups/inventory/members" -d '{"topic":"order.order-service.created","member_id":"lambda-1","lease_ms":900000}' >/dev/null

pages=(
  "overview:/ui/"
  "topics:/ui/topics"
  "topic:/ui/topics/order.order-service.created"
  "search:/ui/topics/order.order-service.created/search?q=t-7&in_headers=1"
  "produce:/ui/topics/order.order-service.created/produce"
  "groups:/ui/groups"
  "group:/ui/groups/inventory"
  "dlq:/ui/dlq/order.order-service.created.dlq"
)
for entry in "${pages[@]}"; do
  name=${entry%%:*}
  path=${entry#*:}
  for width in 1280 390; do
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
      --disable-background-networking --disable-component-update --disable-sync \
      --user-data-dir="$profile" --hide-scrollbars --window-size="$width,1400" \
      --screenshot="$out/$name-$width.png" "$B$path" >/dev/null 2>&1
  done
done
ls "$out"
