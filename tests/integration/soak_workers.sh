#!/usr/bin/env bash
# Fault injection and soak (issue 8, its first section, the worker part):
#   a. a worker that hangs, one that writes garbage on its socket, one that
#      sends a huge length, one that closes its socket but keeps running
#      (the test hooks AMPSCAN-TEST-{HANG,GARBAGE,HUGELEN,CLOSE}-MARKER):
#      each is killed (its pid gone from /proc: reaped, no zombie) and
#      replaced (a new READY worker); the request in flight is answered
#      with an error (at once, except the hang: ScanTimeout); requests
#      scanned meanwhile on the other workers, through the clamd socket
#      and through `ampctl scan`, are all answered correctly.
#   b. a crash loop: a random READY worker (from `ampctl status --json`)
#      killed with SIGKILL every 50 ms for SOAK_SECONDS (default 20):
#      ampdaemon's open descriptors, RSS (+SOAK_RSS_SLACK_KB, default 2048)
#      and child count return to their baseline, no zombie, fault 6 raised
#      once, ampdaemon's CPU use over the run below SOAK_CPU_MAX_PCT
#      (default 30) percent of one core.
#   soak_workers.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
dl_init "$1" "$2"
cd "$T_TMP"

SOAK_SECONDS=${SOAK_SECONDS:-20}
SOAK_CPU_MAX_PCT=${SOAK_CPU_MAX_PCT:-30}
SOCK=$T_TMP/run/clamd.sock
HZ=$(getconf CLK_TCK)

# ---- helpers -------------------------------------------------------------------

ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

# a clamd client: `clamd.py scan PATH` prints the reply; `clamd.py load
# STOP EICAR` scans EICAR (SCAN) and clean bytes (INSTREAM) in turn until
# the file STOP exists, one line per request: "ok ..." or "FAIL ..."
cat >clamd.py <<'EOF'
import os, socket, struct, sys, time

SOCK = os.environ['SOCK']


def cmd(payload, timeout=60):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)   # the connect too: a full backlog blocks it
    s.connect(SOCK)
    s.sendall(payload)
    out = b''
    while True:
        b = s.recv(4096)
        if not b:
            break
        out += b
    s.close()
    return out.rstrip(b'\0').decode(errors='replace')


def scan(path):
    return cmd(b'zSCAN ' + path.encode() + b'\0')


def instream(data):
    return cmd(b'zINSTREAM\0' + struct.pack('>I', len(data)) + data +
               struct.pack('>I', 0))


if sys.argv[1] == 'scan':
    print(scan(sys.argv[2]))
elif sys.argv[1] == 'load':
    stop, eicar = sys.argv[2], sys.argv[3]
    n = 0
    while not os.path.exists(stop):
        n += 1
        try:
            r = scan(eicar)
            good = r == eicar + ': Eicar-Test-Signature.Body.UNOFFICIAL FOUND'
            print('%s SCAN %s' % ('ok' if good else 'FAIL', r), flush=True)
            data = b'clean bytes %d\n' % n
            r = instream(data)
            print('%s INSTREAM %s' % ('ok' if r == 'stream: OK' else 'FAIL', r),
                  flush=True)
            time.sleep(0.002)
        except OSError as e:
            print('FAIL %s' % e, flush=True)
EOF
export SOCK

# load_ctl STOP OUT: `ampctl scan` of a detection and a clean file until STOP
# exists; one line per request in OUT
load_ctl() {
	local rc
	while [ ! -e "$1" ]; do
		rc=0
		timeout 60 "$AMPCTL" --socket "$DL_CTL" scan "$T_TMP/files/eicar2.txt" \
			"$T_TMP/files/clean.txt" >"$2.last" 2>&1 || rc=$?
		if [ "$rc" = 1 ] && grep -q "eicar2.txt: Eicar-Test-Signature.Body.UNOFFICIAL FOUND" "$2.last" &&
			grep -q "clean.txt: OK" "$2.last"; then
			echo "ok ampctl"
		else
			echo "FAIL ampctl exit $rc: $(tr '\n' ' ' <"$2.last")"
		fi
	done >"$2"
}

# the children of ampdaemon: "PID STATE" lines
t_children() { ps -o pid=,stat= --ppid "$DL_PID" 2>/dev/null; }
t_zombies() { t_children | awk '$2 ~ /^Z/' | wc -l; }
t_nchildren() { t_children | wc -l; }
t_nfds() { find "/proc/$DL_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
t_rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$DL_PID/status"; }
# CPU ticks (utime + stime) of ampdaemon so far
t_ticks() { sed 's/.*) //' "/proc/$DL_PID/stat" | awk '{ print $12 + $13 }'; }
t_ready_pids() { dl_status_py "' '.join(str(w['pid']) for w in s['workers'] if w['state'] == 'ready' and w['pid'] > 0)"; }
# gone PID: no /proc entry at all (reaped: not even a zombie)
gone() { [ ! -e "/proc/$1" ]; }


cp files/eicar.txt files/eicar2.txt
chmod 644 files/eicar2.txt

# ==== a. misbehaving workers ========================================================
echo "# a. a worker that hangs, writes garbage, sends a huge length, closes its socket"
WORKERS=3
SCAN_TIMEOUT=3
dl_config CreateScanUser yes Workers $WORKERS ScanTimeout ${SCAN_TIMEOUT}s \
	CrashThreshold 100 CrashWindow 60s StableAfter 1h InterventionAfter 1h \
	RestartDelayMin 20ms RestartDelayMax 200ms ReadyTimeout 20s
check "ampdaemon starts" dl_start
check "$WORKERS workers READY" dl_wait_ready $WORKERS 30

# t_case NAME MARKER LOG-REGEX MIN-SECS MAX-SECS
t_case() {
	local name=$1 marker=$2 why=$3 min=$4 max=$5 f t0 t1 secs reply pids p x0 x1
	echo "# a. $name"
	f=$T_TMP/files/$name.txt
	printf 'some text\n%s\nmore text\n' "$marker" >"$f"
	chmod 644 "$f"
	check "$name: $WORKERS workers READY before" dl_wait_ready $WORKERS 30
	x0=$(evq "sum(e['event'] == 'worker_exited' for e in E)")
	rm -f stop
	python3 clamd.py load stop "$T_TMP/files/eicar.txt" >"load_clamd.$name" 2>&1 &
	local lc=$!
	load_ctl stop "load_ctl.$name" &
	local la=$!
	sleep 0.5
	t0=$(date +%s.%N)
	reply=$(timeout 60 python3 clamd.py scan "$f" 2>&1)
	t1=$(date +%s.%N)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	echo "    reply in $secs s: $reply"
	sleep 0.5
	touch stop
	wait "$lc" "$la"
	check "$name: the request in flight is answered with an error" \
		grep -Eq "^$f: (poison file: the scanner crashed 2 times on it; it is not scanned again until it changes|the scan service crashed while scanning this file) ERROR\$" <<<"$reply"
	if [ "$min" = 0 ]; then
		check "$name: answered within $max s (before ScanTimeout, ${SCAN_TIMEOUT} s)" lt "$secs" "$max"
	else
		check "$name: answered after $min s, within $max s (ScanTimeout ${SCAN_TIMEOUT} s, twice: the retry)" \
			bash -c "awk -v s=$secs 'BEGIN { exit !(s >= $min && s < $max) }'"
	fi
	# the first worker and the one the retry went to
	pids=$(evq "' '.join(str(e['pid']) for e in E if e['event'] == 'worker_exited' and '$f' in e.get('files', []))")
	echo "    workers killed on it: $pids"
	check "$name: both workers that got it were killed (SIGKILL, kind crash)" \
		ev_true "[(e['kind'], e['signal']) for e in E if e['event'] == 'worker_exited' and '$f' in e.get('files', [])] == [('crash', 'SIGKILL')] * 2"
	for p in $pids; do
		check "$name: worker $p is gone (reaped, no zombie)" gone "$p"
	done
	check "$name: the log says why ($why)" grep -Eq "$why" "$DL_LOG"
	x1=$(evq "sum(e['event'] == 'worker_exited' for e in E)")
	check "$name: no other worker exited" test "$((x1 - x0))" = 2
	[ "$((x1 - x0))" = 2 ] ||
		echo "    exits since: $(evq "[(e.get('pid'), e.get('kind'), e.get('signal'), e.get('status'), e.get('files')) for e in [e for e in E if e['event'] == 'worker_exited'][$x0:]]")"
	check "$name: replaced: $WORKERS workers READY again" dl_wait_ready $WORKERS 30
	for p in $pids; do
		check "$name: $p is not among the READY workers" \
			bash -c "! grep -qw $p <<<'$(t_ready_pids)'"
	done
	check "$name: no zombie child of ampdaemon" test "$(t_zombies)" = 0
	check "$name: the clamd load meanwhile: >= 2 requests, every one answered correctly" \
		bash -c "[ \$(grep -c '^ok' 'load_clamd.$name') -ge 2 ] && ! grep -v '^ok' 'load_clamd.$name'"
	check "$name: the ampctl load meanwhile: >= 1 request, every one answered correctly" \
		bash -c "[ \$(grep -c '^ok' 'load_ctl.$name') -ge 1 ] && ! grep -v '^ok' 'load_ctl.$name'"
	echo "    meanwhile: $(grep -c '^ok' "load_clamd.$name") clamd and $(grep -c '^ok' "load_ctl.$name") ampctl requests answered correctly"
}

t_case hang AMPSCAN-TEST-HANG-MARKER "hang.txt outlived ScanTimeout \\(${SCAN_TIMEOUT}.0 s\\): killing it" \
	$((2 * SCAN_TIMEOUT - 1)) $((2 * SCAN_TIMEOUT + 3))
t_case garbage AMPSCAN-TEST-GARBAGE-MARKER "worker [0-9]+ \\(pid [0-9]+\\): malformed message: killing it" 0 2.5
t_case hugelen AMPSCAN-TEST-HUGELEN-MARKER "worker [0-9]+ \\(pid [0-9]+\\): oversized message \\(longer than 65536 bytes, or with descriptors\\): killing it" 0 2.5
t_case close AMPSCAN-TEST-CLOSE-MARKER "worker [0-9]+ \\(pid [0-9]+\\): closed its socket but did not exit: killing it" 0 2.5
check "the hooks ran (ampscansvc.log)" bash -c "grep -q 'test hook: garbage marker' '$DL_SVCLOG' && grep -q 'test hook: huge length marker: sending a 131072-byte packet' '$DL_SVCLOG' && grep -q 'test hook: close marker' '$DL_SVCLOG'"
expect_status 1 "after all that: a detection is found" dl_ctl scan files/eicar.txt
expect_status 0 "and a clean file is OK" dl_ctl scan files/clean.txt
dl_stop_checked

# ==== b. a crash loop ===============================================================
echo "# b. a crash loop: a READY worker killed every 50 ms for $SOAK_SECONDS s"
t_fresh
WORKERS=4
# sanitizer builds: ASan's quarantine of freed memory (256 MB) would hide
# RSS growth; a small one keeps RSS meaningful (no effect elsewhere)
export ASAN_OPTIONS=$ASAN_OPTIONS:quarantine_size_mb=1
dl_config CreateScanUser yes Workers $WORKERS CrashThreshold 3 CrashWindow 60s \
	StableAfter 3s InterventionAfter 1h RestartDelayMin 20ms RestartDelayMax 100ms \
	ReadyTimeout 20s
check "ampdaemon starts" dl_start
check "$WORKERS workers READY" dl_wait_ready $WORKERS 30
expect_status 1 "a detection is found" dl_ctl scan files/eicar.txt
sleep 1
fd0=$(t_nfds) rss0=$(t_rss_kb) kids0=$(t_nchildren) z0=$(t_zombies)
echo "    baseline: $fd0 fds, VmRSS $rss0 kB, $kids0 children ($z0 zombies)"
# WorkerLaunch loader (the default): the loader is a child too; the workers
# forked from it are ampdaemon's (CLONE_PARENT)
check "baseline: one child per worker, and the loader" test "$kids0" = "$((WORKERS + 1))"

# the killer: a random READY worker of `ampctl status --json` each 50 ms
# (its /proc entry must still name ampdaemon as the parent); at each tick
# it also notes ampdaemon's zombie children, for how long each stays one
cat >killer.py <<'EOF'
import json, os, random, signal, subprocess, sys, time

ampctl, ctl, daemon, seconds, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
kills, ticks = [], 0
zombie_since, zombie_max, zombies = {}, 0.0, set()


def state(pid):
    return open('/proc/%d/stat' % pid).read().rsplit(')', 1)[1].split()


def sample():
    global zombie_since, zombie_max
    now = time.monotonic()
    try:
        kids = [int(p) for p in open('/proc/%d/task/%d/children' % (daemon, daemon)).read().split()]
    except (OSError, ValueError):
        kids = []
    z = set()
    for k in kids:
        try:
            if state(k)[0] == 'Z':
                z.add(k)
        except OSError:
            pass
    for k in z:
        zombie_since.setdefault(k, now)
        zombie_max = max(zombie_max, now - zombie_since[k])
    zombies.update(z)
    zombie_since = {k: t for k, t in zombie_since.items() if k in z}


end = time.monotonic() + seconds
nxt = time.monotonic()
while time.monotonic() < end:
    ticks += 1
    nxt += 0.05
    sample()
    try:
        s = json.loads(subprocess.run([ampctl, '--socket', ctl, 'status', '--json'],
                                      capture_output=True, timeout=5).stdout)
        pids = [w['pid'] for w in s['workers'] if w['state'] == 'ready' and w['pid'] > 0]
    except (ValueError, subprocess.SubprocessError):
        pids = []
    if pids:
        p = random.choice(pids)
        try:
            if int(state(p)[1]) == daemon:
                os.kill(p, signal.SIGKILL)
                kills.append(p)
        except (OSError, ValueError):
            pass
        sample()   # right after the kill: the zombie may be seen, briefly
    d = nxt - time.monotonic()
    if d > 0:
        time.sleep(d)
    else:
        nxt = time.monotonic()
with open(out, 'w') as f:
    f.write(' '.join(str(p) for p in kills) + '\n')
with open(out + '.zombie', 'w') as f:
    f.write('%d %.3f\n' % (len(zombies), zombie_max))
print('%d ticks, %d kills (%d distinct workers); %d zombie(s) seen, the longest-lived for %.3f s' %
      (ticks, len(kills), len(set(kills)), len(zombies), zombie_max))
EOF
tk0=$(t_ticks) w0=$(date +%s.%N)
python3 killer.py "$AMPCTL" "$DL_CTL" "$DL_PID" "$SOAK_SECONDS" killed.pids >killer.out 2>&1
tk1=$(t_ticks) w1=$(date +%s.%N)
echo "    killer: $(cat killer.out)"
read -r -a killed <killed.pids
nk=$(tr ' ' '\n' <killed.pids | sort -u | grep -c .)
wall=$(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.2f", b - a }')
pct=$(awk -v t=$((tk1 - tk0)) -v hz="$HZ" -v w="$wall" 'BEGIN { printf "%.1f", 100 * t / hz / w }')
echo "    ampdaemon CPU over the run: $((tk1 - tk0)) ticks (${HZ}/s) in $wall s: $pct% of one core"
check "the crash loop ran: at least $((SOAK_SECONDS * 2)) workers killed" test "$nk" -ge $((SOAK_SECONDS * 2))
check "ampdaemon still runs" kill -0 "$DL_PID"
read -r _ zmax <killed.pids.zombie
check "during the loop no worker stayed a zombie for 1 s or more (longest: $zmax s)" lt "$zmax" 1
check "ampdaemon's CPU use stays low (< $SOAK_CPU_MAX_PCT% of one core)" lt "$pct" "$SOAK_CPU_MAX_PCT"

# settle: every slot READY again (the backoff is at most 100 ms)
check "settled: $WORKERS workers READY" dl_wait_ready $WORKERS 30
check "every killed worker is recorded (worker_exited, kind crash, SIGKILL)" python3 - "$DL_STATE/events.jsonl" killed.pids <<'EOF'
import json, sys
E = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
K = set(int(p) for p in open(sys.argv[2]).read().split())
X = {e['pid']: e for e in E if e['event'] == 'worker_exited'}
bad = [p for p in K if p not in X or X[p]['kind'] != 'crash' or X[p]['signal'] != 'SIGKILL']
assert not bad, bad[:10]
EOF
gone_all() { local p; for p in "${killed[@]}"; do gone "$p" || { echo "    $p still in /proc: $(cat "/proc/$p/stat" 2>/dev/null)"; return 1; }; done; }
check "every killed worker is gone from /proc (reaped)" gone_all
n6=$(evq "sum(e['event'] == 'fault_raised' and e.get('fault') == 6 for e in E)")
echo "    fault_raised for fault 6: $n6 time(s); its detail: $(evq "[f.get('detail') for f in E if f['event'] == 'fault_raised' and f.get('fault') == 6]")"
check "fault 6 raised exactly once" test "$n6" = 1
check "fault 6 cleared after StableAfter (3 s)" ev_wait "any(e['event'] == 'fault_cleared' and e.get('fault') == 6 for e in E)" 20
check "and still raised only once" test "$(evq "sum(e['event'] == 'fault_raised' and e.get('fault') == 6 for e in E)")" = 1
# back to the baseline (a status connection may still be closing: poll)
t_back() {
	for _ in $(seq 50); do
		fd1=$(t_nfds) rss1=$(t_rss_kb) kids1=$(t_nchildren) z1=$(t_zombies)
		[ "$fd1" = "$fd0" ] && [ "$kids1" = "$kids0" ] && [ "$z1" = 0 ] && return 0
		sleep 0.2
	done
	return 1
}
t_back
echo "    after: $fd1 fds, VmRSS $rss1 kB, $kids1 children ($z1 zombies)"
RSS_SLACK=${SOAK_RSS_SLACK_KB:-2048}
if [ -z "${SOAK_RSS_SLACK_KB:-}" ] && nm -D "$AMPDAEMON" 2>/dev/null | grep -q __asan_init; then
	# ASan: the 1 MB quarantine, its allocator's caches and shadow pages
	RSS_SLACK=$((16 * 1024))
	echo "    (an ASan build: RSS slack $RSS_SLACK kB)"
fi
check "open descriptors back to the baseline ($fd0)" test "$fd1" = "$fd0"
check "children back to the baseline ($kids0)" test "$kids1" = "$kids0"
check "no zombie" test "$z1" = 0
check "RSS back to the baseline (+$RSS_SLACK kB): $rss0 -> $rss1 kB" test "$rss1" -le $((rss0 + RSS_SLACK))
expect_status 1 "a detection is still found" dl_ctl scan files/eicar.txt
expect_status 0 "and a clean file is OK" dl_ctl scan files/clean.txt
dl_stop_checked
finish
