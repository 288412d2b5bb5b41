#!/usr/bin/env bash
# Build the device binary: `pantavisor` linked statically (musl when its
# target is installed, else glibc with +crt-static), in the `static` profile
# (size over speed, stripped). Prints the binary's path on stdout (build
# output goes to stderr), so that callers can do
#
#   PV=$(bash scripts/build-static.sh)
#
# Environment: CARGO_TARGET_DIR is honoured; PV_STATIC_TARGET forces the
# target triple. The binary is the initramfs's /init (PID 1, embedded mode)
# and also runs appengine mode and the container init stage.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET=${PV_STATIC_TARGET:-}
if [ -z "$TARGET" ]; then
  if rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl; then
    TARGET=x86_64-unknown-linux-musl
  else
    TARGET=x86_64-unknown-linux-gnu
  fi
fi
# not position-independent: smaller (no relocation table), at the price of
# address randomisation of the binary's own image
RUSTFLAGS="${RUSTFLAGS:-} -C relocation-model=static"
if [ "$TARGET" = x86_64-unknown-linux-gnu ]; then
  RUSTFLAGS="$RUSTFLAGS -C target-feature=+crt-static"
fi
export RUSTFLAGS
echo "building pantavisor ($TARGET, profile static)" >&2
cargo build -q --profile static -p pantavisor --target "$TARGET" >&2
BIN="$(realpath -m "${CARGO_TARGET_DIR:-$ROOT/target}")/$TARGET/static/pantavisor"
if ! file "$BIN" | grep -q "statically linked\|static-pie linked"; then
  echo "build-static: $BIN is not statically linked: $(file -b "$BIN")" >&2
  exit 1
fi
echo "build-static: $(stat -c %s "$BIN") bytes" >&2
echo "$BIN"
