#!/usr/bin/env bash
# `pvr add . && pvr commit` (objects written and made durable) against
# `openssl dgst -sha256` over the same bytes, measured in the same run, on
# two trees:
#   many: 5,000 files, 4,000 of them <= 32 KiB, 512 MiB in all
#   big:  50 files of 10 MiB
# Each tree is measured REPS times (default 3) with a fresh repository and
# pool; the ratio reported is median(pvr) / median(openssl).
# Usage: bench/add-commit-vs-openssl.sh [REPS]   (PVR=/path/to/pvr skips the build)
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-3}
if [ -z "${PVR:-}" ]; then
    cargo build --release -q -p pvr
    PVR=$PWD/target/release/pvr
fi
BENCH=$PWD/bench
W=$(mktemp -d /var/tmp/pvr-bench.XXXXXX); trap 'rm -rf "$W"' EXIT
now() { date +%s.%N; }
calc() { python3 -c "print($1)"; }
median() { python3 -c "import sys,statistics; print(statistics.median(map(float, sys.argv[1:])))" "$@"; }

# measure TREE_NAME MIB FILES SMALL SMALL_MAX_KIB TARGET
measure() {
    local name=$1 target=$6 tree="$W/$1"
    python3 "$BENCH/gen-tree.py" "$tree" "$2" "$3" "$4" "$5"
    local refs=() ours=() adds=() commits=() floors=()
    for rep in $(seq "$REPS"); do
        # a fresh pool per run; earlier pools are removed only at the end,
        # since ext4 allocates inodes slowly right after a mass deletion
        rm -rf "$tree/.pvr"
        local cfg="$W/cfg-$name-$rep"
        sync
        # warm the page cache for both contenders
        find "$tree" -type f -print0 | xargs -0 cat > /dev/null
        local t0 t1 tm
        t0=$(now); find "$tree" -type f -print0 | xargs -0 openssl dgst -sha256 > /dev/null; t1=$(now)
        refs+=("$(calc "$t1 - $t0")")
        (cd "$tree" && PVR_CONFIG_DIR="$cfg" "$PVR" --quiet init > /dev/null)
        t0=$(now)
        (cd "$tree" && PVR_CONFIG_DIR="$cfg" "$PVR" --quiet add .)
        tm=$(now)
        (cd "$tree" && PVR_CONFIG_DIR="$cfg" "$PVR" --quiet commit -m bench > /dev/null 2>&1)
        t1=$(now)
        ours+=("$(calc "$t1 - $t0")"); adds+=("$(calc "$tm - $t0")"); commits+=("$(calc "$t1 - $tm")")
        # the floor for any durable copy: the device writing as many bytes
        t0=$(now); dd if=/dev/zero of="$W/dd" bs=1M count="$2" conv=fdatasync status=none; t1=$(now)
        floors+=("$(calc "$t1 - $t0")"); rm -f "$W/dd"
    done
    local n; n=$(find "$W/cfg-$name-1/objects" -type f | wc -l)
    local mr mo
    mr=$(median "${refs[@]}"); mo=$(median "${ours[@]}")
    printf '%s: %s MiB in %s files (%s objects), %s runs\n' "$name" "$2" "$3" "$n" "$REPS"
    printf '  openssl dgst -sha256: %s s (median %.3f)\n' "${refs[*]}" "$mr"
    printf '  pvr add + commit:     %s s (median %.3f)\n' "${ours[*]}" "$mo"
    printf '    add:    median %.3f s\n' "$(median "${adds[@]}")"
    printf '    commit: median %.3f s\n' "$(median "${commits[@]}")"
    printf '  dd %s MiB conv=fdatasync (device floor): median %.3f s\n' "$2" "$(median "${floors[@]}")"
    printf '  ratio %s: %.2f (target <= %s)\n' "$name" "$(calc "$mo / $mr")" "$target"
    rm -rf "$tree" "$W"/cfg-"$name"-*
}

measure many 512 5000 4000 32 1.25
measure big 500 50 0 0 1.1
