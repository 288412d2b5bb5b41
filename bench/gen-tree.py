#!/usr/bin/env python3
"""Generate a deterministic tree of mixed file sizes.

gen-tree.py DIR TOTAL_MIB FILES [SMALL_FILES SMALL_MAX_KIB]

SMALL_FILES files get a random size of 1 B .. SMALL_MAX_KIB KiB (default:
99% of the files, up to 64 KiB); the others share the rest of TOTAL_MIB
equally. Every file's content is unique.
"""
import os, random, sys

root, total_mib, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
small = int(sys.argv[4]) if len(sys.argv) > 4 else files - max(1, files // 100)
small_max = int(sys.argv[5]) * 1024 if len(sys.argv) > 5 else 64 * 1024
rng = random.Random(42)
big = files - small
small_sizes = [rng.randint(1, small_max) for _ in range(small)]
rest = max(0, total_mib * 1024 * 1024 - sum(small_sizes))
big_sizes = [rest // big] * big if big else []
block = os.urandom(1 << 20)
for i, size in enumerate(small_sizes + big_sizes):
    d = os.path.join(root, "d%02d" % (i % 50), "s%02d" % (i % 7))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d.bin" % i), "wb") as f:
        # unique content per file: a header plus a rotation of the random block
        f.write(b"%08d" % i)
        left = size - 8
        off = (i * 7919) % len(block)
        while left > 0:
            chunk = block[off:off + left] or block[:left]
            f.write(chunk)
            left -= len(chunk)
            off = 0
