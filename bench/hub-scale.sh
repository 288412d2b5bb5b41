#!/bin/bash
# The hub at scale, on this machine, with SQLite (a fresh `pantahub serve
# --data DIR` per fleet):
#  1. fleet simulator (crates/pantahub/examples/fleetsim.rs): N simulated
#     devices speaking the device protocol (login, update poll, progress,
#     device-meta, logs) at the request rate of N devices polling every
#     60 s, time-compressed to SECONDS; p50/p99 latency and errors. The
#     reference is the 100 ms p99 target; FLEETS lists the sizes.
#  2. object upload and download of a 1 GiB file over loopback, with the
#     device's own hub client and with curl, divided by `cp` of the same
#     file measured just before (target >= 0.5x); median of ROUNDS rounds.
#     An upload is answered once the blob is verified and durable (fsync),
#     cp's copy is not; curl writes a download in 16 KiB pieces. The CPU
#     seconds the hub spent on each transfer are printed beside it (the
#     wall-clock ratios mean little on a machine shared with builds). In
#     a VM that hands free memory back to its host (free page reporting),
#     a page of page cache taken from such memory costs a host fault on
#     first touch: ~2 s of CPU per GiB written instead of ~0.2 s, for cp
#     and for the upload alike, depending on what was freed just before.
# Usage: bench/hub-scale.sh   (FLEETS="1000 10000" SECONDS_RUN=20 SKIP_BLOB=1
#                              SKIP_FLEET=1 ROUNDS=3 PROFILE=release
#                              CLIENTS="ours curl"
#                              HUBS="old=/path/to/pantahub new=/other/pantahub")
# Binaries are built into and taken from $CARGO_TARGET_DIR (default target/).
set -euo pipefail
cd "$(dirname "$0")/.."
FLEETS=${FLEETS:-"1000 10000"}
SECONDS_RUN=${SECONDS_RUN:-20}
PROFILE=${PROFILE:-dev}
cargo build -q --profile "$PROFILE" -p pantahub --bin pantahub --example fleetsim --example blobclient
target=${CARGO_TARGET_DIR:-target}
dir=$target/debug
[ "$PROFILE" = dev ] || dir=$target/$PROFILE
case $dir in /*) ;; *) dir=$PWD/$dir ;; esac
PH=${PH:-$dir/pantahub}
SIM=$dir/examples/fleetsim
BLOBCLIENT=$dir/examples/blobclient
work=$(mktemp -d /tmp/hub-scale.XXXXXX)
hub_pids=()
stop_hub() {
  local p
  for p in "${hub_pids[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  hub_pids=()
}
trap 'stop_hub; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start a fresh hub (binary $1) in $work/$2 (more arguments go to serve);
# sets $url and $hub_pid
start_hub() {
  local ph=$1 data=$work/$2
  shift 2
  "$ph" user add --data "$data" --nick bench --email bench@example.com --password pw >/dev/null
  local port; port=$(free_port)
  url=http://127.0.0.1:$port
  RUST_LOG=warn "$ph" serve --data "$data" --listen "127.0.0.1:$port" "$@" 2>"$data.log" &
  hub_pid=$!
  hub_pids+=("$hub_pid")
  for _ in $(seq 600); do
    curl -fs "$url/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "the hub did not start: $(cat "$data.log")" >&2
  exit 1
}

echo "# machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), profile $PROFILE"
[ -n "${SKIP_FLEET:-}" ] && FLEETS=""
for n in $FLEETS; do
  start_hub "$PH" "fleet-$n"
  "$SIM" --hub "$url" --user bench --password pw --devices "$n" --seconds "$SECONDS_RUN"
  stop_hub
done

[ -n "${SKIP_BLOB:-}" ] && exit 0
# ROUNDS rounds (default 3); in each, for each client of CLIENTS (default
# "ours curl") and each hub of HUBS (default: the one just built; several
# `label=binary` for an A/B measured in the same rounds, their order
# alternating from round to round), a fresh 1 GiB file (an upload of a
# blob already stored is only verified, not written): cp of it, its
# upload, its download, and the CPU time the hub spent on each; the
# medians are reported per client and hub. `ours` is the device's hub
# client (pv-hub-client, examples/blobclient.rs), `curl` is curl.
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-"ours curl"}
read -r -a hubs <<<"${HUBS:-hub=$PH}"
nclients=$(echo $CLIENTS | wc -w)
now() { date +%s.%N; }
# CPU seconds (user + system, all threads) process $1 has used so far
cpu_of() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }
declare -A hub_url hub_tok hub_pid_of
for h in "${hubs[@]}"; do
  label=${h%%=*}
  # every upload stores another GiB: lift the 2 GiB account quota
  start_hub "${h#*=}" "blobs-$label" --objects-quota $(((ROUNDS * nclients + 1) << 30))
  hub_url[$label]=$url
  hub_pid_of[$label]=$hub_pid
  hub_tok[$label]=$(curl -fs -A bench -H 'content-type: application/json' \
    -d '{"username":"bench","password":"pw"}' "$url/auth/login" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
done
: >"$work/times"
put_with() { # client url file
  case $1 in
    ours) "$BLOBCLIENT" put "$2" "$3" >/dev/null ;;
    curl) curl -fs -T "$3" "$2" >/dev/null ;;
  esac
}
get_with() { # client url out
  case $1 in
    ours) "$BLOBCLIENT" get "$2" "$3" >/dev/null ;;
    curl) curl -fs -o "$3" "$2" ;;
  esac
}
for round in $(seq "$ROUNDS"); do
  order=("${hubs[@]}")
  if [ $((round % 2)) = 0 ]; then
    order=()
    for ((i = ${#hubs[@]} - 1; i >= 0; i--)); do order+=("${hubs[i]}"); done
  fi
  for client in $CLIENTS; do
    for h in "${order[@]}"; do
      label=${h%%=*}
      url=${hub_url[$label]}
      pid=${hub_pid_of[$label]}
      src=$work/blob.src
      head -c 1073741824 /dev/urandom >"$src"
      sha=$(sha256sum "$src" | cut -d' ' -f1)
      # the new file's dirty pages written out first: cp and the transfers
      # must not pay for its writeback (nor be throttled by it)
      sync
      t0=$(now); cp "$src" "$work/blob.cp"; t1=$(now)
      cp_s=$(echo "$t1 - $t0" | bc -l)
      rm -f "$work/blob.cp"
      ann=$(curl -fs -A bench -H "authorization: Bearer ${hub_tok[$label]}" -H 'content-type: application/json' \
        -d "{\"objectname\":\"blob$round$client\",\"sha256sum\":\"$sha\",\"size\":\"1073741824\"}" "$url/objects/")
      put=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["signed-puturl"])' "$ann")
      get=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["signed-geturl"])' "$ann")
      c0=$(cpu_of "$pid"); t0=$(now); put_with "$client" "$put" "$src"; t1=$(now); c1=$(cpu_of "$pid")
      t2=$(now); get_with "$client" "$get" "$work/blob.dl"; t3=$(now); c2=$(cpu_of "$pid")
      up_s=$(echo "$t1 - $t0" | bc -l)
      down_s=$(echo "$t3 - $t2" | bc -l)
      up_cpu=$(echo "$c1 - $c0" | bc -l)
      down_cpu=$(echo "$c2 - $c1" | bc -l)
      cmp "$src" "$work/blob.dl"
      rm -f "$work/blob.dl" "$src"
      printf 'round %d, %s, %s: cp %.2fs, upload %.2fs (sha256 verified, fsynced), download %.2fs: upload/cp %.2fx, download/cp %.2fx; hub CPU: upload %.2fs, download %.2fs (load %s)\n' \
        "$round" "$client" "$label" "$cp_s" "$up_s" "$down_s" "$(echo "$cp_s / $up_s" | bc -l)" "$(echo "$cp_s / $down_s" | bc -l)" \
        "$up_cpu" "$down_cpu" "$(cut -d' ' -f1 /proc/loadavg)"
      echo "$client,$label $cp_s $up_s $down_s $up_cpu $down_cpu" >>"$work/times"
    done
  done
done
stop_hub
python3 - "$work/times" <<'PY'
import statistics, sys
rows = {}
for l in open(sys.argv[1]):
    if l.strip():
        key, *t = l.split()
        rows.setdefault(key, []).append(list(map(float, t)))
for key, rs in rows.items():
    client, hub = key.split(",", 1)
    cp, up, down, up_cpu, down_cpu = (statistics.median(c) for c in zip(*rs))
    up_r = statistics.median(r[0] / r[1] for r in rs)
    down_r = statistics.median(r[0] / r[2] for r in rs)
    print(f"blob 1 GiB, {client}, {hub}, median of {len(rs)}: cp {cp:.2f}s ({1024/cp:.0f} MiB/s), "
          f"upload {up:.2f}s ({1024/up:.0f} MiB/s, sha256 verified, fsynced), download {down:.2f}s ({1024/down:.0f} MiB/s)")
    print(f"  {client}, {hub}: upload / cp: {up_r:.2f}x   download / cp: {down_r:.2f}x   (target >= 0.5x)   "
          f"hub CPU per GiB: upload {up_cpu:.2f}s, download {down_cpu:.2f}s")
PY
