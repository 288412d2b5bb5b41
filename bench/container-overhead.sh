#!/usr/bin/env bash
# Memory a running container costs the device besides its own processes,
# against the target of 1 MiB (1024 KiB) per container (issue 10).
#
# Two revisions of busybox containers (init: `sleep`), one with 1 and one
# with ${BENCH_CONTAINERS:-10} containers, each run by the release runtime
# in appengine mode until every container's init is up, then measured:
# - supervisor processes: every process between the runtime and a
#   container's init (the init is PID 1 of its own PID namespace), their
#   VmRSS (/proc/PID/status) and Pss (/proc/PID/smaps_rollup);
# - the runtime's own VmRSS and Pss;
# - per container: (runtime + supervisors with N containers - the same with
#   1 container) / (N - 1), RSS and PSS, and its ratio to 1024 KiB.
# Each figure is the median of ${BENCH_ROUNDS:-3} runs. The dynamic
# (glibc, release) build always; the static device build too
# (scripts/build-static.sh: musl when its target is installed) unless
# BENCH_STATIC=0. Needs root, mksquashfs, busybox-static.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
N=${BENCH_CONTAINERS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
T=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release -q -p pvr -p pantavisor
PVR=$T/release/pvr
BUILDS=("dynamic:$T/release/pantavisor")
if [ "${BENCH_STATIC:-1}" != 0 ]; then
  BUILDS+=("static:$(bash scripts/build-static.sh)")
fi
W=$(mktemp -d /var/tmp/pv-bench-overhead.XXXXXX)
PVPID=""
cleanup() {
  if [ -n "$PVPID" ] && kill -0 "$PVPID" 2> /dev/null; then
    kill -INT "$PVPID"; wait "$PVPID" 2> /dev/null || true
  fi
  if [ -n "${BENCH_KEEP:-}" ]; then echo "kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
q() { "$@" > "$W/cmd.log" 2>&1 || { cat "$W/cmd.log" >&2; exit 1; }; }
export PVR_CONFIG_DIR=$W/pvr-config NO_COLOR=1 PVR_FORMAT_OPTIONS="-comp gzip"

# ---------------------------------------------------------------- revisions
mkdir -p "$W/rootfs/bin" "$W/rootfs/etc"
cp /bin/busybox "$W/rootfs/bin/busybox"
for a in sh sleep; do ln -sf busybox "$W/rootfs/bin/$a"; done
printf '{"Cmd":["/bin/sleep","1000000"],"Env":["PATH=/bin"]}' > "$W/cmd.json"
revision() { # name count
  mkdir -p "$W/dev-$1" && cd "$W/dev-$1"
  q "$PVR" init
  for i in $(seq "$2"); do
    q "$PVR" app add "c$i" --from "$W/rootfs" --type rootfs --group app --config-json "$W/cmd.json"
  done
  q "$PVR" add . && q "$PVR" commit -m "$2 containers"
  q "$PVR" export "$W/$1.tgz"
  cd "$W"
}
revision one 1
revision many "$N"
printf 'PV_SECUREBOOT_MODE=disabled\nPV_LOG_LEVEL=3\n' > "$W/pv.config"

# prints: supervisors inits sup_rss sup_pss rt_rss rt_pss (KiB)
measure() {
  python3 - "$1" << 'EOF'
import os, sys
rt = int(sys.argv[1])
def field(pid, f, name):
    try:
        for l in open(f"/proc/{pid}/{f}"):
            if l.startswith(name + ":"):
                return l.split()[1:]
    except OSError:
        pass
    return None
ppid = {}
for p in filter(str.isdigit, os.listdir("/proc")):
    v = field(p, "status", "PPid")
    if v:
        ppid[int(p)] = int(v[0])
def chain(pid):  # ancestors up to the runtime (exclusive), or None
    out = []
    while pid in ppid and ppid[pid] not in (0, rt):
        pid = ppid[pid]
        out.append(pid)
    return out if ppid.get(pid) == rt else None
inits, sups = [], set()
for p in ppid:
    ns = field(p, "status", "NSpid")
    if ns and len(ns) > 1 and ns[-1] == "1":
        c = chain(p)
        if c is not None:
            inits.append(p)
            sups.update(c)
kib = lambda pid, f, n: int((field(pid, f, n) or ["0"])[0])
print(len(sups), len(inits),
      sum(kib(s, "status", "VmRSS") for s in sups),
      sum(kib(s, "smaps_rollup", "Pss") for s in sups),
      kib(rt, "status", "VmRSS"), kib(rt, "smaps_rollup", "Pss"))
EOF
}

run() { # binary revision count -> measure's line
  rm -rf "$W/storage" "$W/run" "$W/run.internal"
  "$1" --storage "$W/storage" --run-dir "$W/run" --config "$W/pv.config" \
    --factory "$W/$2.tgz" > "$W/pv.log" 2>&1 &
  PVPID=$!
  local m=""
  for _ in $(seq 600); do
    m=$(measure "$PVPID")
    [ "$(echo "$m" | cut -d' ' -f2)" = "$3" ] && grep -q "status READY" "$W/pv.log" && break
    sleep 0.1
  done
  [ "$(echo "$m" | cut -d' ' -f2)" = "$3" ] || { echo "not all $3 containers came up" >&2; tail -20 "$W/pv.log" >&2; exit 1; }
  sleep 3 # settle: start-up allocations freed, threads idle
  measure "$PVPID"
  kill -INT "$PVPID"; wait "$PVPID" 2> /dev/null || true; PVPID=""
}
median() { python3 -c "import sys,statistics; print(int(statistics.median(int(x) for x in sys.argv[1:])))" "$@"; }

for b in "${BUILDS[@]}"; do
  name=${b%%:*} bin=${b#*:}
  declare -A F=()
  for r in one many; do
    cnt=1; [ "$r" = many ] && cnt=$N
    for k in sups srss spss rrss rpss; do eval "v_$k=()"; done
    for _ in $(seq "$ROUNDS"); do
      read -r sups _ srss spss rrss rpss <<< "$(run "$bin" "$r" "$cnt")"
      v_sups+=("$sups"); v_srss+=("$srss"); v_spss+=("$spss"); v_rrss+=("$rrss"); v_rpss+=("$rpss")
    done
    for k in sups srss spss rrss rpss; do eval "F[$r,$k]=\$(median \"\${v_$k[@]}\")"; done
  done
  size=$(stat -c %s "$bin")
  echo "== $name build ($(file -b "$bin" | cut -d, -f1-2 | tr -d '\n'); $size bytes)"
  for r in one many; do
    cnt=1; [ "$r" = many ] && cnt=$N
    per_rss=0 per_pss=0
    if [ "${F[$r,sups]}" -gt 0 ]; then
      per_rss=$((F[$r,srss] / F[$r,sups])) per_pss=$((F[$r,spss] / F[$r,sups]))
    fi
    printf '%2d containers: %2d supervisor processes, each %5d KiB RSS / %5d KiB PSS; runtime %6d KiB RSS / %6d KiB PSS\n' \
      "$cnt" "${F[$r,sups]}" "$per_rss" "$per_pss" "${F[$r,rrss]}" "${F[$r,rpss]}"
  done
  d_rss=$(( (F[many,rrss] + F[many,srss] - F[one,rrss] - F[one,srss]) / (N - 1) ))
  d_pss=$(( (F[many,rpss] + F[many,spss] - F[one,rpss] - F[one,spss]) / (N - 1) ))
  printf 'per container (runtime + supervisors, %d vs 1 containers): %d KiB RSS = %.2f x the 1024 KiB target; %d KiB PSS = %.2f x\n' \
    "$N" "$d_rss" "$(python3 -c "print($d_rss / 1024)")" "$d_pss" "$(python3 -c "print($d_pss / 1024)")"
  unset F
done
