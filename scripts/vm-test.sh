#!/usr/bin/env bash
# The VM suite: what needs a kernel with loadable modules and device-mapper
# (this project's hosts have neither) runs in QEMU with Debian's stock
# kernel. Builds crates/pv-vmcheck statically (musl), packs an initramfs
# (busybox, the modules it needs from the Debian kernel package, some
# compressed with xz, cryptsetup and mkfs.ext4 with their libraries),
# boots it under TCG and reads the verdict from the serial console.
#
#   bash scripts/vm-test.sh [CHECK...]     (default: every check)
#   bash scripts/vm-test.sh pid1           (pantavisor as PID 1: scripts/vm-pid1.sh)
#
# Prerequisites come from scripts/deps.sh (qemu-system-x86, cryptsetup-bin,
# kmod, cpio, busybox-static, the musl target). Exit 0 only if every check
# passed.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"   # cryptsetup, mkfs.ext4, depmod for a non-root user
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=${PV_VM_WORK:-/var/tmp/pv-vm}
TIMEOUT=${PV_VM_TIMEOUT:-300}
bash scripts/deps.sh >&2
mkdir -p "$WORK"

# 1. a Debian kernel with its modules, unpacked (never installed on the host)
if [ ! -f "$WORK/kernel.ok" ]; then
  rm -rf "$WORK/deb" "$WORK/kroot"
  mkdir -p "$WORK/deb"
  dep=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  (cd "$WORK/deb" && apt-get download "$dep" >&2)
  dpkg -x "$WORK"/deb/*.deb "$WORK/kroot"
  touch "$WORK/kernel.ok"
fi
KVER=$(ls "$WORK/kroot/lib/modules" | head -n1)
VMLINUZ="$WORK/kroot/boot/vmlinuz-$KVER"
if [ "${1:-}" = pid1 ]; then
  export WORK KVER VMLINUZ KSRC="$WORK/kroot/lib/modules/$KVER"
  exec bash scripts/vm-pid1.sh
fi

# 2. the check program, static: musl when its target is installed, else
# glibc linked statically (PV_VM_TARGET chooses)
if [ "${PV_VM_TARGET:-}" != x86_64-unknown-linux-gnu ] &&
  rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl; then
  TARGET=x86_64-unknown-linux-musl
  echo "building pv-vmcheck ($TARGET)" >&2
  cargo build -q -p pv-vmcheck --target "$TARGET"
else
  TARGET=x86_64-unknown-linux-gnu
  echo "building pv-vmcheck ($TARGET, +crt-static)" >&2
  RUSTFLAGS="-C target-feature=+crt-static" cargo build -q -p pv-vmcheck --target "$TARGET"
fi
CHECK_BIN="$(realpath -m "${CARGO_TARGET_DIR:-$ROOT/target}")/$TARGET/debug/pv-vmcheck"
if ! file "$CHECK_BIN" | grep -q "static"; then
  echo "vm-test: $CHECK_BIN is not statically linked" >&2
  exit 1
fi

# 3. the initramfs
IRD="$WORK/initramfs"
rm -rf "$IRD"
mkdir -p "$IRD"/{bin,sbin,lib,lib64,usr/lib,proc,sys,dev,run,tmp,storage,etc}
cp /bin/busybox "$IRD/bin/busybox"
for a in sh mount umount mkdir cat echo ls poweroff sleep losetup dd sync; do
  ln -sf busybox "$IRD/bin/$a"
done
copy_with_libs() { # copy a program and the shared libraries it needs
  local prog=$1 dst=$2
  install -D -m 755 "$prog" "$IRD$dst"
  ldd "$prog" | awk '/=>/ {print $3} /^[ \t]*\// {print $1}' | while read -r lib; do
    [ -n "$lib" ] && [ -f "$lib" ] || continue
    install -D -m 755 "$lib" "$IRD$lib"
  done
}
copy_with_libs "$(command -v cryptsetup)" /sbin/cryptsetup
copy_with_libs "$(command -v mkfs.ext4)" /sbin/mkfs.ext4
install -m 755 "$CHECK_BIN" "$IRD/bin/pv-vmcheck"
# the kernel's module requests (crypto templates for dm-crypt) go to
# /sbin/modprobe: the check program answers them with pv-kmod
ln -sf ../bin/pv-vmcheck "$IRD/sbin/modprobe"

# modules: what the checks load, with their dependencies (modules.dep of
# the whole tree), then a fresh depmod over the subset; dm-mod and dm-crypt
# are xz-compressed so that the loader's decompression is exercised (this
# kernel does not decompress modules itself)
KSRC="$WORK/kroot/lib/modules/$KVER"
[ -f "$KSRC/modules.dep" ] || depmod -b "$WORK/kroot" "$KVER"
KDST="$IRD/lib/modules/$KVER"
mkdir -p "$KDST"
want="dummy loop dm-crypt ext4 crc32c_generic xts ecb algif_skcipher"
files=$(for m in $want; do
  grep -E "(^|/)${m//-/[-_]}\.ko[^:]*:" "$KSRC/modules.dep" | head -n1 | tr -d ':' | tr ' ' '\n'
done | sort -u)
for f in $files; do install -D -m 644 "$KSRC/$f" "$KDST/$f"; done
cp "$KSRC"/modules.builtin "$KSRC"/modules.builtin.modinfo "$KSRC"/modules.order "$KDST/" 2>/dev/null || true
for m in dm-mod dm-crypt; do
  f=$(find "$KDST" -name "$m.ko")
  xz --check=crc32 --lzma2=dict=1MiB "$f"
done
depmod -b "$IRD" "$KVER"

cat >"$IRD/init" <<'EOF'
#!/bin/sh
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /storage
mount -t tmpfs tmpfs /tmp
echo "PVCHECK-START $(cat /proc/sys/kernel/osrelease)"
/bin/pv-vmcheck $(cat /proc/cmdline | sed -n 's/.*pvchecks=\([^ ]*\).*/\1/p' | tr ',' ' ')
sync
poweroff -f
EOF
chmod 755 "$IRD/init"
(cd "$IRD" && find . | cpio -o -H newc --quiet | gzip -1) >"$WORK/initramfs.cpio.gz"

# 4. boot (TCG: a stock kernel hangs under KVM on nested hosts)
checks=$(IFS=,; echo "$*")
LOG="$WORK/console.log"
echo "booting $KVER under QEMU (TCG), console in $LOG" >&2
start=$(date +%s)
timeout "$TIMEOUT" qemu-system-x86_64 -machine q35,accel=tcg -cpu max -m 512 \
  -nographic -no-reboot -kernel "$VMLINUZ" -initrd "$WORK/initramfs.cpio.gz" \
  -append "console=ttyS0 panic=-1 quiet pvchecks=$checks" >"$LOG" 2>&1 || true
end=$(date +%s)
grep -a '^PVCHECK' "$LOG" | tr -d '\r' || true
echo "vm-test: $((end - start)) s in the VM" >&2
done_line=$(grep -a '^PVCHECK-DONE' "$LOG" | tr -d '\r' || true)
if [ -z "$done_line" ]; then
  echo "vm-test: no verdict from the guest; last console lines:" >&2
  tail -n 30 "$LOG" >&2
  exit 1
fi
pass=$(sed -n 's/.*pass=\([0-9]*\).*/\1/p' <<<"$done_line")
fail=$(sed -n 's/.*fail=\([0-9]*\).*/\1/p' <<<"$done_line")
echo "vm: $pass passed, $fail failed"
[ "$fail" = 0 ] && [ "$pass" -gt 0 ]
