#!/usr/bin/env bash
# Figures of the build phase and of a kernel update, each against a
# reference measured in the same run:
#
# - `pvimage build` of the demo revision (1 GiB image) against
#   `mkfs.ext4 -d` alone over the same checkout into a file of the same
#   size (the floor: writing the filesystem), median of BENCH_ROUNDS;
# - a kernel update under QEMU (TCG): `pvr post` of a revision whose BSP
#   differs (kernel command line) until its progress is DONE (upload,
#   install, reboot through GRUB's try-boot, test, commit), against a plain
#   boot of the same image to its containers up (the reboot it contains);
# - that plain boot of the demo revision: time from kernel start to all
#   status goals reached (PID 1's console line, kernel uptime) against the
#   kernel's own start to /init (its console timestamp); idle resident
#   memory of PID 1, the main loop and pv-xconnect after IDLE s (10) against
#   the 8 MB target and an idle busybox httpd of the same VM.
#
#   bash bench/image.sh        (root; what scripts/image-test.sh needs;
#                               BENCH_BUILD_ONLY=1: the build figure only;
#                               BENCH_BOOT_ONLY=1: no kernel update)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
ROUNDS=${BENCH_ROUNDS:-3}
IMG_WORK=$(mktemp -d /var/tmp/pv-bench-image.XXXXXX)
IMG_COMMIT_DELAY=${IMG_COMMIT_DELAY:-5}
# shellcheck source=scripts/image-lib.sh
. scripts/image-lib.sh
cleanup() { vm_kill; [ -n "${BENCH_KEEP:-}" ] && echo "kept $IMG_WORK" >&2 || rm -rf "$IMG_WORK"; }
trap cleanup EXIT
median() { python3 -c "import sys,statistics; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }
now() { date +%s.%N; }
bash scripts/deps.sh >&2
img_kernel
img_modules
img_binaries
TOKEN=$(openssl rand -hex 16)
img_config "$TOKEN" >"$IMG_WORK/pantavisor.config"
export PVR_CONFIG_DIR=$IMG_WORK/pvr-config PVR_AUTH=$TOKEN
CMDLINE="console=ttyS0,115200 panic=5 no_timer_check"
img_demo_checkout "$IMG_WORK/device" "$CMDLINE" "$IMG_WORK/pantavisor.config"

builds=()
floors=()
for _ in $(seq 1 "$ROUNDS"); do
  rm -f "$IMG_WORK/disk.img" "$IMG_WORK/floor.img"
  sync
  a=$(now)
  "$PVIMAGE" build --state "$IMG_WORK/device" --out "$IMG_WORK/disk.img" --size 1G >/dev/null
  b=$(now)
  truncate -s 1G "$IMG_WORK/floor.img"
  mkfs.ext4 -q -F -d "$IMG_WORK/device" "$IMG_WORK/floor.img"
  c=$(now)
  builds+=("$(python3 -c "print($b-$a)")")
  floors+=("$(python3 -c "print($c-$b)")")
done
mb=$(median "${builds[@]}")
mf=$(median "${floors[@]}")
printf 'image build: %.2f s; mkfs.ext4 -d of the checkout: %.2f s; ratio %.2f (median of %s)\n' \
  "$mb" "$mf" "$(python3 -c "print($mb/$mf)")" "$ROUNDS"

[ -z "${BENCH_BUILD_ONLY:-}" ] || exit 0
CONSOLE=$IMG_WORK/console.log
a=$(now)
vm_start "$IMG_WORK/disk.img" "$CONSOLE"
wait_probe '"name":"app"[^}]*"status":"(STARTED|READY)"' 600 || { echo "the device did not come up" >&2; exit 1; }
b=$(now)
boot=$(python3 -c "print($b-$a)")
sleep "${IDLE:-10}"
probe >"$IMG_WORK/idle.txt"
rss() { awk -v w="$1" '$1 == "rss" && $3 == w { s += $4 } END { print s + 0 }' "$IMG_WORK/idle.txt"; }
pid1=$(awk '$1 == "rss" && $2 == 1 { print $4 }' "$IMG_WORK/idle.txt")
loop=$(awk '$1 == "rss" && $2 != 1 && $3 == "init" { s += $4 } END { print s + 0 }' "$IMG_WORK/idle.txt")
xc=$(rss pv-xconnect)
httpd=$(rss httpd)
clean() { tr -d '\r' <"$CONSOLE" | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g'; }
goals=$(clean | grep -m1 "all status goals reached" | grep -o '[0-9.]* s after the kernel started' | cut -d' ' -f1)
init=$(clean | grep -m1 "Run /init as init process" | sed 's/^\[ *\([0-9.]*\)\].*/\1/')
printf 'boot (TCG): kernel start to all status goals: %s s; kernel start to /init: %s s; ratio %.1f\n' \
  "$goals" "$init" "$(python3 -c "print(${goals:-0}/max(${init:-0}, 0.001))")"
printf 'idle RSS after %s s: PID 1 %s KiB, main loop %s KiB, pv-xconnect %s KiB; PID 1 = %.2f x the 8 MB target; busybox httpd %s KiB\n' \
  "${IDLE:-10}" "$pid1" "$loop" "$xc" "$(python3 -c "print(${pid1:-0}/8192)")" "$httpd"
[ -z "${BENCH_BOOT_ONLY:-}" ] || exit 0
"$PVR" clone "http://127.0.0.1:$IMG_LAN_PORT/cgi-bin" "$IMG_WORK/clone" >/dev/null
"$PVIMAGE" bsp --kernel "$VMLINUZ" --modules "$MODDIR" --pantavisor "$PANTAVISOR" \
  --cmdline "$CMDLINE pv_bench=1" --config "$IMG_WORK/pantavisor.config" --out "$IMG_WORK/clone" >/dev/null
(cd "$IMG_WORK/clone" && "$PVR" add . >/dev/null && "$PVR" commit -m bench >/dev/null)
a=$(now)
rev=$(cd "$IMG_WORK/clone" && "$PVR" post "http://127.0.0.1:$IMG_LAN_PORT" 2>&1 | grep -o 'locals/pvr-[0-9a-f]*' | head -n1)
wait_probe "^progress $rev: .*\"status\":\"DONE\"" 900 || { echo "$rev never DONE" >&2; exit 1; }
b=$(now)
upd=$(python3 -c "print($b-$a)")
printf 'kernel update post->DONE: %.1f s; plain boot to containers up: %.1f s; ratio %.2f (commit delay %s s included)\n' \
  "$upd" "$boot" "$(python3 -c "print($upd/$boot)")" "$IMG_COMMIT_DELAY"
