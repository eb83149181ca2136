#!/usr/bin/env bash
# The clean-file cache never serves a stale OK (issue 17, attack 3): a
# clean verdict is kept only under a read lease, so a write through a
# still-mapped MAP_SHARED page, a write within the same timer tick, or a
# writer that opens the file after the scan is always seen.  Cache hits do
# happen for unchanged files, and a deleted file's entry goes away.
#   verdict_cache.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
command -v clamdscan >/dev/null || skip_all "clamdscan missing (Debian package clamdscan)"
dl_init "$1" "$2"
cd "$T_TMP"

ACONF=$T_TMP/clamdscan-amp.conf
echo "LocalSocket $T_TMP/run/clamd.sock" >"$ACONF"
export AMPCTL DL_CTL ACONF FILES=$T_TMP/files
# a fast sweep (test builds only), so that (e) does not wait 30 s
export AMPSCAN_TEST_CACHE_SWEEP_MS=300
dl_config CreateScanUser yes
check "ampdaemon starts (Engine clamav)" dl_start
check "both workers become READY" dl_wait_ready 2 60

cat >"$T_TMP/cache.py" <<'EOF'
"""One line per check: "ok<TAB>what" or "FAIL<TAB>what<TAB>detail"."""
import json, mmap, os, re, subprocess, time

AMPCTL, CTL, ACONF = os.environ['AMPCTL'], os.environ['DL_CTL'], os.environ['ACONF']
FILES = os.environ['FILES']
EICAR = (b'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*')
CLEAN = b'A' * len(EICAR)


def res(good, what, detail=''):
    print(('ok' if good else 'FAIL') + '\t' + what +
          ('' if good else '\t' + repr(detail)), flush=True)


def status():
    out = subprocess.run([AMPCTL, '--socket', CTL, 'status', '--json'],
                         capture_output=True, timeout=30).stdout
    return json.loads(out)['clean_cache']


def verdicts(path):
    """(ampctl scan, clamdscan --fdpass): 'OK', 'FOUND' or the line."""
    out = []
    for cmd in ([AMPCTL, '--socket', CTL, 'scan', path],
                ['clamdscan', '-c', ACONF, '--no-summary', '--fdpass', path]):
        line = subprocess.run(cmd, capture_output=True, timeout=60).stdout.decode().strip()
        out.append('FOUND' if line.endswith(' FOUND') else
                   'OK' if line.endswith(': OK') else line)
    return out


def expect(path, want, what):
    got = verdicts(path)
    res(got == [want, want], what + ' -> ' + want + ' (ampctl scan, clamdscan --fdpass)', got)


# (a) attack 3: writes through a MAP_SHARED mapping, no munmap, no msync
p = FILES + '/mapped.bin'
fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, len(EICAR))
m = mmap.mmap(fd, len(EICAR), mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
os.close(fd)                      # only the mapping keeps it writable
os.chmod(p, 0o644)
m[:] = CLEAN
expect(p, 'OK', '(a) clean bytes written through a shared mapping')
expect(p, 'OK', '(a) scanned again')
m[:] = EICAR                      # the same still-dirty page
expect(p, 'FOUND', '(a) EICAR written through the same mapping')
m.close()

# (b) a plain write() on a descriptor kept open, within the same second
p = FILES + '/written.bin'
fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
os.chmod(p, 0o644)
os.pwrite(fd, CLEAN, 0)
expect(p, 'OK', '(b) clean bytes written with write()')
os.pwrite(fd, EICAR, 0)           # same size, same second
expect(p, 'FOUND', '(b) EICAR written on the same descriptor')
os.close(fd)

# (c) scanned clean with nobody writing (cached), then opened and changed
p = FILES + '/later.bin'
with open(p, 'wb') as f:
    f.write(CLEAN)
os.chmod(p, 0o644)
st0 = os.stat(p)
expect(p, 'OK', '(c) a clean file nobody writes')
before = status()
res(before['entries'] >= 1, '(c) its clean verdict is cached (entries >= 1)', before)
fd = os.open(p, os.O_WRONLY)      # breaks the lease; ampdaemon lets go
os.pwrite(fd, EICAR, 0)
os.close(fd)
os.utime(p, ns=(st0.st_atime_ns, st0.st_mtime_ns))   # mtime set back
expect(p, 'FOUND', '(c) the same file opened for writing and changed (mtime set back)')

# (d) an unchanged file is answered from the cache
p = FILES + '/steady.bin'
with open(p, 'wb') as f:
    f.write(CLEAN * 3)
os.chmod(p, 0o644)
expect(p, 'OK', '(d) a clean file, first scan')
h0 = status()['hits']
expect(p, 'OK', '(d) the same file again')
s = status()
res(s['hits'] >= h0 + 2 and s['entries'] >= 1,
    '(d) answered from the cache (hits grew by 2, entries >= 1)', (h0, s))

# (e) a deleted file's entry goes (the sweep), so it is not kept on disk
os.unlink(p)
ok = False
for _ in range(200):
    s = status()
    if s['entries'] == 0:
        ok = True
        break
    time.sleep(0.1)
res(ok, '(e) the deleted file\'s entry is dropped by the sweep (entries 0)', s)
res(os.path.exists(FILES + '/eicar.txt'), 'the corpus is still there')
EOF

python3 "$T_TMP/cache.py" >"$T_TMP/cache.out" 2>&1
while IFS=$'\t' read -r st what detail; do
	case $st in
	ok) ok "$what" ;;
	FAIL) not_ok "$what: ${detail:-}" ;;
	*) not_ok "client: $st $what ${detail:-}" ;;
	esac
done <"$T_TMP/cache.out"
check "the client ran its checks (13 lines)" test "$(grep -c '' "$T_TMP/cache.out")" -eq 13
check "ampctl status (text) shows the cache's counters" \
	bash -c "timeout 30 '$AMPCTL' --socket '$DL_CTL' status | grep -q 'clean-file cache: .* entries leased, .* hits'"
dl_stop_checked
finish
