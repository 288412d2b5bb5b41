#!/usr/bin/env bash
# The image-level end-to-end suite: a disk image made by pvimage (GRUB,
# Debian's kernel, our initramfs with the static pantavisor as PID 1, the
# demo revision) boots under QEMU (TCG) and is updated over its LAN
# endpoint with pvr, as a device in the field would be.
#
#   bash scripts/image-test.sh [--short|--grub|--ci] [--cuts N]   (root)
#
# 0. GRUB's try-boot alone (a stand-in /init that prints its command line
#    and powers off; the env block edited between boots with debugfs):
#    pv_try boots once and is recorded in pv_trying by save_env, the next
#    boot falls back to pv_rev and clears the marker, a pv_try without a
#    trail falls back at once; the revision's own command line is passed;
# 1. boot: every container STARTED/READY (pvcontrol through the probe of
#    the pvnet container), `pvr clone` over the forwarded endpoint, GRUB's
#    and the kernel's lines on the serial console;
# 2. updates with `pvr post`: an app change -> UPDATED, the untouched
#    container keeps its PID; a BSP change (kernel command line) -> reboot,
#    try-boot, DONE, checked in the GRUB env and the guest's /proc/cmdline;
# 3. broken revisions fall back to the last DONE one with the original's
#    ERROR message: a container never READY ("Status goal not reached"), a
#    kernel that panics at boot and an initramfs whose /init fails (both
#    "Unexpected rollback": the bootloader came back to pv_rev);
# 4. power cuts (scripts/image-cuts.sh): QEMU killed at a random instant
#    of an update (every 3rd a BSP update, the others app updates; the
#    phase at the cut is printed: upload, install, reboot, testing,
#    committed), restarted on the same disk: once settled, a complete
#    revision boots (the old one or the new one, its trail cloned back
#    whole), the progress records tell the truth (pv_rev DONE, the booted
#    revision DONE/UPDATED, nothing INPROGRESS/TESTING, no stale pv_try),
#    no temp files. N cuts (default 10, PV_IMAGE_CUTS); --cuts 100 for the
#    long run.
#
# --grub: 0 only. --short: 0, 1 and the app update of 2. --ci (CI's form):
# 0, 1, the app update of 2 and the N power cuts. PV_IMAGE_SKIP_GRUB=1
# leaves 0 out.
# Prints one line per check and "image-test: P passed, F failed"; the
# cuts: count, time, failures. Exit 0 only when everything passed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SHORT=0
GRUB_ONLY=0
CI_FORM=0
CUTS=${PV_IMAGE_CUTS:-10}
while [ $# -gt 0 ]; do
  case "$1" in
    --short) SHORT=1 ;;
    --grub) GRUB_ONLY=1 ;;
    --ci) CI_FORM=1 ;;
    --cuts) CUTS=$2; shift ;;
    *) echo "usage: $0 [--short|--grub|--ci] [--cuts N]" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" -eq 0 ] || { echo "image-test: needs root (apt, QEMU's user network is fine without)" >&2; exit 1; }
IMG_WORK=${PV_IMAGE_WORK:-/var/tmp/pv-image-test}
mkdir -p "$IMG_WORK"
IMG_GOALS_TIMEOUT=${IMG_GOALS_TIMEOUT:-60}
IMG_COMMIT_DELAY=${IMG_COMMIT_DELAY:-5}
# shellcheck source=scripts/image-lib.sh
. scripts/image-lib.sh
bash scripts/deps.sh >&2
trap vm_kill EXIT
trap "exit 143" INT TERM

PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $*"; [ ! -f "$IMG_WORK/probe.txt" ] || sed 's/^/     | /' "$IMG_WORK/probe.txt" | head -n 30; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

BOOT_SECS=${PV_IMAGE_BOOT_SECS:-400}
# the span of the cuts' instants (measured by the uncut updates of stage 2
# when they run)
CUT_APP_MAX=${PV_IMAGE_CUT_APP_MAX:-40}
CUT_BSP_MAX=${PV_IMAGE_CUT_BSP_MAX:-120}
T0=$SECONDS
img_kernel

# ---- 0. GRUB's try-boot with a stand-in init
grub_stage() {
  local g=$IMG_WORK/grub loop
  rm -rf "$g" && mkdir -p "$g/ird/bin" "$g/ird/proc" "$g/ird/dev" "$g/co"
  cp /bin/busybox "$g/ird/bin/"
  printf '#!/bin/busybox sh\n/bin/busybox mount -t proc proc /proc\necho "PVTEST cmdline: $(/bin/busybox cat /proc/cmdline)"\n/bin/busybox poweroff -f\n' >"$g/ird/init"
  chmod 755 "$g/ird/init"
  [ -n "${PV_HOST_BINS_FRESH:-}" ] || (cd "$ROOT" && cargo build -q -p pvr -p pv-image)   # set by scripts/test.sh
  local t pvr pvimage
  t=$(realpath -m "${CARGO_TARGET_DIR:-$ROOT/target}")
  pvr=$t/debug/pvr
  pvimage=$t/debug/pvimage
  (
    export PVR_CONFIG_DIR=$g/pvr-config
    cd "$g/co"
    "$pvr" init >/dev/null
    "$pvimage" bsp --kernel "$VMLINUZ" --pantavisor /bin/busybox --cmdline "console=ttyS0,115200 panic=5 no_timer_check pv_grubtest=1" --out . >/dev/null
    (cd "$g/ird" && find . | cpio -o -H newc --quiet | gzip -1) >bsp/pantavisor
    "$pvr" add . >/dev/null 2>&1 && "$pvr" commit -m grub >/dev/null
    "$pvimage" build --state . --out "$g/disk.img" --size 64M >/dev/null
  )
  loop=$(losetup -f --show -o 1048576 "$g/disk.img")
  setenv() {
    rm -f "$g/env.new"
    grub-editenv "$g/env.new" create
    grub-editenv "$g/env.new" set "$@"
    printf 'cd /boot\nrm grubenv\nwrite %s grubenv\n' "$g/env.new" >"$g/cmds"
    blockdev --flushbufs "$loop"
    debugfs -w -f "$g/cmds" "$loop" >/dev/null 2>&1
    blockdev --flushbufs "$loop"
  }
  getenv() { blockdev --flushbufs "$loop"; debugfs -R "cat /boot/grubenv" "$loop" 2>/dev/null | grep -v '^#' | tr '\n' ' '; }
  gboot() {
    timeout 300 qemu-system-x86_64 -machine accel=tcg -cpu max -m 256 -nographic -no-reboot \
      -drive "file=$g/disk.img,format=raw,if=virtio" </dev/null 2>&1 | tr -d '\r' | sed 's/\x1b\[[0-9;]*[a-zA-Z]//g' >"$g/console.log" || true
  }
  setenv pv_rev=0
  gboot
  check "grub: revision 0 booted with its own command line" grep -q "PVTEST cmdline: BOOT_IMAGE=/trails/0/.pv/pv-kernel.img pv_rev=0 console=ttyS0,115200 panic=5 no_timer_check pv_grubtest=1" "$g/console.log"
  setenv pv_rev=0 pv_try=0
  gboot
  check "grub: pv_try booted once, pv_trying recorded by save_env" test "$(getenv)" = "pv_rev=0 pv_try=0 pv_trying=0 "
  gboot
  check "grub: an attempted try falls back to pv_rev" grep -q "was tried and not committed" "$g/console.log"
  check "grub: the marker is cleared, pv_try left to the runtime" test "$(getenv)" = "pv_rev=0 pv_try=0 pv_trying= "
  setenv pv_rev=0 pv_try=5
  gboot
  check "grub: a try without a trail falls back at once" grep -q "revision 5 cannot be loaded, booting 0" "$g/console.log"
  check "grub: ... and still boots pv_rev" grep -q "PVTEST cmdline: .*pv_rev=0 " "$g/console.log"
  losetup -d "$loop"
}
if [ -z "${PV_IMAGE_SKIP_GRUB:-}" ]; then
  log "0. GRUB try-boot"
  grub_stage
fi
if [ "$GRUB_ONLY" = 1 ]; then
  echo "image-test: $PASS passed, $FAIL failed ($((SECONDS - T0)) s)"
  [ "$FAIL" = 0 ]
  exit
fi

img_modules
img_binaries
TOKEN=$(openssl rand -hex 16)
img_config "$TOKEN" >"$IMG_WORK/pantavisor.config"
export PVR_CONFIG_DIR=$IMG_WORK/pvr-config PVR_AUTH=$TOKEN
rm -rf "$PVR_CONFIG_DIR"
BASE_CMDLINE="console=ttyS0,115200 panic=5 no_timer_check"
log "demo revision and disk image"
img_demo_checkout "$IMG_WORK/device" "$BASE_CMDLINE" "$IMG_WORK/pantavisor.config"
# The app's own auto_recovery: the app group's default but stable after
# IMG_STABLE_TIMEOUT s (default 5) instead of 30: an update commits only
# once its containers are stable, and 25 s less per update is what makes
# the cuts affordable in CI; the TESTING phase keeps its two steps (commit
# delay, then "Waiting for all containers to become stable").
python3 - "$IMG_WORK/device/app/run.json" "${IMG_STABLE_TIMEOUT:-5}" <<'EOF'
import json, sys
p, stable = sys.argv[1], int(sys.argv[2])
d = json.load(open(p))
d["auto_recovery"] = {"policy": "on-failure", "max_retries": 5, "retry_delay": 5,
                      "backoff_factor": 2.0, "stable_timeout": stable, "backoff_policy": "reboot"}
json.dump(d, open(p, "w"), indent=1)
EOF
(cd "$IMG_WORK/device" && "$PVR" add . >/dev/null 2>&1 && "$PVR" commit -m "app stable after ${IMG_STABLE_TIMEOUT:-5} s" >/dev/null)
t=$SECONDS
"$PVIMAGE" build --state "$IMG_WORK/device" --out "$IMG_WORK/disk.img" --size 1G
echo "image built in $((SECONDS - t)) s (prepared in $((SECONDS - T0)) s)"
CONSOLE=$IMG_WORK/console.log
: >"$CONSOLE"
URL=http://127.0.0.1:$IMG_LAN_PORT

# the probe's facts
booted() { sed -n 's/^cmdline: .*pv_rev=\([^ ]*\).*/\1/p' "$IMG_WORK/probe.txt"; }
progress_of() { grep "^progress $1: " "$IMG_WORK/probe.txt" | head -n1; }
status_of() { progress_of "$1" | sed -n 's/.*"status":"\([A-Z]*\)".*/\1/p'; }
# the main process: the lowest PID (httpd forks one child per request)
pid_of() { sed -n "s/^pid \([0-9]*\) $1.*/\1/p" "$IMG_WORK/probe.txt" | sort -n | head -n1; }
env_var() { tr ' ' '\n' <<<"$(sed -n 's/^grubenv: //p' "$IMG_WORK/probe.txt")" | sed -n "s/^$1=//p"; }
containers_up='"name":"app"[^}]*"status":"(STARTED|READY)".*|"name":"pvnet"[^}]*"status":"(STARTED|READY)"'
up() {
  wait_probe '"name":"pvnet"[^}]*"status":"(STARTED|READY)"' "${1:-$BOOT_SECS}" &&
    wait_probe '"name":"app"[^}]*"status":"(STARTED|READY)"' 120
}
# post the clone, echo the revision name it became
post() {
  (cd "$IMG_WORK/clone" && "$PVR" add . >/dev/null && "$PVR" commit -m "$1" >/dev/null)
  local out
  out=$(cd "$IMG_WORK/clone" && "$PVR" post "$URL" 2>&1) || { echo "$out" >&2; return 1; }
  grep -o 'locals/pvr-[0-9a-f]*' <<<"$out" | head -n1
}
settled() { # the revision $1 reached a final progress, within $2 s
  local rev=$1 secs=$2 start=$SECONDS
  while [ $((SECONDS - start)) -lt "$secs" ]; do
    probe >"$IMG_WORK/probe.txt"
    case "$(status_of "$rev")" in DONE | UPDATED | ERROR | WONTGO) return 0 ;; esac
    sleep 3
  done
  return 1
}
bsp() { # rewrite the clone's BSP with kernel command line $1
  "$PVIMAGE" bsp --kernel "$VMLINUZ" --modules "$MODDIR" --pantavisor "$PANTAVISOR" \
    --cmdline "$1" --config "$IMG_WORK/pantavisor.config" --out "$IMG_WORK/clone" >/dev/null
}

# ---- 1. boot
log "1. boot"
t=$SECONDS
vm_start "$IMG_WORK/disk.img" "$CONSOLE"
if up; then
  ok "boot: pvnet and app STARTED/READY after $((SECONDS - t)) s"
else
  bad "boot: containers not up within $BOOT_SECS s"
  tail -n 40 "$CONSOLE" | tr -d '\r'
  echo "image-test: $PASS passed, $((FAIL)) failed"
  exit 1
fi
check "console: GRUB booted revision 0" grep -aq "pantavisor: booting revision 0" "$CONSOLE"
check "console: kernel command line from the revision" grep -aqE "Command line: .*pv_rev=0 $BASE_CMDLINE" "$CONSOLE"
rm -rf "$IMG_WORK/clone"
check "pvr clone over the LAN endpoint" "$PVR" clone "$URL/cgi-bin" "$IMG_WORK/clone"
check "the clone is the factory revision" cmp -s <(python3 -m json.tool --sort-keys "$IMG_WORK/clone/.pvr/json") <(python3 -m json.tool --sort-keys "$IMG_WORK/device/.pvr/json")
check "booted 0, pv_rev=0, no pv_try" test "$(booted)/$(env_var pv_rev)/$(env_var pv_try)" = "0/0/"

# ---- 2. updates
log "2. app update (no reboot)"
probe >"$IMG_WORK/probe.txt"
net_pid=$(pid_of httpd)
mkdir -p "$IMG_WORK/clone/_config/app/etc"
echo "second revision" >"$IMG_WORK/clone/_config/app/etc/motd"
t=$SECONDS
REV_APP=$(post "app change")
if settled "$REV_APP" 300 && [ "$(status_of "$REV_APP")" = UPDATED ]; then
  ok "app change $REV_APP UPDATED in $((SECONDS - t)) s"
  # the power cuts of app updates fall in that span and a little after
  CUT_APP_MAX=${PV_IMAGE_CUT_APP_MAX:-$((SECONDS - t + 8))}
else
  bad "app change $REV_APP not UPDATED: $(progress_of "$REV_APP")"
fi
up 120 || true
check "untouched pvnet kept its PID ($net_pid)" test -n "$net_pid" -a "$(pid_of httpd)" = "$net_pid"
check "no reboot: still the kernel of revision 0" grep -q "^cmdline: .*pv_rev=0 " "$IMG_WORK/probe.txt"
LAST_DONE=0

if [ "$SHORT" = 0 ] && [ "$CI_FORM" = 0 ]; then
  log "2. BSP update (kernel command line): reboot, try-boot, DONE"
  bsp "$BASE_CMDLINE pv_e2e=bsp2"
  t=$SECONDS
  REV_BSP=$(post "kernel command line")
  if wait_probe "^cmdline: .*pv_rev=$REV_BSP .*pv_e2e=bsp2" "$BOOT_SECS" && settled "$REV_BSP" 300 &&
    [ "$(status_of "$REV_BSP")" = DONE ]; then
    ok "BSP change $REV_BSP DONE in $((SECONDS - t)) s (post to DONE, reboot included)"
    CUT_BSP_MAX=${PV_IMAGE_CUT_BSP_MAX:-$((SECONDS - t + 10))}
    echo "bench: kernel update post->DONE $((SECONDS - t)) s" >>"$IMG_WORK/bench.txt"
  else
    bad "BSP change $REV_BSP: $(progress_of "$REV_BSP")"
  fi
  check "GRUB env: pv_rev=$REV_BSP, pv_try cleared" test "$(env_var pv_rev)/$(env_var pv_try)" = "$REV_BSP/"
  check "console: GRUB tried $REV_BSP" grep -aq "pantavisor: booting revision $REV_BSP" "$CONSOLE"
  LAST_DONE=$REV_BSP
  cp -a "$IMG_WORK/clone" "$IMG_WORK/clone.good"

  # ---- 3. broken revisions
  broken() { # $1 what, $2 expected message; the clone holds the broken change
    local what=$1 msg=$2 rev t=$SECONDS
    rev=$(post "$what") || { bad "$what: post failed"; return; }
    if wait_probe "^progress $rev: .*\"status\":\"ERROR\"" "$((BOOT_SECS * 2))" &&
      wait_probe "^cmdline: .*pv_rev=$LAST_DONE " 60; then
      ok "$what: $rev ERROR, back on $LAST_DONE in $((SECONDS - t)) s"
      check "$what: message \"$msg\"" grep -q "^progress $rev: .*$msg" "$IMG_WORK/probe.txt"
      up 200 || true
      check "$what: pv_rev=$LAST_DONE, pv_try cleared" test "$(env_var pv_rev)/$(env_var pv_try)" = "$LAST_DONE/"
    else
      bad "$what: $rev did not fail back to $LAST_DONE: $(progress_of "$rev")"
    fi
    rm -rf "$IMG_WORK/clone" && cp -a "$IMG_WORK/clone.good" "$IMG_WORK/clone"
  }
  log "3. a container that never becomes READY"
  python3 - "$IMG_WORK/clone/app/run.json" <<'EOF'
import json, sys
p = sys.argv[1]
d = json.load(open(p))
d["status_goal"] = "READY"
json.dump(d, open(p, "w"))
EOF
  broken "never ready" "Status goal not reached"
  log "3. a kernel that panics at boot"
  bsp "console=ttyS0,115200 panic=1 no_timer_check rdinit=/nonexistent root=/dev/nonexistent"
  broken "kernel panic" "Unexpected rollback"
  log "3. an initramfs whose /init fails"
  bad_ird=$IMG_WORK/bad-initrd
  rm -rf "$bad_ird" && mkdir -p "$bad_ird/bin" "$bad_ird/dev"
  cp /bin/busybox "$bad_ird/bin/busybox"
  printf '#!/bin/busybox sh\necho "broken init: exiting"\nexit 1\n' >"$bad_ird/init"
  chmod 755 "$bad_ird/init"
  (cd "$bad_ird" && find . | cpio -o -H newc --quiet | gzip -1) >"$IMG_WORK/clone/bsp/pantavisor"
  broken "init fails" "Unexpected rollback"

fi

# ---- 4. power cuts
if [ "$SHORT" = 0 ] || [ "$CI_FORM" = 1 ]; then
  # shellcheck source=scripts/image-cuts.sh
  . scripts/image-cuts.sh
  power_cuts "$CUTS"
fi
vm_kill
echo "image-test: $PASS passed, $FAIL failed ($((SECONDS - T0)) s; console in $CONSOLE)"
[ "$FAIL" = 0 ]
