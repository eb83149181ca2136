#!/usr/bin/env python3
"""Generate the two big hash lists of a main.cvd-sized set, for `tools/bench scale`.

    gen_scale.py OUTDIR [--seed N] [--mdb N] [--hsb N]

Writes OUTDIR/main.mdb (PESectionSize:MD5:Name, the PE-section hashes) and
OUTDIR/main.hsb (SHA256:FileSize:Name, the file hashes), by default in the
counts of ClamAV's main.cvd v62: 4,058,809 and 2,360,000 lines.  The real
members of main.cvd (main.ldb, main.hdb) and daily.cvd (daily.ndb, .fp)
come from ../shared/testdata/real-sigs; these two are plain hash lists, so
generated lines of the right syntax and number stand in for them.

Deterministic: the output depends only on the seed and the counts (only
random.getrandbits is used, whose output for an integer seed is stable
across machines and Python 3 versions).  Sizes are explicit (no `*`, which
needs a newer functionality level): PE sections 512 B .. 4 MiB, files
1 KiB .. 16 MiB, log-uniform-ish.  Names follow ClamAV's
Platform.Category.Name-N form and are unique.
"""
import argparse
import os
import random
import sys

CHUNK = 20000   # lines per write
PLATFORMS = ("Win", "Win", "Win", "Doc", "Pdf", "Andr", "Unix", "Html")
KINDS = ("Trojan", "Malware", "Downloader", "Worm", "Adware", "Dropper")


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)

    def bits(self, n):
        return self.r.getrandbits(n)

    def between(self, lo, hi):
        return lo + self.bits(32) % (hi - lo + 1)

    def size(self, lo_log, hi_log):
        return self.between(1 << (lo_log - 1), 1 << self.between(lo_log, hi_log))

    def name(self, tag, i):
        return "%s.%s.%s-%d" % (PLATFORMS[self.bits(3)], KINDS[self.bits(16) % len(KINDS)], tag, i)


def write_mdb(path, g, count):
    with open(path, "w", encoding="ascii", newline="\n") as f:
        out = []
        for i in range(count):
            out.append("%d:%032x:%s\n" % (g.size(10, 22), g.bits(128), g.name("ScaleSect", i)))
            if len(out) == CHUNK:
                f.write("".join(out))
                out = []
        f.write("".join(out))


def write_hsb(path, g, count):
    with open(path, "w", encoding="ascii", newline="\n") as f:
        out = []
        for i in range(count):
            out.append("%064x:%d:%s\n" % (g.bits(256), g.size(11, 24), g.name("ScaleFile", i)))
            if len(out) == CHUNK:
                f.write("".join(out))
                out = []
        f.write("".join(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mdb", type=int, default=4058809)
    ap.add_argument("--hsb", type=int, default=2360000)
    a = ap.parse_args()
    if a.mdb < 0 or a.hsb < 0:
        sys.exit("gen_scale.py: counts must not be negative")
    os.makedirs(a.outdir, exist_ok=True)
    # one generator per file, seeded apart: either file is the same
    # whatever the count of the other
    write_mdb(os.path.join(a.outdir, "main.mdb"), Gen(a.seed * 2), a.mdb)
    write_hsb(os.path.join(a.outdir, "main.hsb"), Gen(a.seed * 2 + 1), a.hsb)


if __name__ == "__main__":
    main()
