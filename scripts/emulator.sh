#!/usr/bin/env bash
# Try an embedded Pantavisor device on this machine: builds a disk image of
# the demo revision (Debian's kernel, our initramfs with the static
# pantavisor as PID 1, GRUB, a platform container `pvnet` that brings the
# network up with DHCP on QEMU's user network, and an app container) and
# boots it in QEMU with the serial console on this terminal. The device's
# LAN endpoint is forwarded to 127.0.0.1:12368 for pvr.
#
#   sudo bash scripts/emulator.sh          (Ctrl-A X quits QEMU)
#
# Installs what it needs with apt (qemu-system-x86, grub-pc-bin, busybox-
# static, ...; Debian's kernel package is downloaded and unpacked, never
# installed). Everything lives in ./emulator/ (the disk image keeps the
# device's state between runs; EMULATOR_FRESH=1 starts from a new image).
# Software emulation (TCG): a stock kernel hangs under KVM on nested hosts;
# EMULATOR_KVM=1 uses KVM where it really boots.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
[ "$(id -u)" -eq 0 ] || { echo "run as root (sudo): apt installs" >&2; exit 1; }
bash scripts/deps.sh
IMG_WORK=$ROOT/emulator
mkdir -p "$IMG_WORK"
# shellcheck source=scripts/image-lib.sh
. scripts/image-lib.sh

img_kernel
img_modules
img_binaries
DISK=$IMG_WORK/disk.img
TOKEN_FILE=$IMG_WORK/token
if [ ! -f "$DISK" ] || [ -n "${EMULATOR_FRESH:-}" ]; then
  openssl rand -hex 16 >"$TOKEN_FILE"
  img_config "$(cat "$TOKEN_FILE")" >"$IMG_WORK/pantavisor.config"
  export PVR_CONFIG_DIR=$IMG_WORK/pvr-config
  log "the demo revision (kernel $KVER)"
  img_demo_checkout "$IMG_WORK/device" "console=ttyS0,115200 panic=5 no_timer_check" "$IMG_WORK/pantavisor.config"
  log "the disk image"
  "$PVIMAGE" build --state "$IMG_WORK/device" --out "$DISK" --size 1G
fi
TOKEN=$(cat "$TOKEN_FILE")
cat <<EOF

  Once the device is up (about a minute under emulation), from another terminal:

    PVR_AUTH=$TOKEN $PVR clone http://127.0.0.1:$IMG_LAN_PORT/cgi-bin my-device
    cd my-device   # change something, pvr add . && pvr commit
    PVR_AUTH=$TOKEN $PVR post http://127.0.0.1:$IMG_LAN_PORT

  Status page of the demo's pvnet container: curl http://127.0.0.1:$IMG_PROBE_PORT/cgi-bin/status
  Quit QEMU: Ctrl-A X. The disk image stays in $DISK.

EOF
accel=tcg
[ -z "${EMULATOR_KVM:-}" ] || accel=kvm
exec qemu-system-x86_64 -machine "accel=$accel" -cpu max -m 512 -nographic \
  -drive "file=$DISK,format=raw,if=virtio" \
  -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$IMG_LAN_PORT-:$IMG_LAN_PORT,hostfwd=tcp:127.0.0.1:$IMG_PROBE_PORT-:$IMG_PROBE_PORT" \
  -device virtio-net-pci,netdev=n0
