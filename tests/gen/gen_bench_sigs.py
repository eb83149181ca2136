#!/usr/bin/env python3
"""Generate the signature set for `tools/bench cvd`.

    gen_bench_sigs.py OUTDIR [--seed N] [--hdb N] [--hsb N] [--ndb N]

Writes OUTDIR/bench.hdb (MD5:Size:Name), OUTDIR/bench.hsb (SHA256:Size:Name)
and OUTDIR/bench.ndb (Name:0:Offset:HexSig).  The output depends only on the
seed and the counts: the same arguments give the same bytes on every machine
and Python 3 version (only random.getrandbits is used, whose output for an
integer seed is stable).  Defaults: seed 1, 1,000,000 MD5, 200,000 SHA-256,
20,000 body signatures: about 74 MB.

Every line is valid for `cvdtool verify` and ClamAV: body signatures have at
least four static bytes in each part between jumps, alternatives of one
length, and `??` never at the edge of a part.
"""
import argparse
import os
import random
import sys


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)

    def bits(self, n):
        return self.r.getrandbits(n)

    def below(self, n):
        """0 <= x < n; a slight modulo bias is fine for a benchmark."""
        return self.bits(32) % n

    def between(self, lo, hi):
        return lo + self.below(hi - lo + 1)

    def size(self):
        # File sizes spread over 1 KiB .. 16 MiB, log-uniform-ish.
        return self.between(1, 1 << self.between(10, 24))

    def hexbytes(self, n):
        return format(self.bits(8 * n), "0%dx" % (2 * n))


def write_hashes(path, g, count, nbytes, prefix):
    fmt = "%%0%dx:%%d:%s-%%d\n" % (2 * nbytes, prefix)
    with open(path, "w", encoding="ascii", newline="\n") as f:
        chunk = []
        for i in range(count):
            chunk.append(fmt % (g.bits(8 * nbytes), g.size(), i))
            if len(chunk) == 10000:
                f.write("".join(chunk))
                chunk = []
        f.write("".join(chunk))


def ndb_part(g, lo, hi):
    """Static hex, lo..hi bytes, with the odd `??` or `a?` inside."""
    n = g.between(lo, hi)
    s = g.hexbytes(n)
    if n >= 8 and g.below(4) == 0:
        # a wildcard byte strictly inside, with >= 3 static bytes each side
        k = g.between(3, n - 4)
        w = "??" if g.below(2) == 0 else s[2 * k] + "?"
        s = s[: 2 * k] + w + s[2 * k + 2 :]
    return s


def ndb_pattern(g):
    kind = g.below(100)
    if kind < 45:  # plain hex, 8..40 bytes
        return g.hexbytes(g.between(8, 40))
    if kind < 60:  # with ?? / a? inside
        n = g.between(8, 40)
        s = g.hexbytes(n)
        k = g.between(3, n - 4)
        return s[: 2 * k] + "??" + s[2 * k + 2 :]
    if kind < 72:  # two parts, `*` between
        return ndb_part(g, 4, 20) + "*" + ndb_part(g, 4, 20)
    if kind < 84:  # two or three parts, {n-m} jumps
        parts = [ndb_part(g, 4, 16) for _ in range(g.between(2, 3))]
        out = parts[0]
        for p in parts[1:]:
            a = g.between(0, 64)
            out += "{%d-%d}" % (a, a + g.between(1, 256)) + p
        return out
    if kind < 96:  # alternatives of one length inside static bytes
        w = g.between(1, 4)
        alts = "|".join(g.hexbytes(w) for _ in range(g.between(2, 4)))
        return ndb_part(g, 4, 16) + "(" + alts + ")" + ndb_part(g, 4, 16)
    # a mix of everything
    w = g.between(1, 2)
    alts = "|".join(g.hexbytes(w) for _ in range(2))
    return (ndb_part(g, 4, 12) + "(" + alts + ")" + g.hexbytes(4) + "*" +
            ndb_part(g, 4, 12) + "{%d}" % g.between(1, 64) + ndb_part(g, 4, 12))


def ndb_offset(g):
    k = g.below(100)
    if k < 70:
        return "*"
    if k < 85:
        return "%d" % g.between(0, 4096)
    return "EOF-%d" % g.between(16, 4096)


def write_ndb(path, g, count):
    with open(path, "w", encoding="ascii", newline="\n") as f:
        for i in range(count):
            f.write("Bench.Ndb-%d:0:%s:%s\n" % (i, ndb_offset(g), ndb_pattern(g)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hdb", type=int, default=1000000)
    ap.add_argument("--hsb", type=int, default=200000)
    ap.add_argument("--ndb", type=int, default=20000)
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    # One stream per file, so changing one count leaves the others' bytes alone.
    write_hashes(os.path.join(a.outdir, "bench.hdb"), Gen(a.seed * 3 + 0), a.hdb, 16, "Bench.Hdb")
    write_hashes(os.path.join(a.outdir, "bench.hsb"), Gen(a.seed * 3 + 1), a.hsb, 32, "Bench.Hsb")
    write_ndb(os.path.join(a.outdir, "bench.ndb"), Gen(a.seed * 3 + 2), a.ndb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
