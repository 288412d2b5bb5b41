#!/usr/bin/env bash
# The test command of the README: installs what the tests need, fuzzes the
# untrusted-input parsers for a bounded time, then runs every crate's unit
# and integration tests (golden vectors included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
# bounded fuzzing (PV_FUZZ_SECS=0 skips it)
if [ "${PV_FUZZ_SECS:-20}" != "0" ]; then
  bash scripts/fuzz.sh "${PV_FUZZ_SECS:-20}"
fi
cargo test --workspace --no-fail-fast 2>&1
# the VM suite (modules, dm-crypt): ~1 min under QEMU; PV_VM_TEST=0 skips it
if [ "${PV_VM_TEST:-1}" != "0" ]; then
  bash scripts/vm-test.sh
fi
