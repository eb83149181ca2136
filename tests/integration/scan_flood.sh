#!/usr/bin/env bash
# A flood of detections never becomes a clean result (issue 17, attack 2),
# and directory walks are bounded in memory (attack 5, the walks' half).
#   - clamdscan (CONTSCAN) of a directory of 20,001 hard links to EICAR
#     with names of ~240 characters, as an unprivileged client: it counts
#     20001 infected files, or fails; never OK or 0;
#   - a client that does not read: the walk pauses (the workers' scan
#     count stops growing), PING is answered meanwhile, and once it reads
#     it gets every detection;
#   - a client that never reads when the reply cap is reached (lowered by
#     a test-build knob): its reads fail with ECONNRESET, never a clean end;
#   - 40 concurrent walks of a 20k-entry directory keep ampdaemon's RSS
#     within the walks' budget (64 MiB) plus 48 MiB, and the walks over
#     the budget get an ERROR line.
#   scan_flood.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
dl_init "$1" "$2"
cd "$T_TMP"

dl_new_user CU c
useradd -M -d /nonexistent -s /usr/sbin/nologin -U "$CU" || skip_all "useradd $CU failed"
SOCK=$T_TMP/run/clamd.sock
FLOOD=$T_TMP/flood WIDE=$T_TMP/wide
mkdir -p "$FLOOD" "$WIDE"
chmod 755 "$FLOOD" "$WIDE"
/usr/bin/python3 - "$T_TMP/files/eicar.txt" "$FLOOD" "$WIDE" <<'PYEOF'
import os, sys
eicar, flood, wide = sys.argv[1:]
for i in range(20001):   # hard links: no disk, one inode
    os.link(eicar, '%s/%06d%s' % (flood, i, 'e' * 234))
for i in range(20000):   # files the client cannot read: no worker needed
    fd = os.open('%s/%06d%s' % (wide, i, 'w' * 234), os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
PYEOF

# the reply cap as shipped (4 MiB) for the first daemon
dl_config CreateScanUser yes LocalSocketGroup "$CU"
# sanitizer builds: ASan's quarantine of freed memory (256 MB) would
# count as walk memory in the RSS check below; a small one keeps it meaningful
export ASAN_OPTIONS=${ASAN_OPTIONS:-}:quarantine_size_mb=1
check "ampdaemon starts" dl_start
check "both workers become READY" dl_wait_ready 2

printf 'LocalSocket %s\n' "$SOCK" >"$T_TMP/clamdscan.conf"
chmod 644 "$T_TMP/clamdscan.conf"
timeout 600 setpriv --reuid "$CU" --regid "$CU" --init-groups \
	/usr/bin/clamdscan --config-file="$T_TMP/clamdscan.conf" "$FLOOD" >"$T_TMP/cds.out" 2>&1
rc=$?
check "clamdscan of 20,001 EICAR links: Infected files: 20001, or an error exit (rc $rc)" \
	bash -c '[ "$2" != 0 ] && [ "$2" != 1 ] || grep -q "^Infected files: 20001$" "$1"' _ "$T_TMP/cds.out" "$rc"
check "... never Infected files: 0" bash -c '! grep -q "^Infected files: 0$" "$1"' _ "$T_TMP/cds.out"
check "... never the directory OK" bash -c '! grep -q "^$2: OK$" "$1"' _ "$T_TMP/cds.out" "$FLOOD"

cat >"$T_TMP/slow.py" <<'PYEOF'
import json, os, socket, subprocess, sys, time
sock, flood, ampctl, ctl = sys.argv[1:5]

def res(good, what, detail=''):
    print(('ok' if good else 'FAIL') + '\t' + what + ('' if good else '\t' + repr(detail)), flush=True)

def scans():
    s = json.loads(subprocess.run([ampctl, '--socket', ctl, 'status', '--json'],
                                  capture_output=True, timeout=30).stdout)
    return sum(w.get('scans', 0) for w in s['workers'])

def ping():
    p = socket.socket(socket.AF_UNIX); p.settimeout(20); p.connect(sock)
    p.sendall(b'zPING\0'); got = p.recv(100); p.close()
    return got

start = scans()   # the clamdscan run's scans are counted already
c = socket.socket(socket.AF_UNIX)
c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
c.connect(sock)
c.sendall(b'zCONTSCAN ' + flood.encode() + b'\0')
# wait until the count stops growing (the walk paused), at most 120 s
last, same, t0 = scans(), 0, time.monotonic()
while same < 3 and time.monotonic() - t0 < 120:
    time.sleep(1)
    n = scans()
    same = same + 1 if n == last else 0
    last = n
res(last - start < 20001, 'a client not reading: the walk pauses before all 20001 files are scanned',
    last - start)
res(ping() == b'PONG\0', 'PING from another client is answered meanwhile')
time.sleep(2)
res(scans() == last, 'the count stays put while the client does not read', (last, scans()))
c.settimeout(300)
got = b''
while True:
    b = c.recv(1 << 16)
    if not b:
        break
    got += b
lines = got.split(b'\0')
found = sum(1 for l in lines if l.endswith(b' FOUND'))
res(found == 20001, 'then it reads all 20001 detections', (found, lines[-3:]))
PYEOF
/usr/bin/python3 "$T_TMP/slow.py" "$SOCK" "$FLOOD" "$AMPCTL" "$DL_CTL" >"$T_TMP/slow.out" 2>&1
while IFS=$'\t' read -r st what detail; do
	check "$what${detail:+ ($detail)}" test "$st" = ok
done <"$T_TMP/slow.out"
check "the slow client's checks ran" test "$(grep -c . "$T_TMP/slow.out")" -ge 4

# 40 walks at once of a 20k-entry directory (names of ~240 characters),
# by clients that do not read: listings stay within the budget
cat >"$T_TMP/wide.py" <<'PYEOF'
import select, socket, sys, time
sock, wide, pid = sys.argv[1], sys.argv[2], sys.argv[3]

def rss_kb():
    for l in open('/proc/%s/status' % pid):
        if l.startswith('VmRSS:'):
            return int(l.split()[1])

def res(good, what, detail=''):
    print(('ok' if good else 'FAIL') + '\t' + what + ('' if good else '\t' + repr(detail)), flush=True)

base = rss_kb()
cs = []
for i in range(40):
    c = socket.socket(socket.AF_UNIX); c.connect(sock)
    c.sendall(b'zCONTSCAN ' + wide.encode() + b'\0')
    cs.append(c)
# each walk answers a first line once its listing is done (or refused)
t0, peak = time.monotonic(), 0
pending = set(cs)
while pending and time.monotonic() - t0 < 300:
    r, _, _ = select.select(list(pending), [], [], 1)
    pending -= set(r)
    peak = max(peak, rss_kb())
time.sleep(1)
peak = max(peak, rss_kb())
res(not pending, 'all 40 walks answered', len(pending))
firsts = [c.recv(4096).split(b'\0')[0] for c in cs]
refused = [f for f in firsts if f.startswith(wide.encode() + b': ') and f.endswith(b' ERROR')]
res(len(refused) > 0, 'walks over the budget get an ERROR line for the directory', firsts[-1])
res(peak - base < (64 + 48) * 1024, 'ampdaemon RSS grew by less than 112 MiB (budget 64 MiB)',
    '%d kB -> %d kB' % (base, peak))
for c in cs:
    c.close()
PYEOF
/usr/bin/python3 "$T_TMP/wide.py" "$SOCK" "$WIDE" "$DL_PID" >"$T_TMP/wide.out" 2>&1
while IFS=$'\t' read -r st what detail; do
	check "$what${detail:+ ($detail)}" test "$st" = ok
done <"$T_TMP/wide.out"
check "the walks' checks ran" test "$(grep -c . "$T_TMP/wide.out")" -ge 3
check "the budget hit is logged" grep -q "not walked whole" "$DL_LOG"
check "PING still answers" bash -c "printf 'zPING\0' | timeout 20 python3 -c \"
import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect('$SOCK'); s.sendall(sys.stdin.buffer.read()); print(s.recv(10))\" | grep -q PONG"
dl_stop

# the reply cap lowered (test builds): a client that never reads is reset
AMPSCAN_TEST_SCAN_OUT_MAX=8192 dl_start
check "ampdaemon starts with a lowered reply cap" dl_wait_ready 2
/usr/bin/python3 - "$SOCK" "$FLOOD" >"$T_TMP/reset.out" 2>&1 <<'PYEOF'
import socket, sys, time
sock, flood = sys.argv[1:]
c = socket.socket(socket.AF_UNIX)
c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
c.connect(sock)
c.sendall(b'zCONTSCAN ' + flood.encode() + b'\0')
time.sleep(5)
c.settimeout(60)
how, n = 'eof', 0
try:
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        n += b.count(b' FOUND')
except ConnectionResetError:
    how = 'reset'
print(how, n)
PYEOF
read -r how n <"$T_TMP/reset.out"
check "a client that never read past the cap: ECONNRESET after $n detections, not a clean end ($how)" \
	test "$how" = reset
check "the reset is logged" grep -q "connection reset" "$DL_LOG"
dl_stop_checked

# a client that stops reading below the cap is reset once it has taken
# nothing for the stall timeout (30 s; 2 s here, test builds): its paused
# walk does not hold a connection and a share of the budgets for ever
AMPSCAN_TEST_STALL_S=2 dl_start
check "ampdaemon starts with a 2 s stall timeout" dl_wait_ready 2
/usr/bin/python3 - "$SOCK" "$FLOOD" >"$T_TMP/stall.out" 2>&1 <<'PYEOF'
import socket, sys, time
sock, flood = sys.argv[1:]
c = socket.socket(socket.AF_UNIX)
c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
c.connect(sock)
c.sendall(b'zCONTSCAN ' + flood.encode() + b'\0')
time.sleep(10)
c.settimeout(60)
how, n = 'eof', 0
try:
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        n += b.count(b' FOUND')
except ConnectionResetError:
    how = 'reset'
print(how, n)
PYEOF
read -r how n <"$T_TMP/stall.out"
check "a client that stopped reading: reset after $n detections ($how)" test "$how" = reset
check "the stall is logged" grep -q "took none of its .* bytes of replies for 2 s" "$DL_LOG"
dl_stop_checked
finish
