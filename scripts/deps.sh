#!/usr/bin/env bash
# Installs the Debian packages the build, the tests and the demo need.
# Safe to run again; does nothing when everything is present.
set -euo pipefail
need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
# build-essential (C/C++ compilers, make): aws-lc-sys (rustls' crypto) and
# libfuzzer-sys compile C/C++, no cmake needed; pkg-config and ca-certificates
# for crates and downloads; curl: the pv-ctrl and pvtx API curl tests and bench/update.sh.
# qemu-system-x86, cryptsetup-bin, kmod, cpio, xz-utils: the VM suite (scripts/vm-test.sh)
# tmux: the pantabox terminal test; chromium, chromium-driver: the web page test
# postgresql: ph-store's PostgreSQL backend test (a throwaway cluster, crates/ph-store/tests/backends.rs)
# dbus-daemon: the xconnect D-Bus test runs a real bus inside a container
# grub-pc-bin: pvimage's BIOS disk images (crates/pv-image, scripts/image-test.sh)
# python3-venv: the venv moto_server is installed into (below)
# musl-tools: musl-gcc, the C compiler of ring (rustls) for the static musl pantavisor
for p in build-essential pkg-config ca-certificates curl \
  squashfs-tools busybox-static docker-registry skopeo python3 openssl grub-common \
  qemu-system-x86 cryptsetup-bin kmod cpio xz-utils e2fsprogs file grub-pc-bin \
  tmux chromium chromium-driver postgresql dbus-daemon python3-venv musl-tools; do
  have "$p" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# moto_server: the S3-compatible store the hub's scale-out test starts
# (crates/pantahub/tests/scaleout.rs), from PyPI into its own venv
if ! command -v moto_server >/dev/null; then
  echo "installing moto[server] into /opt/pv-moto" >&2
  python3 -m venv /opt/pv-moto
  /opt/pv-moto/bin/pip install -q 'moto[server]' >&2
  ln -sf /opt/pv-moto/bin/moto_server /usr/local/bin/moto_server
fi
# the checks of scripts/test.sh (cargo fmt, cargo clippy), the static build
if command -v rustup >/dev/null; then
  # rust-src: scripts/build-static.sh builds std for the device binaries
  for c in rustfmt clippy rust-src; do
    rustup component list --installed | grep -q "^$c" || rustup component add "$c" >&2
  done
fi
# the VM suite's static check program
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx x86_64-unknown-linux-musl; then
  rustup target add x86_64-unknown-linux-musl >&2 ||
    echo "no musl target: scripts/vm-test.sh links glibc statically instead" >&2
fi
