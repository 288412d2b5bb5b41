#!/usr/bin/env bash
# A dedicated crash-injection run: N crash runs of the crash harness
# (default 10200, which injects more than 10,000 crashes: every fault point
# of every scenario, the rest at random instants; about an hour on 2 cores
# with PV_CRASH_JOBS=2). Prints the summary lines and any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
PV_CRASH_ITERATIONS=${1:-10200} PV_CRASH_REPORT=${PV_CRASH_REPORT:-crash-report.txt} \
  cargo test -q -p pantavisor --test crash -- --nocapture 2>&1 \
  | grep -E "crash harness|panicked|test result"
