#!/usr/bin/env bash
# xconnect's unix and rest proxies against a direct Unix socket connection,
# measured in the same run by one process (crates/pv-xconnect/examples/
# xconnect_bench.rs): p50 round-trip latency of 64-byte echoes / small GETs
# (20,000 each; added = proxied - direct, target < 50 us) and one-way
# throughput over 2 GiB (256 KiB writes / 16 MiB POST bodies; ratio
# proxied / direct, target >= 0.8). Run it REPS times (default 3).
# Usage: bench/xconnect.sh [REPS]
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-3}
cargo build --release -q -p pv-xconnect --example xconnect_bench
BIN=$PWD/target/release/examples/xconnect_bench
for rep in $(seq "$REPS"); do
    echo "run $rep:"
    "$BIN" | sed 's/^/  /'
done
