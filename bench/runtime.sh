#!/usr/bin/env bash
# Runtime figures with the demo revision (two busybox containers, one mgmt):
# stripped release binary size (÷ busybox-static, a typical embedded
# binary), the static device binaries of scripts/build-static.sh
# (`pantavisor` ÷ the 3 MB target and ÷ busybox-static; `pv-xconnect`,
# `pv-hub-agent`), time from start to all status goals reached (÷ the time of a
# bare `unshare --fork --pid --mount true`, the floor of starting anything
# namespaced), and idle RSS of the runtime (÷ RSS of an idle busybox sh).
# Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO_STATE_ONLY=1 bash scripts/demo.sh > /dev/null 2>&1
PV=$PWD/target/release/pantavisor
W=$(mktemp -d /var/tmp/pv-bench.XXXXXX)
cleanup() { pkill -INT -f "$W/storage" 2>/dev/null || true; sleep 7; rm -rf "$W"; }
trap cleanup EXIT
calc() { python3 -c "print($1)"; }
now() { date +%s.%N; }

strip -o "$W/pantavisor.stripped" "$PV"
size=$(stat -c %s "$W/pantavisor.stripped")
bb=$(stat -c %s /bin/busybox)
PVS=$(bash scripts/build-static.sh 2>/dev/null)
ssize=$(stat -c %s "$PVS")
xsize=$(stat -c %s "$(dirname "$PVS")/pv-xconnect")
hsize=$(stat -c %s "$(dirname "$PVS")/pv-hub-agent")

printf 'PV_SECUREBOOT_MODE=disabled\nPV_LOG_LEVEL=3\n' > "$W/pv.config"
t0=$(now)
"$PV" --storage "$W/storage" --run-dir "$W/run" --config "$W/pv.config" --factory demo/demo.pvrexport.tgz --tick-ms 50 \
  > "$W/out.log" 2>&1 &
pvpid=$!
until grep -q "status READY" "$W/out.log"; do sleep 0.01; done
t1=$(now)
ready=$(calc "$t1 - $t0")
t0=$(now); for i in 1 2 3 4 5; do unshare --fork --pid --mount --uts true; done; t1=$(now)
floor=$(calc "($t1 - $t0) / 5")
sleep 3
rss=$(awk '/VmRSS/ {print $2}' /proc/$pvpid/status)
/bin/busybox sh -c 'sleep 5' & shpid=$!
sleep 0.3
shrss=$(awk '/VmRSS/ {print $2}' /proc/$shpid/status)

printf 'binary size (release, stripped): %d bytes = %.2f x busybox-static (%d bytes)\n' "$size" "$(calc "$size / $bb")" "$bb"
printf 'static device binary (%s): pantavisor %d bytes = %.2f x the 3 MB target = %.2f x busybox-static; pv-xconnect %d bytes; pv-hub-agent %d bytes; all three %d bytes\n' \
  "$(file -b "$PVS" | cut -d, -f1-2 | tr -d ,)" "$ssize" "$(calc "$ssize / 3000000")" "$(calc "$ssize / $bb")" "$xsize" "$hsize" "$((ssize + xsize + hsize))"
printf 'start to all goals reached (2 containers): %.3f s = %.1f x a bare namespaced start (%.4f s)\n' "$ready" "$(calc "$ready / $floor")" "$floor"
printf 'idle RSS: pantavisor %d KiB = %.1f x an idle busybox sh (%d KiB) (per container: bench/container-overhead.sh)\n' "$rss" "$(calc "$rss / $shrss")" "$shrss"
