#!/usr/bin/env bash
# The test command of the README: installs what the tests need, checks
# formatting (rustfmt) and lints (clippy, warnings denied), fuzzes the
# untrusted-input parsers for a bounded time, then runs every crate's unit
# and integration tests (golden vectors included), the VM suite and the
# image suite's CI form (power cuts included).
#
# A test needing root or a tool that is missing fails under CI (`CI` set,
# as .ci/run does) and is counted as skipped elsewhere (crate pv-testkit
# decides); the count per reason is printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
# what this run lacks: root? tools?
cargo run -q -p pv-testkit --bin pv-prereqs
# formatting and lints first: a failure here stops the run
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
# bounded fuzzing (PV_FUZZ_SECS=0 skips it)
if [ "${PV_FUZZ_SECS:-20}" != "0" ]; then
  bash scripts/fuzz.sh "${PV_FUZZ_SECS:-20}"
fi
target=$(realpath -m "${CARGO_TARGET_DIR:-target}")
mkdir -p "$target"
export PV_SKIP_LOG="$target/skips.log"
: >"$PV_SKIP_LOG"
status=0
# build first: once it succeeded, the VM and image suites take pvr and
# pvimage from here instead of `cargo build -p`, which resolves features
# without the dev-dependencies and compiles ~60 crates a second time
if cargo test --workspace --no-run 2>&1; then export PV_HOST_BINS_FRESH=1; fi
cargo test --workspace --no-fail-fast 2>&1 || status=$?
# the VM suite (modules, dm-crypt): ~1 min under QEMU; PV_VM_TEST=0 skips it
if [ "${PV_VM_TEST:-1}" != "0" ]; then
  bash scripts/vm-test.sh || status=$?
  # pantavisor as PID 1 (static build, two boots, no storage): ~3 min
  bash scripts/vm-test.sh pid1 || status=$?
elif [ -n "${CI:-}" ] && [ "$CI" != "0" ] && [ "$CI" != "false" ]; then
  echo "PV_VM_TEST=0 under CI: the VM suite must run" >&2
  status=1
else
  printf 'PV_VM_TEST=0\tvm-test\n' >>"$PV_SKIP_LOG"
fi
# the image suite's CI form under QEMU (GRUB's try-boot, boot, an app
# update, 10 power cuts of app and BSP updates: ~10 min; the whole suite:
# bash scripts/image-test.sh); PV_IMAGE_TEST=0 skips it
if [ "${PV_IMAGE_TEST:-1}" != "0" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    bash scripts/image-test.sh --ci || status=$?
  elif [ -n "${CI:-}" ] && [ "$CI" != "0" ] && [ "$CI" != "false" ]; then
    echo "image-test needs root under CI" >&2
    status=1
  else
    printf 'no root\timage-test\n' >>"$PV_SKIP_LOG"
  fi
elif [ -n "${CI:-}" ] && [ "$CI" != "0" ] && [ "$CI" != "false" ]; then
  echo "PV_IMAGE_TEST=0 under CI: the image suite must run" >&2
  status=1
else
  printf 'PV_IMAGE_TEST=0\timage-test\n' >>"$PV_SKIP_LOG"
fi
skipped=$(wc -l <"$PV_SKIP_LOG")
if [ "$skipped" -eq 0 ]; then
  echo "no test skipped"
else
  cut -f1 "$PV_SKIP_LOG" | sort | uniq -c | sort -rn | while read -r n reason; do
    if [ "$n" -eq 1 ]; then echo "1 test skipped: $reason"; else echo "$n tests skipped: $reason"; fi
  done
  echo "(the skipped tests are listed in $PV_SKIP_LOG)"
fi
exit "$status"
