#!/usr/bin/env python3
"""Generate .ndb signatures and files for the differential test against clamscan.

    gen_ndb_diff.py OUTDIR [--seed N] [--count N]

Writes OUTDIR/gen.ndb (COUNT signatures, default 300), OUTDIR/files/*.bin
(for each signature, files that match it and near misses that do not) and
OUTDIR/expect.tsv (file, the signature a reference matcher finds in it or
-, what the file exercises, and "eof-overrun" where clamscan is known to
differ, else -).

Known clamscan quirk, not reproduced: with alternatives of different
lengths, clamscan 1.4.6 still matches when the file ends up to (longest -
shortest alternative) bytes before the end of the pattern, as long as it
holds the pattern's minimum length: it compares the missing bytes as equal.
The "cut short" files of such signatures are tagged eof-overrun.  tests/integration/ndb_diff.sh scans the files
with clamscan and with ndb_scan_tool and compares the verdicts.

Deterministic: the output depends only on the seed and the count (only
random.getrandbits is used, whose output for an integer seed is stable).

Patterns use every loadable form: hex bytes, ??, a?, ?a, inline {n}, *,
{n}, {-n}, {n-}, {n-m}, {0}/{0-0}/{-0} (ClamAV reads those as *),
(aa|bb), alternatives of different lengths or with wildcards, !(aa|bb),
aa[n-m]HEXSIG and HEXSIG[n-m]aa; offsets *, n, n,maxshift, EOF-n,
EOF-n,maxshift.  Every part keeps two static bytes in a row (ClamAV refuses
less).  Every signature uses its own random bytes: clamscan 1.4.6 mixes up
the [n-m] ranges of two signatures with the same bytes, and alternatives
with wildcards of signatures that share a prefix.

The reference matcher is a Python regular expression built from the same
structure (the [n-m] byte as a zero-width look-behind/ahead: it is a side
condition, not part of the match), tried at every start the offset allows.
"""
import argparse
import os
import re
import sys

SPAN_MAX = 700          # largest gap a jump gets in a file


class Rng:
    def __init__(self, seed):
        import random
        self.r = random.Random(seed)

    def bits(self, n):
        return self.r.getrandbits(n)

    def below(self, n):
        return self.bits(32) % n

    def between(self, lo, hi):
        return lo + self.below(hi - lo + 1)

    def chance(self, pct):
        return self.below(100) < pct

    def pick(self, seq):
        return seq[self.below(len(seq))]

    def byte(self):
        return self.bits(8)

    def data(self, n):
        return bytes(self.bits(8) for _ in range(n))


# ---- pattern structure ----------------------------------------------------
# A byte item: ('B', value, mask).  A group: ('G', [alternative, ...], neg),
# an alternative being a list of byte items.  A part: dict(items, lanc, ranc)
# with lanc/ranc (value, lo, hi) or None.  A jump: (lo, hi or None, text).

def b_static(v):
    return ('B', v, 0xff)


def b_any():
    return ('B', 0, 0)


def item_width(it):
    return 1 if it[0] == 'B' else None


def static_run(g, n):
    return [b_static(g.byte()) for _ in range(n)]


def wild_item(g):
    k = g.below(3)
    if k == 0:
        return b_any()
    v = g.byte()
    return ('B', v & 0xf0, 0xf0) if k == 1 else ('B', v & 0x0f, 0x0f)


def prefix_compat(a, b):
    """Can alternative a match the start of what a longer b matches?
    (clamscan 1.4.6 never matches such a group; ndb refuses it.)"""
    return len(a) < len(b) and all(
        ((x[1] ^ y[1]) & x[2] & y[2]) == 0 for x, y in zip(a, b))


def group_item(g, kind):
    """kind: 'same', 'var', 'generic', 'neg'."""
    n = g.between(2, 4)
    alts = []
    if kind in ('same', 'neg'):
        w = g.between(1, 3 if kind == 'same' else 2)
        seen = set()
        while len(alts) < n:
            a = tuple(g.byte() for _ in range(w))
            if a not in seen:
                seen.add(a)
                alts.append([b_static(x) for x in a])
    elif kind == 'var':
        while len(alts) < n:
            a = static_run(g, g.between(1, 4))
            if not any(prefix_compat(a, b) or prefix_compat(b, a)
                       for b in alts):
                alts.append(a)
    else:
        # one width: clamscan 1.4.6 is unreliable when alternatives mix
        # lengths and wildcards ((8a{3}|cc{2}ea7d) misses cc8a29ea7d,
        # (cc{2}ea7d|8a{3}) finds it)
        w = g.between(2, 6)
        while len(alts) < n:
            a = static_run(g, w)
            for _ in range(g.between(1, 2)):
                pos = g.below(w)
                if g.chance(25) and w >= 3:
                    k = g.between(2, w - 1)
                    pos = min(pos, w - k)
                    a[pos:pos + k] = [b_any()] * k      # {n} inside
                else:
                    a[pos] = wild_item(g)
            if a[0][2] == 0 and a[1][2] == 0:
                # clamscan 1.4.6 never matches such a signature
                # ("ac_findmatch: Unknown metatype"); ndb refuses it
                a[0] = b_static(g.byte())
            alts.append(a)
    return ('G', alts, kind == 'neg')


def is_static(it):
    return it[0] == 'B' and it[2] == 0xff


def is_generic(it):
    """A group other than single plain bytes."""
    if it[0] != 'G':
        return False
    return any(len(a) != 1 or a[0][2] != 0xff for a in it[1])


def make_part(g, feats, first, is_last):
    """A part: a static core of >= 2 bytes with optional extras around it."""
    items = static_run(g, g.between(2, 6))
    extras = []
    if 'wild' in feats and g.chance(70):
        for _ in range(g.between(1, 3)):
            extras.append([wild_item(g)])
    if 'inline' in feats and g.chance(70):
        extras.append([b_any()] * g.between(1, 40))
    for kind in ('same', 'var', 'generic', 'neg'):
        if kind in feats and g.chance(70):
            extras.append([group_item(g, kind)])
    for ex in extras:
        # before, after, or inside the static core, keeping 2 static bytes
        where = g.below(3)
        if where == 0:
            items = ex + items
        elif where == 1:
            items = items + ex
        else:
            runs = [i for i in range(2, len(items) - 1)
                    if all(x[0] == 'B' and x[2] == 0xff for x in items[:i])]
            if runs:
                k = g.pick(runs)
                items = items[:k] + ex + items[k:]
            else:
                items = items + ex
    if len(items) < 3 or not any(x[0] != 'B' or x[2] != 0xff for x in items):
        items = items + static_run(g, 3 - len(items) if len(items) < 3 else 1)
    k = next((i for i, it in enumerate(items) if is_generic(it)), 0)
    if k > 0 and not any(is_static(items[i]) and is_static(items[i + 1])
                         for i in range(k - 1)):
        # clamscan 1.4.6 mis-builds its prefilter for a group of multi-byte
        # or wildcard alternatives that follows fewer than 2 static bytes
        # in a row: it refuses the database ("Don't know how to create
        # filter") for 11(aabb|cc), and misses !(11|22)33(aabb|ccdd) unless
        # the match ends within 22 bytes of the end of the file
        items[k:k] = static_run(g, 2)
    lanc = ranc = None
    if 'lanc' in feats and g.chance(60):
        lo = g.between(0, 10)
        lanc = (g.byte(), lo, lo + g.between(0, 6))
        if not (is_static(items[0]) and is_static(items[1])):
            # clamscan 1.4.6 looks for aa only within 32 bytes before
            # where its automaton matched HEXSIG: a HEXSIG starting with
            # wildcards loses the far end of the range
            items = static_run(g, 2) + items
    if 'ranc' in feats and g.chance(60) and (lanc is None or g.chance(30)):
        lo = g.between(0, 10)
        ranc = (g.byte(), lo, lo + g.between(0, 6))
    return {'items': items, 'lanc': lanc, 'ranc': ranc}


def make_jump(g, feats):
    k = g.below(100)
    if k < 20 or 'star' in feats and k < 40:
        return (0, None, '*')
    if k < 50:
        a = g.between(0, 60)
        b = a + g.between(1, 80)
        return (a, b, '{%d-%d}' % (a, b))
    if k < 60:
        b = g.between(1, 80)
        return (0, b, '{-%d}' % b)
    if k < 70:
        a = g.between(1, 60)
        return (a, None, '{%d-}' % a)
    if k < 80:
        a = g.between(0, 100)
        return (a, a, '{%d-%d}' % (a, a)) if a else (0, None, '{0-0}')
    if k < 88:
        a = g.between(128, 400)
        return (a, a, '{%d}' % a)
    return (0, None, g.pick(['{0}', '{0-0}', '{-0}']))


FEATURES = ['wild', 'inline', 'same', 'var', 'generic', 'neg', 'lanc', 'ranc',
            'star']


def make_pattern(g, idx):
    feats = set()
    if idx < 2 * len(FEATURES):
        feats.add(FEATURES[idx % len(FEATURES)])   # every feature, early
    for f in FEATURES:
        if g.chance(18):
            feats.add(f)
    nparts = 1 if g.chance(35) else g.between(2, 4)
    parts = [make_part(g, feats, i == 0, i == nparts - 1) for i in range(nparts)]
    jumps = [make_jump(g, feats) for _ in range(nparts - 1)]
    return {'parts': parts, 'jumps': jumps}


# ---- text -----------------------------------------------------------------

def item_text(it, inline_ok):
    if it[0] == 'B':
        _, v, m = it
        if m == 0xff:
            return '%02x' % v
        if m == 0:
            return '??'
        return ('%x?' % (v >> 4)) if m == 0xf0 else ('?%x' % (v & 15))
    _, alts, neg = it
    return ('!(' if neg else '(') + '|'.join(
        items_text(a, inline_ok) for a in alts) + ')'


def items_text(items, inline_ok):
    out = []
    i = 0
    while i < len(items):
        it = items[i]
        if it[0] == 'B' and it[2] == 0 and inline_ok:
            j = i
            while j < len(items) and items[j][0] == 'B' and items[j][2] == 0:
                j += 1
            n = j - i
            if n >= 2 and n <= 127:
                out.append('{%d}' % n)
                i = j
                continue
        out.append(item_text(it, inline_ok))
        i += 1
    return ''.join(out)


def pattern_text(p):
    out = []
    brace_seen = False
    for k, part in enumerate(p['parts']):
        if k > 0:
            jt = p['jumps'][k - 1][2]
            out.append(jt)
            brace_seen = brace_seen or jt.startswith('{')
        if part['lanc']:
            v, lo, hi = part['lanc']
            out.append('%02x[%d-%d]' % (v, lo, hi))
        out.append(items_text(part['items'], not brace_seen))
        if part['ranc']:
            v, lo, hi = part['ranc']
            out.append('[%d-%d]%02x' % (lo, hi, v))
    return ''.join(out)


# ---- the reference matcher ------------------------------------------------

def rx_byte(v, m):
    if m == 0xff:
        return re.escape(bytes([v]))
    if m == 0:
        return b'.'
    vals = [x for x in range(256) if x & m == v]
    return b'[' + b''.join(re.escape(bytes([x])) for x in vals) + b']'


def rx_items(items):
    out = b''
    for it in items:
        if it[0] == 'B':
            out += rx_byte(it[1], it[2])
            continue
        _, alts, neg = it
        body = b'|'.join(b'(?:' + rx_items(a) + b')' for a in alts)
        if neg:
            out += b'(?!' + body + b')' + b'.{%d}' % len(alts[0])
        else:
            out += b'(?:' + body + b')'
    return out


def pattern_regex(p):
    out = b''
    for k, part in enumerate(p['parts']):
        if k > 0:
            lo, hi, _ = p['jumps'][k - 1]
            out += b'.{%d,}' % lo if hi is None else b'.{%d,%d}' % (lo, hi)
        if part['lanc']:
            v, lo, hi = part['lanc']
            out += b'(?:' + b'|'.join(b'(?<=' + re.escape(bytes([v])) +
                                      b'.{%d})' % d for d in range(lo, hi + 1)) + b')'
        out += rx_items(part['items'])
        if part['ranc']:
            v, lo, hi = part['ranc']
            out += b'(?=.{%d,%d}' % (lo, hi) + re.escape(bytes([v])) + b')'
    return re.compile(out, re.DOTALL)


def oracle(rx, off, buf):
    kind, n, ms = off
    ms = ms or 0
    if kind == '*':
        return rx.search(buf) is not None
    if n > len(buf):
        return False          # ClamAV: never, even when maxshift reaches back
    base = n if kind == 'abs' else len(buf) - n
    for st in range(base, min(base + ms, len(buf)) + 1):
        if rx.match(buf, st):
            return True
    return False


def offset_text(off):
    kind, n, ms = off
    if kind == '*':
        return '*'
    s = ('%d' % n) if kind == 'abs' else ('EOF-%d' % n)
    return s if ms is None else '%s,%d' % (s, ms)


# ---- realising a pattern in bytes -------------------------------------------

def real_byte(g, it, good):
    _, v, m = it
    if good or m == 0:
        return (v & m) | (g.byte() & ~m & 0xff)
    while True:
        x = g.byte()
        if x & m != v:
            return x


def alt_matches(alt, data):
    return len(alt) == len(data) and all(
        (b & it[2]) == it[1] for it, b in zip(alt, data))


def real_items(g, items, bad_at=-1):
    out = bytearray()
    for k, it in enumerate(items):
        good = k != bad_at
        if it[0] == 'B':
            out.append(real_byte(g, it, good))
            continue
        _, alts, neg = it
        if good != neg:
            out += real_items(g, g.pick(alts))
            continue
        w = len(g.pick(alts))
        for _ in range(50):
            d = g.data(w)
            if not any(alt_matches(a, d) for a in alts):
                break
        out += d
    return bytes(out)


def gap_choice(g, lo, hi, mode):
    top = hi if hi is not None else lo + g.between(0, 40)
    top = min(top, lo + SPAN_MAX)
    if mode == 'lo':
        return lo
    if mode == 'hi':
        return top
    if mode == 'under':
        return lo - 1
    if mode == 'over':
        return hi + 1
    return g.between(lo, top)


def realise(g, p, gaps, bad=None):
    """The pattern region: bytes, and side writes (pos relative to start,
    value).  bad: (part, item) to break, or ('lanc'|'ranc', part)."""
    region = bytearray()
    writes = []
    for k, part in enumerate(p['parts']):
        if k > 0:
            region += g.data(gaps[k - 1])
        start = len(region)
        bad_at = bad[1] if bad and bad[0] == k else -1
        region += real_items(g, part['items'], bad_at)
        end = len(region)
        if part['lanc']:
            v, lo, hi = part['lanc']
            d = g.between(lo, hi)
            if bad == ('lanc', k):
                d = hi + 1 if g.chance(50) or lo == 0 else lo - 1
            writes.append((start - 1 - d, v))
        if part['ranc']:
            v, lo, hi = part['ranc']
            d = g.between(lo, hi)
            if bad == ('ranc', k):
                d = hi + 1 if g.chance(50) or lo == 0 else lo - 1
            writes.append((end + d, v))
    return bytes(region), writes


def room(p):
    """Bytes needed before and after the region for [n-m] side writes."""
    before = max([pt['lanc'][2] + 2 for pt in p['parts'] if pt['lanc']] + [0])
    after = max([pt['ranc'][2] + 2 for pt in p['parts'] if pt['ranc']] + [0])
    return before, after


def build_file(g, pre_len, region, writes, post_len):
    buf = bytearray(g.data(pre_len) + region + g.data(post_len))
    for pos, v in writes:
        q = pre_len + pos
        if 0 <= q < len(buf):
            buf[q] = v
    return bytes(buf)


def has_var_group(p):
    return any(it[0] == 'G' and len(set(len(a) for a in it[1])) > 1
               for part in p['parts'] for it in part['items'])


def min_region(p):
    n = 0
    for k, part in enumerate(p['parts']):
        if k > 0:
            n += p['jumps'][k - 1][0]
        n += sum(1 if it[0] == 'B' else max(len(a) for a in it[1])
                 for it in part['items'])
    return n


def max_part_len(part):
    return sum(1 if it[0] == 'B' else max(len(a) for a in it[1])
               for it in part['items'])


def make_offset(g, p):
    k = g.below(100)
    if k < 40:
        return ('*', 0, None)
    ms = g.between(0, 20) if g.chance(50) else None
    if k < 70:
        # clamscan 1.4.6 misses a fixed-offset match when alternatives of
        # mixed lengths in part 0, taken at their longest, would put the
        # start before byte 0: (5f|933b4021)620c6c07 at offset 0 misses
        # 5f620c6c07 (at offset 3 it finds it)
        return ('abs', g.between(max_part_len(p['parts'][0]), 80), ms)
    before, after = room(p)
    return ('eof', min_region(p) + after + g.between(0, 30), ms)


def file_cases(g, p, off):
    """(description, good, gap modes, bad, placement) for the files."""
    nj = len(p['jumps'])
    cases = []
    for mode in ('lo', 'hi', 'mid'):
        cases.append(('match gaps=%s' % mode, [mode] * nj, None, 'in'))
    kind = off[0]
    if kind != '*':
        cases.append(('match at window start', ['lo'] * nj, None, 'first'))
        cases.append(('match at window end', ['lo'] * nj, None, 'last'))
        cases.append(('offset one before', ['lo'] * nj, None, 'before'))
        cases.append(('offset one after', ['lo'] * nj, None, 'after'))
        if kind == 'eof' and off[2]:
            cases.append(('EOF-n beyond the file start', ['lo'] * nj, None,
                          'short'))
    # a byte off
    k = g.below(len(p['parts']))
    items = p['parts'][k]['items']
    fixed = [i for i, it in enumerate(items)
             if not (it[0] == 'B' and it[2] == 0)]
    if fixed:
        cases.append(('one item off', ['mid'] * nj, (k, g.pick(fixed)), 'in'))
    for j, (lo, hi, _) in enumerate(p['jumps']):
        if lo > 0:
            m = ['mid'] * nj
            m[j] = 'under'
            cases.append(('jump %d one short' % (j + 1), m, None, 'in'))
        if hi is not None:
            m = ['mid'] * nj
            m[j] = 'over'
            cases.append(('jump %d one long' % (j + 1), m, None, 'in'))
    for k, part in enumerate(p['parts']):
        for side in ('lanc', 'ranc'):
            if part[side]:
                cases.append(('[n-m] byte out of range (%s %d)' % (side, k),
                              ['mid'] * nj, (side, k), 'in'))
    if len(p['parts']) > 1 and any(j[1] is not None for j in p['jumps']):
        cases.append(('decoy first part before the match', ['mid'] * nj,
                      None, 'decoy'))
    cases.append(('cut short (last byte missing)', ['lo'] * nj, None, 'cut'))
    return cases


def make_file(g, p, off, case):
    desc, modes, bad, place = case
    gaps = [gap_choice(g, j[0], j[1], m) for j, m in zip(p['jumps'], modes)]
    region, writes = realise(g, p, gaps, bad)
    before, after = room(p)
    kind, n, ms = off
    ms = ms or 0
    post = g.between(after, after + 40)
    if kind == '*':
        pre = g.between(before, before + 60)
    elif kind == 'abs':
        pre = {'first': n, 'last': n + ms, 'before': n - 1,
               'after': n + ms + 1}.get(place, n + g.between(0, ms))
        if pre < 0:
            pre = n + ms + 1
    else:
        # start = len - n + d: pick d, then the file length follows
        d = {'first': 0, 'last': ms, 'before': -1,
             'after': ms + 1}.get(place, g.between(0, ms))
        lo = max(before, 16, max_part_len(p['parts'][0]))
        pre = g.between(lo, lo + 60)
        post = n - d - len(region)
        if post < 0:
            return None
        if place == 'short':
            # the file is shorter than n (and clamscan scans 6 bytes and up)
            pre = 0
            post = n - len(region) - 1 - g.below(ms)
            if post < 0 or len(region) + post < 16:
                return None
    if place == 'decoy':
        first = realise(g, {'parts': p['parts'][:1], 'jumps': []}, [])[0]
        region = first + g.data(g.between(1, 20)) + region
        writes = [(q + len(first), v) for q, v in writes]
    if kind != 'eof' and place != 'cut':
        post = max(post, 4)
    data = bytearray(build_file(g, pre, region, writes, post))
    if place == 'cut':
        data = data[:pre + len(region) - 1]
    if len(data) < 16 and kind != 'eof':
        data += g.data(16 - len(data))
    # Four zero bytes in the filler: clamscan types most random data as
    # UTF-16 text and then also scans it normalised, finding more.
    if pre >= 4:
        data[0:4] = bytes(4)
    elif place != 'cut' and post >= 4:
        data[-4:] = bytes(4)
    return desc, bytes(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('outdir')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--count', type=int, default=300)
    a = ap.parse_args()
    g = Rng(a.seed)
    fdir = os.path.join(a.outdir, 'files')
    os.makedirs(fdir, exist_ok=True)
    ndb = []
    expect = []
    nfiles = 0
    for i in range(a.count):
        p = make_pattern(g, i)
        off = make_offset(g, p)
        name = 'Diff.P%03d' % i
        ndb.append('%s:0:%s:%s\n' % (name, offset_text(off), pattern_text(p)))
        rx = pattern_regex(p)
        for k, case in enumerate(file_cases(g, p, off)):
            r = make_file(g, p, off, case)
            if r is None:
                continue
            desc, data = r
            fname = 'p%03d_%02d.bin' % (i, k)
            with open(os.path.join(fdir, fname), 'wb') as f:
                f.write(data)
            hit = oracle(rx, off, data)
            quirk = '-'
            if case[3] == 'cut' and has_var_group(p):
                quirk = 'eof-overrun'
            expect.append('%s\t%s\t%s\t%s\n' % (fname, name if hit else '-',
                                                desc, quirk))
            nfiles += 1
    with open(os.path.join(a.outdir, 'gen.ndb'), 'w', newline='\n') as f:
        f.writelines(ndb)
    with open(os.path.join(a.outdir, 'expect.tsv'), 'w', newline='\n') as f:
        f.writelines(expect)
    print('%d signatures, %d files' % (a.count, nfiles), file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
