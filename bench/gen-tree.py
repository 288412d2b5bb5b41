#!/usr/bin/env python3
"""Generate a deterministic tree of mixed file sizes: gen-tree.py DIR TOTAL_MIB FILES"""
import os, random, sys

root, total_mib, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(42)
big = max(1, files // 100)
small = files - big
small_sizes = [rng.randint(1, 64 * 1024) for _ in range(small)]
rest = max(0, total_mib * 1024 * 1024 - sum(small_sizes))
big_sizes = [rest // big] * big
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
