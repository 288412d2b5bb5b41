#!/usr/bin/env bash
# xconnect's unix and rest proxies against a direct Unix socket connection,
# measured in the same run by one process (crates/pv-xconnect/examples/
# xconnect_bench.rs). ROUNDS rounds (default 7); each measures direct and
# proxied in turn: p50 round-trip latency of 64-byte echoes / small GETs
# (20,000 each; added = proxied - direct, target < 50 us) and one-way
# throughput over 1 GiB (256 KiB writes / 16 MiB POST bodies; ratio
# proxied / direct, target >= 0.8), and the process's CPU seconds per
# GiB during each throughput run (direct/proxied: what the proxy costs,
# less disturbed by other load than the wall clock). Reports the medians
# over the rounds and the machine's load average before and after.
# Usage: bench/xconnect.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-7}
cargo build --release -q -p pv-xconnect --example xconnect_bench
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cpus)"
target/release/examples/xconnect_bench "$ROUNDS"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
