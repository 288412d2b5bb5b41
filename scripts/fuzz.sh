#!/usr/bin/env bash
# Bounded fuzzing of the parsers of untrusted input (state JSON, export
# archives, signatures as the device reads them).
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 20)
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-20}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
# cargo-fuzz needs unstable flags; the stable toolchain allows them this way
export RUSTC_BOOTSTRAP=1
for t in state_json export_archive device_signatures ctrl_request lan_request; do
  echo "fuzzing $t for ${secs}s"
  cargo fuzz run "$t" -- -max_total_time="$secs" -rss_limit_mb=2048 2>&1 | grep -E "^Done|SUMMARY|panicked|ERROR" || true
  if [ -n "$(ls artifacts/$t 2>/dev/null)" ]; then echo "fuzz target $t found a crash: fuzz/artifacts/$t"; exit 1; fi
done
