#!/usr/bin/env bash
# A dedicated crash-injection run: N runs of the crash harness (default
# 13000, which injects about 10,000 crashes; ~0.4 s each on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
PV_CRASH_ITERATIONS=${1:-13000} PV_CRASH_REPORT=${PV_CRASH_REPORT:-crash-report.txt} \
  cargo test -q -p pantavisor --test crash -- --nocapture 2>&1 | grep -E "crash harness|panicked|test result"
