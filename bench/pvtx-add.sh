#!/usr/bin/env bash
# `pvtx add <package>` in a local transaction (objects hashed while
# written, made durable, then the record replaced) against the reference
# `tar -x` of the same package followed by `sha256sum` of its objects and
# one `sync`, measured in the same run. Two packages of 40 objects of
# 5 MiB (200 MiB): a plain tar and a tar.gz. The ratio reported is
# median(pvtx) / median(reference) over REPS runs (default 3).
# Usage: bench/pvtx-add.sh [REPS]   (PVTX=/path/to/pvtx skips the build)
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-3}
if [ -z "${PVTX:-}" ]; then
    cargo build --release -q -p pvtx
    PVTX=$PWD/target/release/pvtx
fi
W=$(mktemp -d /var/tmp/pvtx-bench.XXXXXX); trap 'rm -rf "$W"' EXIT
now() { date +%s.%N; }
calc() { python3 -c "print($1)"; }
median() { python3 -c "import sys,statistics; print(statistics.median(map(float, sys.argv[1:])))" "$@"; }

# a package: json naming every object, objects/<sha256>
mkdir -p "$W/pkg/objects"
json='{"#spec":"pantavisor-service-system@1"'
for i in $(seq 1 40); do
    head -c $((5 << 20)) /dev/urandom > "$W/obj"
    sha=$(sha256sum "$W/obj" | cut -d' ' -f1)
    mv "$W/obj" "$W/pkg/objects/$sha"
    json="$json,\"app/file$i\":\"$sha\""
done
echo "$json}" > "$W/pkg/json"
(cd "$W/pkg" && tar -cf "$W/pkg.tar" json objects && tar -czf "$W/pkg.tgz" json objects)
rm -rf "$W/pkg"

for kind in tar tgz; do
    refs=() ours=()
    for rep in $(seq "$REPS"); do
        sync
        cat "$W/pkg.$kind" > /dev/null
        out="$W/ref-$kind-$rep"; mkdir -p "$out"
        t0=$(now)
        tar -xf "$W/pkg.$kind" -C "$out"
        sha256sum "$out"/objects/* > /dev/null
        sync
        t1=$(now)
        refs+=("$(calc "$t1 - $t0")")
        tx="$W/tx-$kind-$rep"
        PVTXDIR="$tx" "$PVTX" begin empty "$W/objects-$kind-$rep"
        t0=$(now)
        PVTXDIR="$tx" "$PVTX" add "$W/pkg.$kind"
        t1=$(now)
        ours+=("$(calc "$t1 - $t0")")
    done
    mr=$(median "${refs[@]}"); mo=$(median "${ours[@]}")
    printf '%s: 200 MiB in 40 objects, %s runs\n' "$kind" "$REPS"
    printf '  tar -x + sha256sum + sync: %s s (median %.3f)\n' "${refs[*]}" "$mr"
    printf '  pvtx add (local):          %s s (median %.3f)\n' "${ours[*]}" "$mo"
    printf '  ratio %s: %.2f\n' "$kind" "$(calc "$mo / $mr")"
done
