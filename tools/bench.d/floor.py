#!/usr/bin/env python3
"""The scan floor for `tools/bench engine`: one core, one pass over each file.

    floor.py plan LIST SIGDIR OUT   (untimed) which digests each file needs
    floor.py run LIST               read every file, MD5 + SHA-256 of each
    floor.py run --plan PLAN        read every file, only the digests it needs

LIST holds one path per line.  Files over MAX_FILE_SIZE (100 MiB, the
MaxFileSize default of both clamscan and ampscansvc, which skip them) are
skipped here too.  Each file is read once, in CHUNK-sized pieces into one
buffer, and every digest is updated from the piece while it is in cache
(hashlib uses OpenSSL's EVP, as ampscansvc does).

`plan` reads the .hdb/.hsb sizes of SIGDIR: a file needs MD5 only when some
.hdb signature has its size, SHA-256 only when some .hsb one has (a
signature matches only a file of its size).  PLAN lines: "FLAGS<TAB>PATH",
FLAGS a sum of 1 (MD5) and 2 (SHA-256), 0 = read only.
"""
import hashlib
import os
import sys

MAX_FILE_SIZE = 100 << 20
CHUNK = 64 * 1024


def read_list(path):
    with open(path, "rb") as f:
        return [p for p in f.read().split(b"\n") if p]


def sizes(path):
    s = set()
    with open(path, "rb") as f:
        for line in f:
            parts = line.split(b":")
            if len(parts) >= 3 and parts[1].isdigit():
                s.add(int(parts[1]))
    return s


def plan(listfile, sigdir, out):
    md5s = sizes(os.path.join(sigdir, "bench.hdb"))
    shas = sizes(os.path.join(sigdir, "bench.hsb"))
    n = [0, 0, 0, 0]
    nbytes = [0, 0, 0, 0]
    with open(out, "wb") as f:
        for p in read_list(listfile):
            size = os.stat(p).st_size
            if size > MAX_FILE_SIZE:
                continue
            fl = (1 if size in md5s else 0) | (2 if size in shas else 0)
            n[fl] += 1
            nbytes[fl] += size
            f.write(b"%d\t%s\n" % (fl, p))
    for fl, what in enumerate(("read only", "MD5", "SHA-256", "MD5+SHA-256")):
        print("plan: %-11s %5d files %10d bytes" % (what, n[fl], nbytes[fl]))


def run(items):
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    total = 0
    for fl, p in items:
        hs = []
        if fl & 1:
            hs.append(hashlib.md5())
        if fl & 2:
            hs.append(hashlib.sha256())
        with open(p, "rb", buffering=0) as f:
            if os.fstat(f.fileno()).st_size > MAX_FILE_SIZE:
                continue
            while True:
                k = f.readinto(buf)
                if not k:
                    break
                total += k
                piece = view[:k]
                for h in hs:
                    h.update(piece)
        for h in hs:
            h.digest()
    return total


def main(argv):
    if len(argv) == 5 and argv[1] == "plan":
        plan(argv[2], argv[3], argv[4])
    elif len(argv) == 3 and argv[1] == "run":
        run((3, p) for p in read_list(argv[2]))
    elif len(argv) == 4 and argv[1:3] == ["run", "--plan"]:
        items = []
        with open(argv[3], "rb") as f:
            for line in f:
                fl, _, p = line.rstrip(b"\n").partition(b"\t")
                items.append((int(fl), p))
        run(items)
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
