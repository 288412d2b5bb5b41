#!/usr/bin/env bash
# The test command of the README: installs what the tests need, then runs
# every crate's unit and integration tests (golden vectors included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo test --workspace --no-fail-fast 2>&1
# bounded fuzzing of untrusted-input parsers (set PV_FUZZ_SECS=0 to skip)
if [ "${PV_FUZZ_SECS:-20}" != "0" ]; then
  bash scripts/fuzz.sh "${PV_FUZZ_SECS:-20}"
fi
