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
#     cp's copy is not; curl writes a download in 16 KiB pieces.
# Usage: bench/hub-scale.sh   (FLEETS="1000 10000" SECONDS_RUN=20 SKIP_BLOB=1
#                              SKIP_FLEET=1 ROUNDS=3 PROFILE=release
#                              CLIENTS="ours curl")
set -euo pipefail
cd "$(dirname "$0")/.."
FLEETS=${FLEETS:-"1000 10000"}
SECONDS_RUN=${SECONDS_RUN:-20}
PROFILE=${PROFILE:-dev}
cargo build -q --profile "$PROFILE" -p pantahub --bin pantahub --example fleetsim --example blobclient
dir=target/debug
[ "$PROFILE" = dev ] || dir=target/$PROFILE
PH=$PWD/$dir/pantahub
SIM=$PWD/$dir/examples/fleetsim
BLOBCLIENT=$PWD/$dir/examples/blobclient
work=$(mktemp -d /tmp/hub-scale.XXXXXX)
hub_pid=""
stop_hub() {
  if [ -n "$hub_pid" ]; then
    kill -TERM "$hub_pid" 2>/dev/null || true
    wait "$hub_pid" 2>/dev/null || true
    hub_pid=""
  fi
}
trap 'stop_hub; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start a fresh hub in $work/$1 (more arguments go to serve); sets $url
start_hub() {
  local data=$work/$1
  shift
  "$PH" user add --data "$data" --nick bench --email bench@example.com --password pw >/dev/null
  local port; port=$(free_port)
  url=http://127.0.0.1:$port
  RUST_LOG=warn "$PH" serve --data "$data" --listen "127.0.0.1:$port" "$@" 2>"$data.log" &
  hub_pid=$!
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
  start_hub "fleet-$n"
  "$SIM" --hub "$url" --user bench --password pw --devices "$n" --seconds "$SECONDS_RUN"
  stop_hub
done

[ -n "${SKIP_BLOB:-}" ] && exit 0
# ROUNDS rounds (default 3); in each, for each client of CLIENTS (default
# "ours curl"), a fresh 1 GiB file (an upload of a blob already stored is
# only verified, not written): cp of it, its upload, its download; the
# medians are reported per client. `ours` is the device's hub client
# (pv-hub-client, examples/blobclient.rs), `curl` is curl.
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-"ours curl"}
nclients=$(echo $CLIENTS | wc -w)
# every upload stores another GiB: lift the 2 GiB account quota
start_hub blobs --objects-quota $(((ROUNDS * nclients + 1) << 30))
now() { date +%s.%N; }
tok=$(curl -fs -A bench -H 'content-type: application/json' \
  -d '{"username":"bench","password":"pw"}' "$url/auth/login" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
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
  for client in $CLIENTS; do
    src=$work/blob.src
    head -c 1073741824 /dev/urandom >"$src"
    sha=$(sha256sum "$src" | cut -d' ' -f1)
    # the new file's dirty pages written out first: cp and the transfers
    # must not pay for its writeback (nor be throttled by it)
    sync
    t0=$(now); cp "$src" "$work/blob.cp"; t1=$(now)
    cp_s=$(echo "$t1 - $t0" | bc -l)
    rm -f "$work/blob.cp"
    ann=$(curl -fs -A bench -H "authorization: Bearer $tok" -H 'content-type: application/json' \
      -d "{\"objectname\":\"blob$round$client\",\"sha256sum\":\"$sha\",\"size\":\"1073741824\"}" "$url/objects/")
    put=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["signed-puturl"])' "$ann")
    get=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["signed-geturl"])' "$ann")
    t0=$(now); put_with "$client" "$put" "$src"; t1=$(now)
    up_s=$(echo "$t1 - $t0" | bc -l)
    t0=$(now); get_with "$client" "$get" "$work/blob.dl"; t1=$(now)
    down_s=$(echo "$t1 - $t0" | bc -l)
    cmp "$src" "$work/blob.dl"
    rm -f "$work/blob.dl" "$src"
    printf 'round %d, %s: cp %.2fs, upload %.2fs (sha256 verified, fsynced), download %.2fs: upload/cp %.2fx, download/cp %.2fx (load %s)\n' \
      "$round" "$client" "$cp_s" "$up_s" "$down_s" "$(echo "$cp_s / $up_s" | bc -l)" "$(echo "$cp_s / $down_s" | bc -l)" \
      "$(cut -d' ' -f1 /proc/loadavg)"
    echo "$client $cp_s $up_s $down_s" >>"$work/times"
  done
done
stop_hub
python3 - "$work/times" <<'PY'
import statistics, sys
rows = {}
for l in open(sys.argv[1]):
    if l.strip():
        client, *t = l.split()
        rows.setdefault(client, []).append(list(map(float, t)))
for client, rs in rows.items():
    cp, up, down = (statistics.median(c) for c in zip(*rs))
    up_r = statistics.median(r[0] / r[1] for r in rs)
    down_r = statistics.median(r[0] / r[2] for r in rs)
    print(f"blob 1 GiB, {client}, median of {len(rs)}: cp {cp:.2f}s ({1024/cp:.0f} MiB/s), "
          f"upload {up:.2f}s ({1024/up:.0f} MiB/s, sha256 verified, fsynced), download {down:.2f}s ({1024/down:.0f} MiB/s)")
    print(f"  {client}: upload / cp: {up_r:.2f}x   download / cp: {down_r:.2f}x   (target >= 0.5x)")
PY
