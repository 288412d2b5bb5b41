#!/usr/bin/env bash
# Update figures of the release runtime, each against a reference measured
# in the same run. A device with two busybox containers (sys: platform
# group, system policy; app: app group, container policy; the app image
# carries a ${BENCH_UPDATE_MIB:-64} MiB random file) runs on a dedicated
# loop-mounted ext4 filesystem; revisions are built with the release pvr.
#
# - non-reboot update (new app image), PV_UPDATER_COMMIT_DELAY=0: time
#   from the LOCAL_RUN request to progress UPDATED, against the
#   container's own start in that update (from the runtime starting it --
#   the log line "INPROGRESS Trying new revision", the old container being
#   stopped by then -- to its first console line); the difference is what
#   the update itself costs, split into the wait for the main loop to take
#   the command and the rest. At each engine tick of BENCH_TICKS (the
#   runtime's default 200 ms, and 10 ms);
# - bytes written to the storage device by the update (loop device
#   sectors, from the first upload to UPDATED, filesystem synced) / bytes of
#   the objects that changed (uploaded with curl);
# - fsync barriers (fsync, fdatasync, syncfs, sync_file_range, sync) of the
#   runtime during a non-reboot update (upload included, against the same
#   runtime idle as long) and a reboot update (both boots, against a plain
#   boot), counted with strace in separate rounds, all of them and those
#   on the storage filesystem (the run dir is a tmpfs on a device).
#
# Uploads go through the control socket with curl (objects the device
# lacks, then the step); LOCAL_RUN and the progress watch are in
# bench/update_run.py. Medians of ${BENCH_ROUNDS:-5} rounds, each on a fresh
# copy of the factory storage. BENCH_KEEP=1 keeps the work directory.
# Needs root, curl, strace, mkfs.ext4.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
command -v strace > /dev/null || apt-get install -y -q strace > /dev/null
ROUNDS=${BENCH_ROUNDS:-5}
MIB=${BENCH_UPDATE_MIB:-64}
TICKS=${BENCH_TICKS:-200 10}
TICK=200
cargo build --release -q -p pvr -p pantavisor
T=${CARGO_TARGET_DIR:-$PWD/target}
PVR=$T/release/pvr
PV=$T/release/pantavisor
HERE=$PWD/bench
W=$(mktemp -d /var/tmp/pv-bench-update.XXXXXX)
PVPID=""
LOOP=""
cleanup() {
  if [ -n "$PVPID" ] && kill -0 "$PVPID" 2> /dev/null; then
    kill -TERM "$PVPID"; wait "$PVPID" 2> /dev/null || true
  fi
  if mountpoint -q "$W/fs" 2> /dev/null; then umount "$W/fs" || umount -l "$W/fs"; fi
  [ -z "$LOOP" ] || losetup -d "$LOOP" 2> /dev/null || true
  if [ -n "${BENCH_KEEP:-}" ]; then echo "kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
calc() { python3 -c "print($1)"; }
q() { "$@" > "$W/cmd.log" 2>&1 || { cat "$W/cmd.log" >&2; exit 1; }; }
median() { python3 -c "import sys,statistics; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }
export PVR_CONFIG_DIR=$W/pvr-config
# random data does not compress: spare the time of xz
export PVR_FORMAT_OPTIONS="-comp gzip" NO_COLOR=1

# ---------------------------------------------------------------- revisions
mkrootfs() {
  mkdir -p "$1/bin" "$1/etc" "$1/data"
  cp /bin/busybox "$1/bin/busybox"
  for a in sh sleep echo cat; do ln -sf busybox "$1/bin/$a"; done
}
mkrootfs "$W/rootfs-sys"
mkrootfs "$W/rootfs-a"; head -c "${MIB}M" /dev/urandom > "$W/rootfs-a/data/blob"
mkrootfs "$W/rootfs-b"; head -c "${MIB}M" /dev/urandom > "$W/rootfs-b/data/blob"
SCRIPT="echo up; trap 'exit 0' TERM; while true; do sleep 1 & wait \$!; done"
printf '{"Cmd":["/bin/sh","-c","%s"],"Env":["PATH=/bin"]}' "$SCRIPT" > "$W/cmd.json"
mkdir -p "$W/device" && cd "$W/device"
q "$PVR" init
cat > device.json << 'EOF'
{"groups":[{"name":"platform","status_goal":"STARTED","restart_policy":"system","timeout":30},
 {"name":"app","status_goal":"STARTED","restart_policy":"container","timeout":30}]}
EOF
q "$PVR" app add sys --from "$W/rootfs-sys" --type rootfs --group platform --config-json "$W/cmd.json"
q "$PVR" app add app --from "$W/rootfs-a" --type rootfs --group app --config-json "$W/cmd.json"
q "$PVR" add . && q "$PVR" commit -m A
q "$PVR" export "$W/a.tgz"
# reboot kind: a file of the system container
mkdir -p _config/sys/etc && echo "v2" > _config/sys/etc/motd
q "$PVR" add . && q "$PVR" commit -m C
q "$PVR" export "$W/c.tgz"
rm -rf _config
# non-reboot kind: the app's image
q "$PVR" app update app --from "$W/rootfs-b"
q "$PVR" add . && q "$PVR" commit -m B
q "$PVR" export "$W/b.tgz"
cd "$W"
for r in b c; do mkdir -p "$W/$r" && tar xzf "$W/$r.tgz" -C "$W/$r"; done

# ---------------------------------------------------------------- storage
truncate -s 1G "$W/disk.img"
mkfs.ext4 -q -F "$W/disk.img"
LOOP=$(losetup -f --show "$W/disk.img")
DEV=$(basename "$LOOP")
mkdir -p "$W/fs" && mount "$LOOP" "$W/fs"
printf 'PV_SECUREBOOT_MODE=disabled\nPV_LOG_LEVEL=4\nPV_UPDATER_COMMIT_DELAY=0\n' > "$W/pv.config"
S=$W/fs/storage
: > "$W/pv.log"
RUN=$W/run
SOCK=$RUN/pv-ctrl

start_pv() { # [strace output]
  local from=$(($(wc -l < "$W/pv.log" 2> /dev/null || echo 0) + 1))
  if [ -n "${1:-}" ]; then
    strace -f -y -e trace=$SYNC_CALLS -o "$1" \
      "$PV" --storage "$S" --run-dir "$RUN" --config "$W/pv.config" --tick-ms "$TICK" \
      --factory "$W/a.tgz" >> "$W/pv.log" 2>&1 &
  else
    "$PV" --storage "$S" --run-dir "$RUN" --config "$W/pv.config" --tick-ms "$TICK" \
      --factory "$W/a.tgz" >> "$W/pv.log" 2>&1 &
  fi
  PVPID=$!
  for _ in $(seq 3000); do
    awk -v n="$from" 'NR >= n && /status READY/ {f = 1} END {exit !f}' "$W/pv.log" \
      && curl -sf --unix-socket "$SOCK" http://localhost/buildinfo > /dev/null && return 0
    sleep 0.01
  done
  echo "device not ready" >&2; tail -20 "$W/pv.log" >&2; exit 1
}
stop_pv() { # SIGTERM to the runtime (PVPID may be the strace running it)
  kill -TERM "$(rt_pid)"; wait "$PVPID" 2> /dev/null || true; PVPID=""
}
# pid of the runtime (under strace, its child)
rt_pid() { pgrep -f -n "^$PV --storage $S" ; }
SYNC_CALLS=fsync,fdatasync,syncfs,sync_file_range,sync
# attach strace to the running runtime, counting sync calls into $1 (sets SPID)
trace_syncs() {
  strace -f -y -e trace=$SYNC_CALLS -o "$1" -p "$(rt_pid)" 2> /dev/null &
  SPID=$!
}
sectors() { awk '{print $7}' "/sys/block/$DEV/stat"; }
# upload what the device lacks of revision $1 (dir with json, objects/);
# prints the bytes uploaded
upload() {
  local have total=0 n
  have=$(curl -sf --unix-socket "$SOCK" http://localhost/objects)
  for f in "$1"/objects/*; do
    local id; id=$(basename "$f")
    case "$have" in *"$id"*) continue ;; esac
    n=$(curl -sf -o /dev/null -w '%{size_upload}' --unix-socket "$SOCK" -X PUT -T "$f" "http://localhost/objects/$id")
    total=$((total + ${n%.*}))
  done
  curl -sf -o /dev/null --unix-socket "$SOCK" -X PUT -T "$1/json" "http://localhost/steps/locals/$2"
  echo "$total"
}
fresh_storage() { # factory storage, booted once, stopped
  rm -rf "$S" "$RUN" "$RUN.internal"
  if [ ! -d "$W/base" ]; then
    start_pv; sleep 0.5; stop_pv
    cp -a "$S" "$W/base"
  else
    cp -a "$W/base" "$S"
  fi
  sync -f "$W/fs"
}
ts() { # epoch seconds of the first runtime log line matching $1 from line $2
  awk -v n="$2" -v pat="$1" 'NR >= n && index($0, pat) {print $1; exit}' "$W/pv.log" \
    | python3 -c "import sys,datetime; s=sys.stdin.read().strip(); print(datetime.datetime.fromisoformat(s.replace('Z','+00:00')).timestamp() if s else 'nan')"
}

fresh_storage # builds the base storage

# ------------------------------------------------- non-reboot update rounds
declare -A R # R[figure,tick] = median
ratio=(); written=(); changed=()
for TICK in $TICKS; do
  upd=(); cstart=(); take=(); rest=()
  for i in $(seq "$ROUNDS"); do
    fresh_storage
    start_pv
    sleep 0.5
    sync -f "$W/fs"; s0=$(sectors)
    up=$(upload "$W/b" nonreboot)
    line=$(($(wc -l < "$W/pv.log") + 1))
    python3 "$HERE/update_run.py" "$SOCK" "$S" locals/nonreboot UPDATED,ERROR app > "$W/run-$TICK-$i.txt"
    grep -q "progress UPDATED" "$W/run-$TICK-$i.txt" || { cat "$W/run-$TICK-$i.txt"; tail -30 "$W/pv.log"; exit 1; }
    sync -f "$W/fs"; s1=$(sectors)
    stop_pv
    ev() { awk -v e="$1" '$2 == e || ($2 " " $3) == e {print $NF; exit}' "$W/run-$TICK-$i.txt"; }
    t_req=$(ev request); t_upd=$(ev "progress UPDATED"); t_con=$(ev console)
    t_cmd=$(ts "command LocalRun locals/nonreboot" "$line")
    t_try=$(ts "locals/nonreboot: INPROGRESS Trying new revision" "$line")
    upd+=("$(calc "$t_upd - $t_req")")
    cstart+=("$(calc "$t_con - $t_try")")
    take+=("$(calc "$t_cmd - $t_req")")
    rest+=("$(calc "($t_upd - $t_req) - ($t_con - $t_try) - ($t_cmd - $t_req)")")
    if [ "$TICK" = 200 ] || [ ${#written[@]} -lt "$ROUNDS" ]; then
      written+=("$(( (s1 - s0) * 512 ))"); changed+=("$up")
      ratio+=("$(calc "($s1 - $s0) * 512 / $up")")
    fi
    printf 'tick %s ms, round %s: update %.3f s (command taken after %.3f s), container start %.3f s; %d B written for %d B uploaded\n' \
      "$TICK" "$i" "${upd[-1]}" "${take[-1]}" "${cstart[-1]}" "$(( (s1 - s0) * 512 ))" "$up" >&2
  done
  R[upd,$TICK]=$(median "${upd[@]}"); R[cs,$TICK]=$(median "${cstart[@]}")
  R[take,$TICK]=$(median "${take[@]}"); R[rest,$TICK]=$(median "${rest[@]}")
done
TICK=200

# ------------------------------------------------------ fsync count rounds
# barriers in strace -y output: all, and those on the storage filesystem
count_syncs() { cat "$@" | grep -cE '^[0-9]+ +(fsync|fdatasync|syncfs|sync_file_range|sync)\(' || true; }
count_storage_syncs() { cat "$@" | grep -E '^[0-9]+ +(fsync|fdatasync|syncfs|sync_file_range|sync)\(' | grep -c "<$S" || true; }
fresh_storage
start_pv
sleep 0.5
trace_syncs "$W/st-nr.txt"
sleep 0.5
upload "$W/b" nonreboot > /dev/null
python3 "$HERE/update_run.py" "$SOCK" "$S" locals/nonreboot UPDATED,ERROR > /dev/null
kill -INT "$SPID"; wait "$SPID" 2> /dev/null || true
stop_pv
sync_nr=$(count_syncs "$W/st-nr.txt"); sync_nr_s=$(count_storage_syncs "$W/st-nr.txt")
# the same runtime idle for as long, as a reference
fresh_storage
start_pv
sleep 0.5
trace_syncs "$W/st-idle.txt"
sleep 1.5
kill -INT "$SPID"; wait "$SPID" 2> /dev/null || true
stop_pv
sync_idle=$(count_syncs "$W/st-idle.txt"); sync_idle_s=$(count_storage_syncs "$W/st-idle.txt")

# reboot kind: first boot (attached), second boot (started under strace)
fresh_storage
start_pv
sleep 0.5
trace_syncs "$W/st-r1.txt"
sleep 0.5
up_c=$(upload "$W/c" reboot)
line=$(($(wc -l < "$W/pv.log") + 1))
t0=$(date +%s.%N)
curl -sf -o /dev/null --unix-socket "$SOCK" -X POST -d '{"op":"LOCAL_RUN","payload":"locals/reboot"}' http://localhost/commands
wait "$PVPID" || true # exits to reboot
wait "$SPID" 2> /dev/null || true
start_pv "$W/st-r2.txt" &> /dev/null || true
for _ in $(seq 3000); do
  grep -q '"DONE"' "$S/trails/locals/reboot/.pv/progress" 2> /dev/null && break; sleep 0.005
done
t1=$(date +%s.%N)
grep -q '"DONE"' "$S/trails/locals/reboot/.pv/progress" || { echo "reboot update did not finish" >&2; tail -30 "$W/pv.log" >&2; exit 1; }
sleep 0.3
stop_pv
sync_r=$(count_syncs "$W/st-r1.txt" "$W/st-r2.txt"); sync_r_s=$(count_storage_syncs "$W/st-r1.txt" "$W/st-r2.txt")
reboot_time=$(calc "$t1 - $t0")
# a plain boot of the factory under strace, as a reference
fresh_storage
start_pv "$W/st-boot.txt"
sleep 0.3
stop_pv
sync_boot=$(count_syncs "$W/st-boot.txt"); sync_boot_s=$(count_storage_syncs "$W/st-boot.txt")

# ---------------------------------------------------------------- results
m_ratio=$(median "${ratio[@]}")
m_written=$(median "${written[@]}")
m_changed=$(median "${changed[@]}")
row() { printf '%-62s' "$1"; shift; for v in "$@"; do printf ' %16s' "$v"; done; echo; }
echo
echo "pantavisor (release) local updates, medians of $ROUNDS rounds, PV_UPDATER_COMMIT_DELAY=0"
hdr=(); for t in $TICKS; do hdr+=("tick $t ms"); done
row "non-reboot update (new ${MIB} MiB app image)" "${hdr[@]}"
v=(); for t in $TICKS; do v+=("$(printf '%.3f s' "${R[upd,$t]}")"); done
row "  LOCAL_RUN request -> progress UPDATED" "${v[@]}"
v=(); for t in $TICKS; do v+=("$(printf '%.3f s' "${R[cs,$t]}")"); done
row "  reference: the container's own start (start -> 1st line)" "${v[@]}"
v=(); for t in $TICKS; do v+=("$(printf '%.3f s' "$(calc "${R[upd,$t]} - ${R[cs,$t]}")")"); done
row "  update minus container start" "${v[@]}"
v=(); for t in $TICKS; do v+=("$(printf '%.3f s' "${R[take,$t]}")"); done
row "    of which: request -> command taken by the main loop" "${v[@]}"
v=(); for t in $TICKS; do v+=("$(printf '%.3f s' "${R[rest,$t]}")"); done
row "    of which: the rest (stop, install, switch, test, commit)" "${v[@]}"
v=(); for t in $TICKS; do v+=("$(printf '%.1f x' "$(calc "${R[upd,$t]} / ${R[cs,$t]}")")"); done
row "  update / container start" "${v[@]}"
echo
row "bytes written to storage / bytes of changed objects" "$(printf '%.3f x' "$m_ratio")"
row "  (written, uploaded)" "$(printf '%d B, %d B' "${m_written%.*}" "${m_changed%.*}")"
row "fsync barriers (all; on the storage fs)" "all" "storage"
row "  non-reboot update (upload included)" "$sync_nr" "$sync_nr_s"
row "  reference: the runtime idle for 1.5 s" "$sync_idle" "$sync_idle_s"
row "  reboot update (upload, both boots)" "$sync_r" "$sync_r_s"
row "  reference: a plain boot" "$sync_boot" "$sync_boot_s"
row "reboot update: LOCAL_RUN -> DONE (restart included), tick 200" "$(printf '%.3f s' "$reboot_time")"
