#!/bin/bash
# Time from `pvr post` to UPDATED for a non-reboot app update through a
# real `pantahub serve` (poll interval 1 s), the device's part of it (its
# first report, QUEUED, to UPDATED: the poll wait and the post excluded),
# and the bytes the device downloaded divided by the bytes of the objects
# that changed (target 1.0x: only missing objects, each once). Runs the
# hub e2e's short case (root, busybox-static, squashfs-tools) and prints
# its measures; the reference is the poll interval, measured in the same
# run as the time from the post to the device's first report.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p pantahub -p pvr -p pantavisor
out=$(cargo test -q -p pantavisor --test hub join_token -- --nocapture 2>&1 | grep 'hub-e2e:' || true)
[ -n "$out" ] || { echo "hub e2e did not report (needs root)"; exit 1; }
echo "$out"
total=$(sed -n 's/.*post to UPDATED \([0-9.]*\)s.*/\1/p' <<<"$out")
device=$(sed -n 's/.*QUEUED to UPDATED \([0-9.]*\)s.*/\1/p' <<<"$out")
awk -v t="$total" -v d="$device" 'BEGIN{
  printf "post and poll wait: %.2fs; device QUEUED→UPDATED: %.2fs (%.2fx the post and poll wait)\n", t-d, d, d/(t-d)}'
