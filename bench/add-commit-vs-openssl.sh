#!/usr/bin/env bash
# pvr add + commit of a 1 GiB tree (10k files, mixed sizes) against
# `openssl dgst -sha256` over the same bytes, measured in the same run.
# Usage: bench/add-commit-vs-openssl.sh [TOTAL_MIB] [FILES]
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=${1:-1024}; FILES=${2:-10000}
cargo build --release -q -p pvr
PVR=$PWD/target/release/pvr
W=$(mktemp -d /var/tmp/pvr-bench.XXXXXX); trap 'rm -rf "$W"' EXIT
python3 bench/gen-tree.py "$W/repo" "$MIB" "$FILES"
sync
now() { date +%s.%N; }
calc() { python3 -c "print($1)"; }
# warm the page cache for both contenders
find "$W/repo" -type f -print0 | xargs -0 cat > /dev/null
t0=$(now); find "$W/repo" -type f -print0 | xargs -0 openssl dgst -sha256 > /dev/null; t1=$(now)
ref=$(calc "$t1 - $t0")
cd "$W/repo"
export PVR_CONFIG_DIR="$W/cfg"
"$PVR" init
t0=$(now); "$PVR" add . ; tm=$(now); "$PVR" commit -m bench 2>/dev/null; t1=$(now)
ours=$(calc "$t1 - $t0"); add_t=$(calc "$tm - $t0"); commit_t=$(calc "$t1 - $tm")
t0=$(now); "$PVR" add . ; t1=$(now); add_only=$(calc "$t1 - $t0")
n=$(ls "$W/cfg/objects" | wc -l)
printf 'tree: %s MiB in %s files (%s objects)\n' "$MIB" "$FILES" "$n"
printf 'openssl dgst -sha256: %.3f s\n' "$ref"
printf 'pvr add + commit:     %.3f s\n' "$ours"
printf '  of which add:       %.3f s\n' "$add_t"
printf '  of which commit:    %.3f s\n' "$commit_t"
printf 'pvr add (cached):     %.3f s\n' "$add_only"
printf 'ratio add+commit / openssl: %.2f (target <= 1.25)\n' "$(calc "$ours / $ref")"
