#!/bin/bash
# Time from `pvr post` to UPDATED for a non-reboot app update through a
# real `pantahub serve` (poll interval 1 s), and the bytes the device
# downloaded divided by the bytes of the objects that changed (target
# 1.0x: only missing objects, each once). Runs the hub e2e's short case
# (root, busybox-static, squashfs-tools) and prints its measures; the
# reference is the poll interval, measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p pantahub -p pvr -p pantavisor
out=$(cargo test -q -p pantavisor --test hub join_token -- --nocapture 2>&1 | grep 'hub-e2e:' || true)
[ -n "$out" ] || { echo "hub e2e did not report (needs root)"; exit 1; }
echo "$out"
secs=$(sed -n 's/.*post to UPDATED \([0-9.]*\)s.*/\1/p' <<<"$out")
echo "post→UPDATED / poll interval (1 s): $(awk -v s="$secs" 'BEGIN{printf "%.2f", s/1.0}')x"
