#!/usr/bin/env bash
# pvr app add from a ~200 MB rootfs directory vs. plain mksquashfs of the
# same directory with the same compressor (xz). Target: ratio <= 1.2.
#
# Usage: bench/app-add-vs-mksquashfs.sh [size_mb]   (default 200)
# Runs the real CLI: `pvr app add app --from <rootfs> --type rootfs` in a
# fresh checkout (release build).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${1:-200}
RUNS=${RUNS:-2}
command -v mksquashfs >/dev/null || { echo "mksquashfs missing: apt-get install squashfs-tools" >&2; exit 1; }

WORK=$(mktemp -d /tmp/pv-app-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

cargo build -q --release -p pvr
PVR="$PWD/target/release/pvr"
calc() { python3 -c "print($1)"; }

# A deterministic tree of mixed files: many small text files, larger
# compressible files and incompressible (random) files, symlinks.
python3 - "$WORK/rootfs" "$SIZE_MB" <<'PY'
import os, random, sys
root, size_mb = sys.argv[1], int(sys.argv[2])
rnd = random.Random(42)
words = [''.join(rnd.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rnd.randint(2, 10))) for _ in range(5000)]
budget = size_mb << 20
total = 0
n = 0
def text(nbytes):
    out = []
    size = 0
    while size < nbytes:
        line = ' '.join(rnd.choice(words) for _ in range(12)) + '\n'
        out.append(line); size += len(line)
    return ''.join(out).encode()[:nbytes]
while total < budget:
    d = os.path.join(root, 'usr', 'lib', 'pkg%03d' % (n // 40))
    os.makedirs(d, exist_ok=True)
    kind = n % 10
    if kind < 6:
        data = text(rnd.randint(1 << 10, 64 << 10))          # small text
    elif kind < 9:
        data = text(rnd.randint(256 << 10, 2 << 20))          # larger text
    else:
        data = rnd.randbytes(rnd.randint(512 << 10, 4 << 20)) # binary
    p = os.path.join(d, 'f%05d' % n)
    with open(p, 'wb') as f:
        f.write(data)
    if n % 50 == 0:
        os.symlink('f%05d' % n, p + '.link')
    total += len(data); n += 1
print(f"generated {n} files, {total >> 20} MiB in {root}")
PY

best() { sort -n | head -1; }
t_mk=(); t_app=()
for i in $(seq "$RUNS"); do
  rm -f "$WORK/ref.squashfs"
  s=$(date +%s.%N)
  mksquashfs "$WORK/rootfs" "$WORK/ref.squashfs" -comp xz -root-mode 0755 -noappend -no-progress -mkfs-time 0 >/dev/null
  e=$(date +%s.%N); t_mk+=("$(calc "$e - $s")")

  rm -rf "$WORK/checkout"; mkdir -p "$WORK/checkout"
  s=$(date +%s.%N)
  (cd "$WORK/checkout" && PVR_CONFIG_DIR="$WORK/cfg" "$PVR" --quiet app add app --from "$WORK/rootfs" --type rootfs 2>/dev/null)
  e=$(date +%s.%N); t_app+=("$(calc "$e - $s")")
done
MK=$(printf '%s\n' "${t_mk[@]}" | best)
APP=$(printf '%s\n' "${t_app[@]}" | best)
cmp -s "$WORK/ref.squashfs" "$WORK/checkout/app/root.squashfs" && SAME=yes || SAME=no
echo "mksquashfs runs: ${t_mk[*]}"
echo "app add runs:    ${t_app[*]}"
printf 'mksquashfs: %.2fs  app add: %.2fs  ratio: %.3f  (identical squashfs: %s)\n' \
  "$MK" "$APP" "$(calc "$APP / $MK")" "$SAME"
