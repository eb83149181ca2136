#!/usr/bin/env python3
"""Compare two scanners' per-file verdicts, for `tools/bench engine`.

    verdicts.py LIST NAME_A OUT_A NAME_B OUT_B [DIFF]

OUT_A and OUT_B are clamscan-format outputs ("path: OK", "path: Name FOUND",
"path: reason ERROR"; clamscan's "path: Empty file" counts as OK).  Every
path in LIST must have a verdict in both.  Prints one summary line; the
disagreements, one per line, go to DIFF (default: stderr, the first 20),
each line starting with its kind:

  verdict:  one says OK, the other FOUND or ERROR (or missing)
  name:     both FOUND, under other signature names
  suffix:   both FOUND, the names differ only in libclamav's ".UNOFFICIAL"
            (which it appends to a signature from a database it does not
            count as official: plain files, containers not signed by
            ClamAV's key)

Exit 0 when they agree on every file, 1 when not.
"""
import sys


def verdict(rest):
    if rest in ("OK", "Empty file"):
        return "OK"
    if rest.endswith(" FOUND"):
        return "FOUND " + rest[:-6]
    if rest.endswith(" ERROR"):
        return "ERROR"
    return "?" + rest


def parse(path):
    out = {}
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            line = line.rstrip("\n")
            # The verdict follows the last ": " (a path may hold one too).
            p, sep, rest = line.rpartition(": ")
            if not sep:
                continue
            v = verdict(rest)
            prev = out.get(p)
            # FOUND lines may repeat (--allmatch); keep every name.
            out[p] = v if prev is None or prev == "OK" else prev + "; " + v
    return out


def kind(va, vb):
    if not (va.startswith("FOUND ") and vb.startswith("FOUND ")):
        return "verdict"
    if va.replace(".UNOFFICIAL", "") == vb.replace(".UNOFFICIAL", ""):
        return "suffix"
    return "name"


def main(argv):
    if len(argv) not in (6, 7):
        sys.stderr.write(__doc__)
        return 2
    with open(argv[1], encoding="utf-8", errors="surrogateescape") as f:
        files = [l.rstrip("\n") for l in f if l.strip()]
    na, nb = argv[2], argv[4]
    a, b = parse(argv[3]), parse(argv[5])
    diffs = []
    counts = {na: {}, nb: {}}
    for p in files:
        va, vb = a.get(p, "missing"), b.get(p, "missing")
        for n, v in ((na, va), (nb, vb)):
            k = v.split(" ")[0]
            counts[n][k] = counts[n].get(k, 0) + 1
        if va != vb:
            diffs.append("%s: %s: %s=%s %s=%s" % (kind(va, vb), p, na, va, nb, vb))
    summ = "; ".join("%s %s" % (n, ", ".join("%d %s" % (c, k) for k, c in sorted(counts[n].items())))
                     for n in (na, nb))
    nk = {k: sum(d.startswith(k + ":") for d in diffs) for k in ("verdict", "name", "suffix")}
    print("verdicts: %d files, %d disagree: %d in the verdict, %d in the signature name, "
          "%d only in .UNOFFICIAL (%s)" % (len(files), len(diffs), nk["verdict"], nk["name"],
                                          nk["suffix"], summ))
    if len(argv) == 7:
        with open(argv[6], "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write("".join(d + "\n" for d in diffs))
    else:
        for d in diffs[:20]:
            sys.stderr.write(d + "\n")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
