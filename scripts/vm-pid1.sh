#!/usr/bin/env bash
# The PID-1 case of the VM suite (`bash scripts/vm-test.sh pid1`, which
# fetches the kernel and calls this with WORK, KVER, KSRC, VMLINUZ set):
# Debian's kernel boots directly (no bootloader) into an initramfs whose
# /init is the static pantavisor, with pv-xconnect and pv-hub-agent beside it, and nothing
# else but the modules the storage needs; the storage is an ext4 image labelled pvroot, built
# without root by `mkfs.ext4 -d` from a directory seeded with a demo
# revision (`pantavisor --seed-only`).
#
# 1. the boot reaches every status goal (both containers started), seen on
#    the serial console; Ctrl-Alt-Del (QEMU's monitor) makes PID 1 stop the
#    containers and reboot, and the VM comes back on the same storage;
#    the storage image then holds the GRUB env and revision 0 DONE;
# 2. without a storage, PID 1 says why on the console and tries again,
#    and the kernel does not panic.
# Prints the time from kernel start to all goals, PID 1's and the main
# loop's idle RSS, and the binary's size. Exit 0 only if all of it held.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
cd "$(dirname "$0")/.."
ROOT=$PWD
: "${WORK:?}" "${KVER:?}" "${KSRC:?}" "${VMLINUZ:?}"
TIMEOUT=${PV_VM_TIMEOUT:-300}
P="$WORK/pid1"
rm -rf "$P"
mkdir -p "$P"
fail=0
check() { # check NAME CONDITION...
  local name=$1
  shift
  if "$@"; then echo "PID1-PASS $name"; else echo "PID1-FAIL $name"; fail=1; fi
}

# 1. binaries: the static pantavisor (the initramfs's /init), pvr (host)
PV=$(bash scripts/build-static.sh)
[ -n "${PV_HOST_BINS_FRESH:-}" ] || cargo build -q -p pvr   # set by scripts/test.sh
PVR="$(realpath -m "${CARGO_TARGET_DIR:-$ROOT/target}")/debug/pvr"

# 2. the demo revision: a busybox rootfs, a mgmt platform and an app
export PVR_CONFIG_DIR="$P/pvr-config"
mkdir -p "$P/rootfs/bin" "$P/device"
cp /bin/busybox "$P/rootfs/bin/busybox"
for a in sh sleep date; do ln -sf busybox "$P/rootfs/bin/$a"; done
printf '{"Cmd":["/bin/sh","-c","while true; do date; sleep 5; done"],"Env":["PATH=/bin"]}' >"$P/app.json"
printf '{"Cmd":["/bin/sh","-c","exec sleep 1000000"],"Env":["PATH=/bin"]}' >"$P/mgmt.json"
(
  cd "$P/device"
  "$PVR" init
  "$PVR" app add demo-mgmt --from "$P/rootfs" --type rootfs --group platform \
    --config-json "$P/mgmt.json" --arg 'PV_ROLES=["mgmt"]' --volume /var/data:permanent
  "$PVR" app add demo-app --from "$P/rootfs" --type rootfs --group app --config-json "$P/app.json"
  "$PVR" add . && "$PVR" commit -m "vm demo"
  "$PVR" export "$P/demo.pvrexport.tgz"
) >&2

# 3. the storage: seeded directory → ext4 image labelled pvroot (no root
# needed for this step: mkfs.ext4 -d)
cat >"$P/pantavisor.config" <<'EOF'
PV_BOOTLOADER_TYPE=grub
PV_LOG_LEVEL=4
PV_STORAGE_WAIT=3
EOF
"$PV" --seed-only --storage "$P/storage" --run-dir "$P/seed-run" \
  --config "$P/pantavisor.config" --factory "$P/demo.pvrexport.tgz" >&2
truncate -s 256M "$P/storage.img"
mkfs.ext4 -q -F -L pvroot -d "$P/storage" "$P/storage.img"
truncate -s 64M "$P/blank.img"

# 4. the initramfs: /init, its config, the modules storage and containers
# need (virtio disk, ext4, loop, squashfs, overlay) from the kernel package
IRD="$P/initramfs"
mkdir -p "$IRD/etc" "$IRD/lib/modules/$KVER"
install -m 755 "$PV" "$IRD/init"
install -m 755 "$(dirname "$PV")/pv-xconnect" "$IRD/pv-xconnect"
install -m 755 "$(dirname "$PV")/pv-hub-agent" "$IRD/pv-hub-agent"
cp "$P/pantavisor.config" "$IRD/etc/pantavisor.config"
[ -f "$KSRC/modules.dep" ] || depmod -b "$WORK/kroot" "$KVER"
want="virtio_pci virtio_blk ext4 crc32c_generic loop squashfs overlay"
files=$(for m in $want; do
  grep -E "(^|/)${m//-/[-_]}\.ko[^:]*:" "$KSRC/modules.dep" | head -n1 | tr -d ':' | tr ' ' '\n'
done | sort -u)
for f in $files; do install -D -m 644 "$KSRC/$f" "$IRD/lib/modules/$KVER/$f"; done
cp "$KSRC"/modules.builtin "$KSRC"/modules.builtin.modinfo "$KSRC"/modules.order "$IRD/lib/modules/$KVER/"
depmod -b "$IRD" "$KVER"
(cd "$IRD" && find . | cpio -o -H newc --quiet | gzip -1) >"$P/initramfs.cpio.gz"

monitor() { # monitor SOCKET COMMAND: one QEMU monitor command
  python3 - "$1" "$2" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
time.sleep(0.3)
s.sendall(sys.argv[2].encode() + b"\n")
time.sleep(0.5)
s.close()
EOF
}
wait_for() { # wait_for LOG PATTERN COUNT SECONDS
  local i=0
  while [ "$(grep -ac -- "$2" "$1" 2>/dev/null || true)" -lt "$3" ]; do
    i=$((i + 1))
    [ "$i" -le "$(($4 * 2))" ] || return 1
    sleep 0.5
  done
}
qemu() { # qemu NAME DISK: start a VM in the background
  local name=$1 disk=$2
  qemu-system-x86_64 -machine q35,accel=tcg -cpu max -m 512 -nographic \
    -monitor "unix:$P/$name.mon,server=on,wait=off" \
    -kernel "$VMLINUZ" -initrd "$P/initramfs.cpio.gz" \
    -drive "file=$disk,format=raw,if=virtio" \
    -append "console=ttyS0 panic=-1 quiet" >"$P/$name.log" 2>&1 &
  echo $!
}

# 5. boot, goals, Ctrl-Alt-Del, reboot on the same storage
echo "booting $KVER with pantavisor as PID 1 (TCG), console in $P/boot.log" >&2
start=$(date +%s)
qpid=$(qemu boot "$P/storage.img")
goals="all status goals reached"
if wait_for "$P/boot.log" "$goals" 1 "$TIMEOUT"; then
  sleep 10 # idle
  monitor "$P/boot.mon" "sendkey ctrl-alt-delete"
  wait_for "$P/boot.log" "$goals" 2 "$TIMEOUT" || true
fi
monitor "$P/boot.mon" quit 2>/dev/null || true
sleep 1
kill "$qpid" 2>/dev/null || true
wait "$qpid" 2>/dev/null || true
end=$(date +%s)
strip() { tr -d '\r' <"$1" | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g'; }
log=$(strip "$P/boot.log")
count() { grep -c -- "$1" <<<"$log" || true; }
check "pid1-boots-from-labelled-storage" grep -q "mounted on /storage" <<<"$log"
check "pid1-both-containers-started" [ "$(count 'container demo-app: started')" -ge 1 -a "$(count 'container demo-mgmt: started')" -ge 1 ]
check "pid1-all-goals-reached" [ "$(count "$goals")" -ge 1 ]
check "pid1-xconnect-daemon-started" grep -q "daemon pv-xconnect: started" <<<"$log"
check "pid1-ctrl-alt-del-stops-containers" grep -q "stopping containers" <<<"$log"
check "pid1-reboots-into-the-same-storage" [ "$(count "$goals")" -ge 2 -a "$(count 'embedded mode, kernel')" -ge 2 ]
check "pid1-no-kernel-panic" [ "$(count 'Kernel panic')" -eq 0 ]
check "pid1-grubenv-on-storage" grep -q '^pv_rev=0' <(debugfs -R 'cat /boot/grubenv' "$P/storage.img" 2>/dev/null)
check "pid1-factory-done" grep -q '"status":"DONE"' <(debugfs -R 'cat /trails/0/.pv/progress' "$P/storage.img" 2>/dev/null)
goals_line=$(grep -m1 -- "$goals" <<<"$log" || true)
idle_line=$(grep -m1 -- "stopping [0-9.]* s after" <<<"$log" || true)
echo "vm-pid1: $((end - start)) s for two boots" >&2

# 6. no storage: the reason on the console, new attempts, no panic
qpid=$(qemu nostorage "$P/blank.img")
wait_for "$P/nostorage.log" "cannot mount the storage (attempt 2)" 1 "$TIMEOUT" || true
monitor "$P/nostorage.mon" quit 2>/dev/null || true
sleep 1
kill "$qpid" 2>/dev/null || true
wait "$qpid" 2>/dev/null || true
nolog=$(strip "$P/nostorage.log")
check "pid1-missing-storage-says-why" grep -q "storage LABEL=pvroot not found after 3 s" <<<"$nolog"
check "pid1-missing-storage-retries" grep -q "cannot mount the storage (attempt 2)" <<<"$nolog"
check "pid1-missing-storage-no-panic" [ "$(grep -c 'Kernel panic' <<<"$nolog" || true)" -eq 0 ]

# 7. figures
stripped=$(stat -c %s "$PV")
echo "PID1-FIGURE binary $stripped bytes ($(file -b "$PV" | cut -d, -f1-2)); pv-xconnect $(stat -c %s "$(dirname "$PV")/pv-xconnect") bytes; pv-hub-agent $(stat -c %s "$(dirname "$PV")/pv-hub-agent") bytes; initramfs $(stat -c %s "$P/initramfs.cpio.gz") bytes (gzip -1)"
[ -n "$goals_line" ] && echo "PID1-FIGURE boot: ${goals_line#*INFO }"
[ -n "$idle_line" ] && echo "PID1-FIGURE idle: ${idle_line#*INFO }"
if [ "$fail" != 0 ]; then
  echo "vm-pid1: failures; last console lines:" >&2
  tail -n 40 "$P/boot.log" >&2
fi
exit "$fail"
