#!/usr/bin/env bash
# Differential test of the .ndb matcher against clamscan.
#
#   ndb_diff.sh NDB_SCAN_TOOL [SEED [COUNT]]
#
# tests/gen/gen_ndb_diff.py writes COUNT signatures (default 300) and, for
# each, files that match and near misses; clamscan (one run, --allmatch)
# and ndb_scan_tool scan the same files and must report the same signatures
# for every file.  Signatures ndb_scan_tool does not load are listed and
# left out of the comparison.  The generator's reference matcher is shown
# beside each disagreement.  Skips (77) without clamscan or python3.
set -u
. "$(dirname "$0")/lib.sh"

tool=${1:?usage: ndb_diff.sh NDB_SCAN_TOOL [SEED [COUNT]]}
seed=${2:-1}
count=${3:-300}
gen="$(dirname "$0")/../gen/gen_ndb_diff.py"
command -v clamscan >/dev/null || skip_all "clamscan not installed"
command -v python3 >/dev/null || skip_all "python3 not installed"

d="$T_TMP/gen"
python3 "$gen" "$d" --seed "$seed" --count "$count" || { not_ok "generator"; finish; exit; }
(cd "$d/files" && ls) | sed "s|^|$d/files/|" >"$d/list"

rc=0
clamscan --no-summary --allmatch -d "$d/gen.ndb" --file-list="$d/list" \
	>"$d/clam.out" 2>"$d/clam.err" || rc=$?
if [ "$rc" -gt 1 ]; then
	not_ok "clamscan failed (exit $rc)"; sed 's/^/    /' "$d/clam.err" | head -20
	finish; exit
fi
rc=0
mapfile -t files <"$d/list"
"$tool" --allmatch "$d/gen.ndb" "${files[@]}" \
	>"$d/ours.out" 2>"$d/ours.err" || rc=$?
if [ "$rc" -gt 1 ]; then
	not_ok "ndb_scan_tool failed (exit $rc)"; sed 's/^/    /' "$d/ours.err" | head -20
	finish; exit
fi

python3 - "$d" <<'EOF' && ok "clamscan and ndb_scan_tool agree on every file" || not_ok "verdicts differ"
import os, re, sys
d = sys.argv[1]

def verdicts(path):
    v = {}
    for line in open(path, encoding='latin-1'):
        line = line.rstrip('\n')
        f, _, r = line.rpartition(': ')
        f = os.path.basename(f)
        v.setdefault(f, set())
        if r.endswith(' FOUND'):
            v[f].add(re.sub(r'\.UNOFFICIAL$', '', r[:-6]))
    return v

clam = verdicts(d + '/clam.out')
ours = verdicts(d + '/ours.out')
skipped = set()
for line in open(d + '/ours.err', encoding='latin-1'):
    m = re.search(r': not loaded: ([^:]+): (.*)', line)
    if m:
        skipped.add(m.group(1))
        print('  not loaded: %s: %s' % (m.group(1), m.group(2)))
expect = {}
for line in open(d + '/expect.tsv'):
    f, name, desc, quirk = line.rstrip('\n').split('\t')
    expect[f] = (name, desc, quirk)
sigs = {l.split(':', 1)[0]: l.strip() for l in open(d + '/gen.ndb')}
files = sorted(expect)
bad = agree = hits = quirks = 0
for f in files:
    c = clam.get(f, {'<missing>'}) - skipped
    o = ours.get(f, {'<missing>'}) - skipped
    if expect[f][0] in skipped:
        continue
    if c == o:
        agree += 1
        hits += bool(c)
        continue
    if expect[f][2] == 'eof-overrun' and not o and expect[f][0] == '-':
        quirks += 1
        print('  known clamscan quirk (%s): %s: clamscan %s, ours and '
              'reference none' % (expect[f][2], f, sorted(c)))
        continue
    bad += 1
    if bad <= 40:
        print('  DIFF %s (%s): clamscan %s, ours %s, reference %s'
              % (f, expect[f][1], sorted(c), sorted(o), expect[f][0]))
        for n in sorted(c ^ o):
            print('       %s' % sigs.get(n, n))
ref = sum(1 for f in files if expect[f][0] not in skipped and
          (expect[f][0] != '-') != ('Diff.P' + f[1:4] in clam.get(f, ())))
print('  %d signatures (%d not loaded), %d files compared, %d agree '
      '(%d with a detection), %d known clamscan quirks, %d differ; the '
      'reference matcher differs from clamscan on %d (own signature)'
      % (len(sigs), len(skipped), agree + bad + quirks, agree, hits, quirks,
         bad, ref))
sys.exit(1 if bad else 0)
EOF
finish
