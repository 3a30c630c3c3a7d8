#!/usr/bin/env bash
# Reproduces the README's Performance table: workload W against a release broker, and Redis
# Streams side by side on the same machine.
#
#   infra/bench/run.sh            # build release, start broker + redis, run everything
#   SKIP_BUILD=1 infra/bench/run.sh
#
# Workload W: one topic, 4 partitions, 1,000,000 records of 100 B, one producer sending batches
# of 1,000, then one consumer fetching batches of 1,000. Results (wharf bench JSON, redis CSV,
# the table) go to infra/bench/results/ (git-ignored). Settings: PORT (18090), REDIS_PORT (6390),
# RECORDS (1000000), CARGO_TARGET_DIR (target).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
port="${PORT:-18090}"
redis_port="${REDIS_PORT:-6390}"
records="${RECORDS:-1000000}"
results="$root/infra/bench/results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$results"

if [[ -z "${SKIP_BUILD:-}" ]]; then
    cargo build --release --locked -p wharf-broker -p wharf-cli
fi
broker_bin="$target/release/wharf-broker"
wharf_bin="$target/release/wharf"

data_dir="$(mktemp -d)"
broker_pid=""
redis_started=""
cleanup() {
    if [[ -n "$broker_pid" ]]; then
        kill "$broker_pid" 2>/dev/null || true
        wait "$broker_pid" 2>/dev/null || true
    fi
    if [[ -n "$redis_started" ]]; then
        redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
    fi
    rm -rf "$data_dir"
}
trap cleanup EXIT

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$results/load.txt"

RUST_LOG=warn "$broker_bin" --data-dir "$data_dir" --listen "127.0.0.1:$port" \
    >"$results/broker.log" 2>&1 &
broker_pid=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
    sleep 0.1
done
url="http://127.0.0.1:$port"

# name, then wharf bench arguments
bench() {
    local name="$1"
    shift
    echo "== $name: wharf bench $*" | tee -a "$results/commands.txt"
    "$wharf_bin" --url "$url" bench --json "$results/$name.json" "$@" | tee "$results/$name.txt"
    echo "   load average: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$results/load.txt"
}

common=(--records "$records" --record-bytes 100 --batch-size 1000 --partitions 4)
bench binary-leader --mode produce-consume --acks leader --encoding binary "${common[@]}"
bench binary-all --mode produce --acks all --encoding binary "${common[@]}"
bench json-leader --mode produce-consume --acks leader --encoding json "${common[@]}"
bench single-leader --single --acks leader --encoding binary --records 10000 --partitions 4
bench single-all --single --acks all --encoding binary --records 10000 --partitions 4

# Redis Streams: the same 1,000,000 records of 100 B. Produce: XADD pipelined 1,000 deep from
# one connection (one round trip per 1,000 records, as a wharf batch). Consume: XREADGROUP
# COUNT 1000 from one connection, one call at a time (as the wharf consumer's fetches).
if ! redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
    redis-server --port "$redis_port" --save '' --appendonly no --daemonize yes >/dev/null
    redis_started=1
    for _ in $(seq 50); do
        redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
        sleep 0.1
    done
fi
redis-cli -p "$redis_port" del wbench >/dev/null
value="$(head -c 100 /dev/zero | tr '\0' 'x')"
echo "== redis XADD: redis-benchmark -p $redis_port -c 1 -P 1000 -n $records XADD wbench '*' v <100 B>" |
    tee -a "$results/commands.txt"
redis-benchmark -p "$redis_port" -c 1 -P 1000 -n "$records" --csv XADD wbench '*' v "$value" \
    >"$results/redis-xadd.csv"
echo "   load average: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$results/load.txt"
redis-cli -p "$redis_port" xgroup create wbench g 0 >/dev/null
reads=$((records / 1000))
echo "== redis XREADGROUP: redis-benchmark -p $redis_port -c 1 -P 1 -n $reads XREADGROUP GROUP g c COUNT 1000 NOACK STREAMS wbench '>'" |
    tee -a "$results/commands.txt"
redis-benchmark -p "$redis_port" -c 1 -P 1 -n "$reads" --csv \
    XREADGROUP GROUP g c COUNT 1000 NOACK STREAMS wbench '>' >"$results/redis-xreadgroup.csv"
echo "   load average: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$results/load.txt"
redis-cli -p "$redis_port" del wbench >/dev/null

python3 - "$results" <<'EOF' | tee "$results/table.md"
import csv, json, sys, pathlib
d = pathlib.Path(sys.argv[1])
def phase(name, which):
    for p in json.loads((d / f"{name}.json").read_text())["phases"]:
        if p["phase"] == which:
            return p
def redis_rps(name):
    rows = list(csv.reader((d / name).read_text().splitlines()))
    return float(rows[-1][1])
xadd = redis_rps("redis-xadd.csv")
xread = redis_rps("redis-xreadgroup.csv") * 1000
rows = [
    ("produce, binary, acks=leader", phase("binary-leader", "produce")["records_per_s"], "≥ 2.2 M/s", xadd),
    ("produce, binary, acks=all", phase("binary-all", "produce")["records_per_s"], "≥ 1.0 M/s", xadd),
    ("consume, binary", phase("binary-leader", "consume")["records_per_s"], "≥ 1.5 M/s", xread),
    ("produce, JSON, acks=leader", phase("json-leader", "produce")["records_per_s"], "≥ 0.6 M/s", xadd),
    ("consume, JSON", phase("json-leader", "consume")["records_per_s"], "-", xread),
]
print("| workload W | wharf records/s | target | Redis Streams records/s | wharf / Redis |")
print("|---|---:|---|---:|---:|")
for name, v, target, r in rows:
    print(f"| {name} | {v/1e6:.2f} M | {target} | {r/1e6:.2f} M | {v/r:.2f} |")
for name, target in (("single-leader", "≤ 200 µs"), ("single-all", "≤ 1,000 µs")):
    l = phase(name, "produce")["latency"]
    print(f"| single-record produce p99, {name.split('-')[1]} | p50 {l['p50_us']} µs, p99 {l['p99_us']} µs | {target} | | |")
EOF
echo "results in $results"
