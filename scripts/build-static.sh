#!/usr/bin/env bash
# Build the device binaries: `pantavisor`, `pv-xconnect` and `pv-hub-agent` linked
# statically (musl when its target is installed, else glibc with
# +crt-static), in the `static` profile (size over speed, stripped). Prints
# the path of `pantavisor` on stdout (build output goes to stderr;
# `pv-xconnect` and `pv-hub-agent` are beside it, where `pvimage bsp` and
# the runtime look for them), so that callers can do
#
#   PV=$(bash scripts/build-static.sh)
#
# Environment: CARGO_TARGET_DIR is honoured; PV_STATIC_TARGET forces the
# target triple. `pantavisor` is the initramfs's /init (PID 1, embedded
# mode) and also runs appengine mode and the container init stage.
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
# address randomisation of the binary's own image; no unwind tables for our
# code (panic=abort never unwinds; a panic's backtrace is shorter)
RUSTFLAGS="${RUSTFLAGS:-} -C relocation-model=static -C force-unwind-tables=no"
if [ "$TARGET" = x86_64-unknown-linux-gnu ]; then
  RUSTFLAGS="$RUSTFLAGS -C target-feature=+crt-static"
else
  # nor for std, musl and ring's C code: their unwind tables are left out at
  # link time (see the script)
  RUSTFLAGS="$RUSTFLAGS -C link-arg=-Wl,--no-eh-frame-hdr -C link-arg=-Wl,-T,$ROOT/scripts/static-no-unwind.ld"
fi
export RUSTFLAGS
# std itself is compiled in this profile too (opt-level z, LTO with our
# code, without unwind tables) and without its `backtrace` feature (the
# DWARF symbolizer a stripped binary cannot use; a panic still prints its
# message and location): 0.33 MB less. That needs the toolchain's rust-src
# (scripts/deps.sh) and cargo's `-Z build-std`, enabled on the stable
# compiler for this one command by RUSTC_BOOTSTRAP; without rust-src, the
# precompiled std is linked.
BUILD_STD=()
SYSROOT=$(rustc --print sysroot)
if [ -d "$SYSROOT/lib/rustlib/src/rust/library/std" ]; then
  BUILD_STD=(-Z build-std=std,panic_abort -Z build-std-features=)
  export RUSTC_BOOTSTRAP=1
else
  echo "build-static: no rust-src in $SYSROOT: linking the precompiled std (bigger)" >&2
fi
echo "building pantavisor ($TARGET, profile static)" >&2
cargo build -q --profile static -p pantavisor --target "$TARGET" "${BUILD_STD[@]}" >&2
DIR="$(realpath -m "${CARGO_TARGET_DIR:-$ROOT/target}")/$TARGET/static"
for b in pantavisor pv-xconnect pv-hub-agent; do
  if ! file "$DIR/$b" | grep -q "statically linked\|static-pie linked"; then
    echo "build-static: $DIR/$b is not statically linked: $(file -b "$DIR/$b")" >&2
    exit 1
  fi
  echo "build-static: $b $(stat -c %s "$DIR/$b") bytes" >&2
done
echo "$DIR/pantavisor"
