#!/usr/bin/env bash
# Fault injection and soak (issue 8, its first section, the load part):
#   1. SOAK_CLIENTS (default 1000) concurrent clients on the scan socket for
#      SOAK_SECONDS (default 20), one asyncio process holding the
#      connections: each client mostly holds an IDSESSION open (3-12
#      commands, then END), else sends one command on a connection of its
#      own: zSCAN of a clean file and of EICAR, zINSTREAM of a small buffer
#      (clean or EICAR), zFILDES (the descriptor passed), PING in sessions;
#      about SOAK_THINK_MS (default 1000) between commands, so ~900
#      connections are open at any time and ~1000 requests/s offered.
#      In the middle: the logs renamed away and SIGHUP (ampdaemon
#      reopens ampdaemon.log and ampscansvc.log: new files, the old ones
#      closed), then RELOAD on the scan socket (the workers roll over: new
#      pids).  Every request is answered with the right reply (no error,
#      no reset, no short reply, none slower than 30 s); requests/s is
#      reported.  ampdaemon's VmRSS, descriptors and children, sampled every
#      second, stay bounded (RSS below baseline + SOAK_RSS_PEAK_SLACK_KB,
#      default 64 MB; children at most 2 x Workers + 2; no zombie seen
#      twice); after the clients leave, descriptors and children are back
#      to their baseline, no zombie, RSS still below the peak bound and the
#      heap in use (glibc's malloc_stats through gdb, when there is gdb and
#      no ASan) back to its baseline (+SOAK_HEAP_SLACK bytes, default
#      256 KiB): RSS itself stays higher, glibc keeps the freed connection
#      buffers; the 1024-connection cap was never hit.
#   2. SIGKILL of ampdaemon at a random instant (0-2 s) under load, round
#      after round (at least SOAK_KILL_ROUNDS, default 10, and more while
#      2 x SOAK_SECONDS have not passed): a few clients scanning, and every
#      other round an update dropped into incoming/ (demo.cvd one version
#      up, 50,000 signatures more: its trial takes ~0.6 s, a window the
#      kill falls into).  After each kill: no child of it (workers, trial, tasks) runs
#      on (PR_SET_PDEATHSIG); the restart is clean: workers READY within
#      30 s, the activation journal resolved, nothing left in staging/ or
#      incoming/, nothing rejected, active/ one container that verifies
#      with the trusted key, at the last version dropped (nothing lost),
#      `ampctl status --json` and `ampctl diag --json` (exit 0, 1 or 2)
#      give JSON and diag could read every state file, scans are right.
#   soak_load.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
dl_init "$1" "$2"
cd "$T_TMP"

SOAK_SECONDS=${SOAK_SECONDS:-20}
SOAK_CLIENTS=${SOAK_CLIENTS:-1000}
SOAK_THINK_MS=${SOAK_THINK_MS:-1000}
SOAK_KILL_ROUNDS=${SOAK_KILL_ROUNDS:-10}
RSS_PEAK_SLACK=${SOAK_RSS_PEAK_SLACK_KB:-65536}
HEAP_SLACK=${SOAK_HEAP_SLACK:-262144}
WORKERS=2
SOCK=$T_TMP/run/clamd.sock
EICAR=$T_TMP/files/eicar.txt
CLEAN=$T_TMP/files/clean.txt
# libclamav's name (Engine clamav) for the demo set's EICAR, as clamscan's
SIG=Eicar-Test-Signature.Body.UNOFFICIAL
export SOCK

# descriptors: the load holds a socket and, for FILDES, a file per client;
# ampdaemon (which raises its soft limit to the hard one) a connection, a
# file in flight and a received descriptor per client
need=$((SOAK_CLIENTS * 4 + 256))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$need" ]; then
	ulimit -Hn "$need" 2>/dev/null || skip_all "cannot raise RLIMIT_NOFILE to $need (hard limit $(ulimit -Hn))"
fi
if [ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt "$need" ]; then
	ulimit -Sn "$need" || skip_all "cannot raise RLIMIT_NOFILE to $need"
fi
echo "# RLIMIT_NOFILE: $(ulimit -Sn) (hard $(ulimit -Hn))"

# ---- helpers -------------------------------------------------------------------

t_children() { ps -o pid=,stat= --ppid "$DL_PID" 2>/dev/null; }
t_zombies() { t_children | awk '$2 ~ /^Z/' | wc -l; }
t_nchildren() { t_children | wc -l; }
t_nfds() { find "/proc/$DL_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
t_rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$DL_PID/status"; }
ready_pids() { dl_status_py "' '.join(sorted(str(w['pid']) for w in s['workers'] if w['state'] == 'ready'))"; }
is_asan() { nm -D "$AMPDAEMON" 2>/dev/null | grep -q __asan_init; }
# heap_stats: "IN-USE SYSTEM" bytes of ampdaemon's glibc heap (malloc_stats(),
# called through gdb, prints them on its stderr: daemon.out)
heap_stats() {
	local n
	n=$(wc -l <daemon.out)
	timeout 60 gdb -p "$DL_PID" -batch -ex 'call (void)malloc_stats()' >gdb.out 2>&1 || return 0
	tail -n +$((n + 1)) daemon.out | awk '/^Total/ { t = 1 } t && /^system bytes/ { s = $NF } t && /^in use bytes/ { print $NF, s; exit }'
}

# zreq 'COMMAND': one z-framed command on a new connection, its reply
zreq() {
	timeout 35 python3 - "$SOCK" "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(30)
s.connect(sys.argv[1])
s.sendall(b'z' + sys.argv[2].encode() + b'\0')
buf = b''
while not buf.endswith(b'\0'):
    b = s.recv(4096)
    if not b:
        break
    buf += b
print(buf.rstrip(b'\0').decode(errors='replace'))
EOF
}


# ---- the load: SOAK_CLIENTS clients in one asyncio process ---------------------
cat >load.py <<'EOF'
"""CLIENTS concurrent clamd clients for SECONDS, each on a new connection
per request (per session), THINK s on average between requests; every
reply checked.  Samples ampdaemon (DPID) every second.  Writes OUT (JSON)
and a summary on stdout; touches OUT.running once every client is going."""
import array, asyncio, errno, json, os, random, re, resource, socket, sys, time

SOCK, CLEAN, EICAR, SIG, OUT = sys.argv[1:6]
DPID, CLIENTS, SECONDS, THINK = int(sys.argv[6]), int(sys.argv[7]), float(sys.argv[8]), float(sys.argv[9]) / 1000
TIMEOUT = 30.0                     # for any one reply (and the connect before it)
EICAR_BYTES = open(EICAR, 'rb').read()
FOUND = SIG + ' FOUND'


class Fail(Exception):
    pass


stats = {}                         # kind -> answered correctly
failures = []                      # (t, kind, what)
nfail = 0
lat = []                           # seconds, every reply
backlog_waits = 0                  # connect() found the listen backlog full: waited (as a blocking connect would)
open_now = open_max = 0
T0 = time.monotonic()


def fail(kind, what):
    global nfail
    nfail += 1
    if len(failures) < 100:
        failures.append((round(time.monotonic() - T0, 3), kind, what))


def describe(e):
    if isinstance(e, asyncio.TimeoutError):
        return 'no reply within %d s' % TIMEOUT
    if isinstance(e, OSError) and e.errno is not None:
        return '%s (%s)' % (errno.errorcode.get(e.errno, e.errno), e.strerror)
    return '%s: %s' % (type(e).__name__, e)


class Conn:
    def __init__(self):
        self.s = None
        self.buf = b''

    async def connect(self):
        global backlog_waits, open_now, open_max
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
            try:
                s.connect(SOCK)       # AF_UNIX: done at once, or EAGAIN with a full backlog
                break
            except BlockingIOError:
                s.close()
                backlog_waits += 1
                await asyncio.sleep(0.005)
            except BaseException:
                s.close()
                raise
        self.s = s
        open_now += 1
        open_max = max(open_max, open_now)

    def close(self):
        global open_now
        if self.s is not None:
            self.s.close()
            self.s = None
            open_now -= 1

    async def send(self, data):
        await asyncio.get_running_loop().sock_sendall(self.s, data)

    async def send_fd(self, fd):
        # the descriptor travels with the byte after the FILDES command
        while True:
            try:
                socket.send_fds(self.s, [b'x'], [fd])
                return
            except BlockingIOError:
                await asyncio.sleep(0.001)

    async def _reply(self):
        loop = asyncio.get_running_loop()
        while b'\0' not in self.buf:
            b = await loop.sock_recv(self.s, 4096)
            if not b:
                raise Fail('short reply: EOF after %r' % self.buf[:200])
            self.buf += b
        i = self.buf.index(b'\0')
        r, self.buf = self.buf[:i], self.buf[i + 1:]
        return r.decode(errors='replace')

    async def reply(self):
        return await asyncio.wait_for(self._reply(), TIMEOUT)

    async def _eof(self):
        loop = asyncio.get_running_loop()
        while True:
            b = await loop.sock_recv(self.s, 4096)
            if not b:
                break
            self.buf += b
        if self.buf:
            raise Fail('bytes after the last reply: %r' % self.buf[:200])

    async def eof(self):
        """The server closes the connection, with nothing more said."""
        await asyncio.wait_for(self._eof(), TIMEOUT)


# one command on an open connection: (kind, bytes to send, fd to pass or
# None, the expected reply as a regex)
def command():
    r = random.random()
    if r < 0.25:
        return 'SCAN clean', b'zSCAN ' + CLEAN.encode() + b'\0', None, re.escape(CLEAN + ': OK')
    if r < 0.45:
        return 'SCAN eicar', b'zSCAN ' + EICAR.encode() + b'\0', None, re.escape(EICAR + ': ' + FOUND)
    if r < 0.60:
        data = b'clean bytes %d\n' % random.randrange(1 << 30)
        return 'INSTREAM clean', b'zINSTREAM\0' + len(data).to_bytes(4, 'big') + data + bytes(4), None, 'stream: OK'
    if r < 0.70:
        return ('INSTREAM eicar', b'zINSTREAM\0' + len(EICAR_BYTES).to_bytes(4, 'big') + EICAR_BYTES + bytes(4),
                None, re.escape('stream: ' + FOUND))
    if r < 0.85:
        return 'FILDES clean', b'zFILDES\0', CLEAN, r'fd\[\d+\]: OK'
    return 'FILDES eicar', b'zFILDES\0', EICAR, r'fd\[\d+\]: ' + re.escape(FOUND)


async def run_command(c, kind, data, path, want, sid=0):
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC) if path else -1
    try:
        t = time.monotonic()
        await c.send(data)
        if fd >= 0:
            await c.send_fd(fd)
        rep = await c.reply()
    finally:
        if fd >= 0:
            os.close(fd)
    lat.append(time.monotonic() - t)
    if sid:
        want = '%d: %s' % (sid, want)
    if not re.fullmatch(want, rep):
        raise Fail('%s: reply %r, want %r' % (kind, rep, want))
    stats[kind] = stats.get(kind, 0) + 1


async def one_request():
    kind, data, path, want = command()
    c = Conn()
    try:
        await asyncio.wait_for(c.connect(), TIMEOUT)
        await run_command(c, kind, data, path, want)
        await c.eof()              # one command outside a session: then closed
    except (Fail, OSError, asyncio.TimeoutError) as e:
        fail(kind, describe(e))
    finally:
        c.close()


async def one_session(end):
    """An IDSESSION held open: 3-12 commands, THINK s apart (the idle
    limit is 30 s), then END (at the end of the run, at once)."""
    c = Conn()
    kind = 'IDSESSION'
    try:
        await asyncio.wait_for(c.connect(), TIMEOUT)
        await c.send(b'zIDSESSION\0')
        for sid in range(1, random.randint(3, 12) + 1):
            if sid > 1:
                await asyncio.sleep(random.uniform(0.5, 1.5) * THINK)
                if time.monotonic() >= end:
                    break
            if random.random() < 0.15:
                kind = 'session PING'
                await run_command(c, kind, b'zPING\0', None, 'PONG', sid)
            else:
                kind, data, path, want = command()
                kind = 'session ' + kind
                await run_command(c, kind, data, path, want, sid)
        kind = 'session END'
        await c.send(b'zEND\0')
        await c.eof()
        stats['sessions'] = stats.get('sessions', 0) + 1
    except (Fail, OSError, asyncio.TimeoutError) as e:
        fail(kind, describe(e))
    finally:
        c.close()


started = 0


async def client(end):
    global started
    await asyncio.sleep(random.uniform(0, min(1.0, THINK)))   # ramp up over a second
    started += 1
    if started == CLIENTS:
        open(OUT + '.running', 'w').close()
    while time.monotonic() < end:
        # mostly a session held open (so about CLIENTS connections are open
        # at any time), sometimes a single command on its own connection
        if random.random() < 0.6:
            await one_session(end)
        else:
            await one_request()
        await asyncio.sleep(random.uniform(0.5, 1.5) * THINK)


def proc_sample():
    try:
        rss = int([l.split()[1] for l in open('/proc/%d/status' % DPID) if l.startswith('VmRSS:')][0])
        fds = len(os.listdir('/proc/%d/fd' % DPID))
        kids = [int(p) for p in open('/proc/%d/task/%d/children' % (DPID, DPID)).read().split()]
    except (OSError, IndexError, ValueError):
        return None
    zombies = []
    for k in kids:
        try:
            if open('/proc/%d/stat' % k).read().rsplit(')', 1)[1].split()[0] == 'Z':
                zombies.append(k)
        except (OSError, IndexError):
            pass
    return {'t': round(time.monotonic() - T0, 2), 'rss_kb': rss, 'fds': fds, 'children': len(kids),
            'zombies': zombies, 'client_conns': open_now,
            'answered': sum(v for k, v in stats.items() if k != 'sessions')}


samples = []


async def sampler(stop):
    while not stop.is_set():
        s = proc_sample()
        if s:
            samples.append(s)
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except asyncio.TimeoutError:
            pass


async def main():
    end = time.monotonic() + SECONDS
    stop = asyncio.Event()
    smp = asyncio.create_task(sampler(stop))
    await asyncio.gather(*(client(end) for _ in range(CLIENTS)))
    stop.set()
    await smp


asyncio.run(main())
wall = time.monotonic() - T0
answered = sum(v for k, v in stats.items() if k != 'sessions')
lat.sort()
ru = resource.getrusage(resource.RUSAGE_SELF)
res = {
    'clients': CLIENTS, 'seconds': round(wall, 2), 'answered': answered, 'failed': nfail,
    'per_second': round(answered / wall, 1), 'by_kind': stats, 'failures': failures,
    'latency_max': round(lat[-1], 3) if lat else None,
    'latency_p50': round(lat[len(lat) // 2], 4) if lat else None,
    'latency_p99': round(lat[len(lat) * 99 // 100], 4) if lat else None,
    'backlog_waits': backlog_waits, 'client_conns_max': open_max,
    'load_cpu_pct': round(100 * (ru.ru_utime + ru.ru_stime) / wall, 1),
    'samples': samples,
}
json.dump(res, open(OUT, 'w'))
print('%d requests answered in %.1f s (%.0f/s), %d failed; latency p50 %s s, p99 %s s, max %s s; '
      '%d connections at most; %d waits on a full listen backlog; the load used %.0f%% of a core'
      % (answered, wall, answered / wall, nfail, res['latency_p50'], res['latency_p99'], res['latency_max'],
         open_max, backlog_waits, res['load_cpu_pct']))
EOF

# ==== 1. SOAK_CLIENTS concurrent clients, SIGHUP and RELOAD in the middle =============
echo "# 1. $SOAK_CLIENTS concurrent clients for $SOAK_SECONDS s; SIGHUP and RELOAD in the middle"
# sanitizer builds: ASan's quarantine of freed memory (256 MB) would hide
# RSS growth; a small one keeps RSS meaningful (no effect elsewhere)
export ASAN_OPTIONS=$ASAN_OPTIONS:quarantine_size_mb=1
dl_config CreateScanUser yes Workers $WORKERS ReadyTimeout 20s
check "ampdaemon starts" dl_start
check "$WORKERS workers READY" dl_wait_ready $WORKERS 30
check "zSCAN EICAR: FOUND" test "$(zreq "SCAN $EICAR")" = "$EICAR: $SIG FOUND"
check "zSCAN the clean file: OK" test "$(zreq "SCAN $CLEAN")" = "$CLEAN: OK"
expect_status 1 "ampctl scan EICAR: found" dl_ctl scan "$EICAR"
sleep 1
fd0=$(t_nfds) rss0=$(t_rss_kb) kids0=$(t_nchildren) z0=$(t_zombies)
# the clean-file cache's leases (one descriptor each) are not the load's
fd0=$((fd0 - $(dl_status_py "s['clean_cache']['entries']" || echo 0)))
echo "    baseline: $fd0 fds, VmRSS $rss0 kB, $kids0 children ($z0 zombies)"
# WorkerLaunch loader (the default): the loader is a child too
check "baseline: one child per worker, and the loader" test "$kids0" = "$((WORKERS + 1))"
heap0=
if command -v gdb >/dev/null && ! is_asan; then
	heap0=$(heap_stats)
	echo "    glibc heap: $heap0"
fi

python3 load.py "$SOCK" "$CLEAN" "$EICAR" "$SIG" load.json "$DL_PID" "$SOAK_CLIENTS" \
	"$SOAK_SECONDS" "$SOAK_THINK_MS" >load.out 2>&1 &
LOAD_PID=$!
DL_DAEMON_PIDS+=("$LOAD_PID")
t_load0=$(date +%s.%N)
for _ in $(seq 100); do [ -e load.json.running ] && break; sleep 0.1; done
check "all $SOAK_CLIENTS clients running" test -e load.json.running

# the middle of the run: rotate the logs as logrotate does, SIGHUP
sleep "$(awk -v s="$SOAK_SECONDS" -v a="$t_load0" -v n="$(date +%s.%N)" 'BEGIN { d = s / 2 - (n - a); print (d > 0 ? d : 0) }')"
echo "    $(awk -v a="$t_load0" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f", n - a }') s into the load: SIGHUP, then RELOAD"
old=$(ready_pids)
mv log/ampdaemon.log log/ampdaemon.log.1
mv log/ampscansvc.log log/ampscansvc.log.1
kill -HUP "$DL_PID"
hup_done() { grep -q "SIGHUP: logs reopened" log/ampdaemon.log 2>/dev/null; }
wait_for() { local i; for i in $(seq $(($1 * 10))); do "${@:2}" && return 0; sleep 0.1; done; return 1; }
check "SIGHUP: a new ampdaemon.log, which says 'SIGHUP: logs reopened'" wait_for 10 hup_done
# what ampdaemon holds open: the new files, not the renamed ones
open_logs() { find "/proc/$DL_PID/fd" -mindepth 1 -maxdepth 1 -printf '%l\n' 2>/dev/null | grep "$T_TMP/log/" | sort; }
check "SIGHUP: ampdaemon holds the new ampdaemon.log and ampscansvc.log open, the renamed ones closed ($(open_logs | tr '\n' ' '))" \
	test "$(open_logs | tr '\n' ' ')" = "$T_TMP/log/ampdaemon.log $T_TMP/log/ampscansvc.log "
check "SIGHUP: no ERROR in ampdaemon.log for it" bash -c "! grep -q 'SIGHUP: cannot reopen' log/ampdaemon.log"
check "SIGHUP: the process and its workers carry on (pids $old)" test "$(ready_pids)" = "$old"
reply=$(zreq RELOAD)
check "RELOAD on the scan socket, under load: '$reply'" test "$reply" = RELOADING
if dl_wait "sum(w['state'] == 'ready' for w in s['workers']) == $WORKERS and not any(str(w['pid']) in '$old'.split() for w in s['workers'] if w['state'] == 'ready') and s['update']['in_progress'] == False" 30; then
	ok "RELOAD: the workers rolled over (pids $old -> $(ready_pids))"
else
	not_ok "RELOAD: the workers rolled over (pids $old -> $(ready_pids), want $WORKERS READY, none of the old)"
fi
check "RELOAD: logged in the new ampdaemon.log, not in the renamed one" \
	bash -c "grep -Eq 'RELOAD \\(uid [0-9]+\\): re-verifying' log/ampdaemon.log && ! grep -Eq 'RELOAD \\(uid [0-9]+\\): re-verifying' log/ampdaemon.log.1"
echo "    RELOAD done $(awk -v a="$t_load0" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f", n - a }') s into the load"

for _ in $(seq $((SOAK_SECONDS * 10 + 600))); do kill -0 "$LOAD_PID" 2>/dev/null || break; sleep 0.1; done
t_kill_children 9 "$LOAD_PID"
wait "$LOAD_PID"
check "the load ran to its end" test -s load.json
echo "    load: $(cat load.out)"
lq() { python3 -c "import json; r = json.load(open('load.json')); print($1)" 2>/dev/null; }
lq "'\n'.join('    %-20s %7d' % kv for kv in sorted(r['by_kind'].items()))"
lq "'\n'.join('    failed at %s s: %s: %s' % tuple(f) for f in r['failures'][:15])"
answered=$(lq "r['answered']")
check "every request answered correctly: $(lq "r['answered']") answered, $(lq "r['failed']") failed" \
	test "$(lq "r['failed']")" = 0 -a "${answered:-0}" -gt 0
kinds="SCAN clean|SCAN eicar|INSTREAM clean|INSTREAM eicar|FILDES clean|FILDES eicar"
check "every kind of request was answered, alone and in a session, and sessions ended" \
	test "$(lq "sorted(set(k.replace('session ', '') for k in r['by_kind'] if k != 'sessions' and k != 'session PING')) == sorted('$kinds'.split('|')) and len(r['by_kind']) == 14")" = True
check "most of the $SOAK_CLIENTS clients were connected at once ($(lq "r['client_conns_max']") at most)" \
	test "$(lq "r['client_conns_max']")" -ge $((SOAK_CLIENTS * 3 / 4))
check "the slowest reply took $(lq "r['latency_max']") s (< 30 s)" lt "$(lq "r['latency_max']")" 30
check "ampdaemon still runs" kill -0 "$DL_PID"
check "the scan socket never hit its connection cap" bash -c "! grep -q 'refusing new ones' log/ampdaemon.log log/ampdaemon.log.1"
check "ampdaemon never ran out of descriptors" bash -c "! grep -q 'pausing 0.1 s at a time' log/ampdaemon.log log/ampdaemon.log.1"
echo "    requests/s: $(lq "r['per_second']") ($SOAK_CLIENTS clients, ~$SOAK_THINK_MS ms between requests, $WORKERS workers)"

# the samples: bounded while the load ran
peak_rss=$(lq "max(s['rss_kb'] for s in r['samples'])")
peak_fds=$(lq "max(s['fds'] for s in r['samples'])")
peak_kids=$(lq "max(s['children'] for s in r['samples'])")
nsamp=$(lq "len(r['samples'])")
echo "    $nsamp samples: VmRSS $rss0 -> peak $peak_rss kB, fds $fd0 -> peak $peak_fds, children $kids0 -> peak $peak_kids"
lq "'\n'.join('      t=%6.2f  rss %7d kB  fds %5d  children %d  zombies %s  client conns %4d  answered %7d' % (s['t'], s['rss_kb'], s['fds'], s['children'], s['zombies'], s['client_conns'], s['answered']) for s in r['samples'])"
check "sampled every second ($nsamp samples)" test "${nsamp:-0}" -ge $((SOAK_SECONDS - 2))
check "VmRSS bounded: peak $peak_rss kB < baseline $rss0 + $RSS_PEAK_SLACK kB" \
	test "${peak_rss:-999999999}" -lt $((rss0 + RSS_PEAK_SLACK))
check "descriptors bounded: peak $peak_fds <= baseline $fd0 + 4 x $SOAK_CLIENTS" \
	test "${peak_fds:-999999}" -le $((fd0 + 4 * SOAK_CLIENTS))
check "children bounded: peak $peak_kids <= 2 x $WORKERS + 2 (a rollover, a task)" \
	test "${peak_kids:-99}" -le $((2 * WORKERS + 2))
check "no zombie child seen in two samples in a row" \
	test "$(lq "sum(1 for a, b in zip(r['samples'], r['samples'][1:]) if set(a['zombies']) & set(b['zombies']))")" = 0

# after the clients left: back to the baseline.  The clean-file cache
# holds one descriptor per entry (its read lease: docs/workers.md) for up
# to 10 minutes: those are counted apart, not as a leak.
t_back() {
	for _ in $(seq 100); do
		fd1=$(t_nfds) rss1=$(t_rss_kb) kids1=$(t_nchildren) z1=$(t_zombies)
		cc1=$(dl_status_py "s['clean_cache']['entries']")
		[ "$((fd1 - ${cc1:-0}))" = "$fd0" ] && [ "$kids1" = "$kids0" ] && [ "$z1" = 0 ] && return 0
		sleep 0.1
	done
	return 1
}
t_back
echo "    after: $fd1 fds ($cc1 of them the clean-file cache's leases), VmRSS $rss1 kB, $kids1 children ($z1 zombies)"
check "descriptors back to the baseline ($fd0): $fd1 less $cc1 cache leases" test "$((fd1 - ${cc1:-0}))" = "$fd0"
check "children back to the baseline ($kids0): $kids1" test "$kids1" = "$kids0"
check "no zombie" test "$z1" = 0
check "RSS bounded after the load too: $rss1 kB < baseline $rss0 + $RSS_PEAK_SLACK kB" test "$rss1" -lt $((rss0 + RSS_PEAK_SLACK))
# RSS does not come back by itself: glibc returns only the top of the heap
# to the kernel, and the pages of freed connection buffers (~70 KB each)
# touched once stay resident.  What is still *allocated* must come back:
# the heap in use (malloc_stats, through gdb) back to its baseline
if [ -n "$heap0" ]; then
	heap1=$(heap_stats)
	echo "    glibc heap after the load: $heap1 (before it: $heap0)"
	use0=${heap0%% *} use1=${heap1%% *}
	check "the heap in use is back to its baseline: $use0 -> $use1 bytes (<= +$HEAP_SLACK): no leak" \
		test -n "$use1" -a "${use1:-0}" -le $((use0 + HEAP_SLACK))
else
	echo "ok   - SKIPPED: the heap in use (needs gdb and a build without ASan; the ASan build checks leaks at exit)"
fi
check "after the load: zSCAN EICAR: FOUND" test "$(zreq "SCAN $EICAR")" = "$EICAR: $SIG FOUND"
expect_status 0 "after the load: ampctl scan of the clean file: OK" dl_ctl scan "$CLEAN"
dl_stop_checked
echo "# 1. numbers: $(lq "r['per_second']") requests/s; VmRSS baseline $rss0 kB, peak $peak_rss kB, after $rss1 kB; fds baseline $fd0, peak $peak_fds, after $fd1; children $kids0, peak $peak_kids, after $kids1"

# ==== 2. SIGKILL of ampdaemon at random instants under load =======================
echo "# 2. SIGKILL of ampdaemon at a random instant under load: at least $SOAK_KILL_ROUNDS rounds, more within $((2 * SOAK_SECONDS)) s"
t_fresh
rm -f log/*.1

# a few clients, scanning until ampdaemon is gone: one line per request,
# "ok KIND", "FAIL KIND reply" (a complete reply that is wrong) or "gone
# KIND error" (the connection broke: ampdaemon was killed)
cat >few.py <<'EOF'
import os, socket, sys, threading, time

SOCK, CLEAN, EICAR, SIG, OUT, N = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
lines, lock = [], threading.Lock()


def req(payload):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    try:
        s.connect(SOCK)
        s.sendall(payload)
        buf = b''
        while not buf.endswith(b'\0'):
            b = s.recv(4096)
            if not b:
                raise EOFError('EOF after %r' % buf)
            buf += b
        return buf[:-1].decode(errors='replace')
    finally:
        s.close()


def loop(k):
    i = k
    while True:
        i += 1
        which = i % 3
        try:
            if which == 0:
                kind, want = 'SCAN eicar', EICAR + ': ' + SIG + ' FOUND'
                r = req(b'zSCAN ' + EICAR.encode() + b'\0')
            elif which == 1:
                kind, want = 'SCAN clean', CLEAN + ': OK'
                r = req(b'zSCAN ' + CLEAN.encode() + b'\0')
            else:
                data = b'clean bytes %d\n' % i
                kind, want = 'INSTREAM', 'stream: OK'
                r = req(b'zINSTREAM\0' + len(data).to_bytes(4, 'big') + data + bytes(4))
            line = ('ok %s' % kind) if r == want else ('FAIL %s %r' % (kind, r))
        except (OSError, EOFError) as e:
            line = 'gone %s %s' % (kind, e)
        with lock:
            lines.append(line)
        if line.startswith('gone'):
            return
        time.sleep(0.005)


ts = [threading.Thread(target=loop, args=(k,)) for k in range(N)]
for t in ts:
    t.start()
for t in ts:
    t.join()
open(OUT, 'w').write('\n'.join(lines) + '\n')
EOF

# descendants PID: PID's children, theirs, ... (from /proc)
descendants() {
	local k
	for k in $(cat "/proc/$1/task/"*/children 2>/dev/null); do
		echo "$k"
		descendants "$k"
	done
}
# running PIDS...: those of them still running (a zombie left to init is dead)
running() {
	local p st
	for p in "$@"; do
		st=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f1)
		[ -n "$st" ] && [ "$st" != Z ] && echo "$p"
	done
}
# our_procs: any running process of this test's binaries or of the scan user
our_procs() {
	local p exe st
	for p in /proc/[0-9]*; do
		st=$(sed 's/.*) //' "$p/stat" 2>/dev/null | cut -d' ' -f1)
		[ -z "$st" ] || [ "$st" = Z ] && continue
		exe=$(readlink "$p/exe" 2>/dev/null)
		case "$exe" in "$T_TMP/bin/"*) echo "${p#/proc/} $exe"; continue;; esac
		[ "$(stat -c %U "$p" 2>/dev/null)" = "$DL_USER" ] && echo "${p#/proc/} (user $DL_USER)"
	done
}
demo_version() { dl_status_py "[d['version'] for d in s['definitions']['databases'] if d['name'] == 'demo']"; }
# settled SECS: workers READY, no update in progress or queued, incoming/
# empty (a file left there is read again at start, after a short delay)
settled() {
	for _ in $(seq "$1"); do
		[ -z "$(ls -A defs/incoming 2>/dev/null)" ] &&
			dl_wait "sum(w['state'] == 'ready' for w in s['workers']) == $WORKERS and s['update']['in_progress'] == False and s['update']['queued'] == 0" 1 &&
			[ -z "$(ls -A defs/incoming 2>/dev/null)" ] && return 0
		sleep 0.5
	done
	return 1
}

dl_config CreateScanUser yes Workers $WORKERS ReadyTimeout 20s TrialTimeout 60s
# the updates: the demo set, one version up each time, with a signature of
# its own and 50,000 more (so the trial takes a while: ~0.6 s, a window a
# random kill falls into)
python3 -c "
import random
r = random.Random(8)
for i in range(50000):
    print('Soak.Bulk.%d:0:*:%s' % (i, r.randbytes(16).hex()))" >bulk.ndb
# build_update VERSION: upd/VERSION/demo.cvd
build_update() {
	local dir=upd/$1/src
	mkdir -p "$dir"
	cp src/* bulk.ndb "$dir/"
	printf 'Upd.Test.%d:0:*:%s\n' "$1" "$(printf 'ampscan soak update %d' "$1" | od -An -tx1 | tr -d ' \n')" >>"$dir/demo.ndb"
	"$CVDTOOL" build "upd/$1/demo.cvd" --from "$dir" --key keys/k.key --version "$1" --builder test >/dev/null
}
# step_at_kill LINE: what the log says was going on since line LINE
step_at_kill() {
	tail -n +"$1" "$DL_LOG" 2>/dev/null | sed -nE \
		-e 's/.*info: incoming: .*/picked up/p' \
		-e 's/.*info: update .*: (staging|verifying|trial|index|activating)$/\1/p' \
		-e 's/.*event:.*"event":"definitions_activated".*/activated/p' \
		-e 's/.*info: rollover: starting.*/rollover/p' \
		-e 's/.*info: rollover: [0-9]+ worker.* READY on the new.*/rolled over/p' | tail -1
}
version=10           # the last version dropped (the demo set of dl_init: 10)
rounds=0 updates=0 journals=0
t_kill0=$(date +%s)
declare -a instants=()
check "ampdaemon starts" dl_start
check "$WORKERS workers READY" dl_wait_ready $WORKERS 30
while :; do
	rounds=$((rounds + 1))
	r=$rounds
	# the load, and every other round an update dropped into incoming/
	rm -f few.out
	mark=$(($(wc -l <"$DL_LOG") + 1))
	python3 few.py "$SOCK" "$CLEAN" "$EICAR" "$SIG" few.out 3 >/dev/null 2>&1 &
	few=$!
	DL_DAEMON_PIDS+=("$few")
	upd=none
	if [ $((r % 2)) = 0 ]; then
		version=$((version + 1))
		build_update "$version"
		cp "upd/$version/demo.cvd" defs/incoming/.demo.tmp
		mv defs/incoming/.demo.tmp "defs/incoming/demo-$version.cvd"
		upd="demo-$version.cvd"
		updates=$((updates + 1))
	fi
	ms=$((RANDOM % 2001))
	delay=$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))
	sleep "$delay"
	kids=$(descendants "$DL_PID" | tr '\n' ' ')
	kill -9 "$DL_PID"
	wait "$DL_PID" 2>/dev/null
	step=$(step_at_kill "$mark")
	journal=no
	[ -e "$DL_STATE/activation.journal" ] && journal=yes && journals=$((journals + 1))
	on_disk=$("$CVDTOOL" info --trusted-key keys/k.pub defs/active/demo.cvd 2>/dev/null | sed -n 's/^Version: *//p')
	instants+=("round $r: SIGKILL ${delay} s into the load; update: $upd$([ "$upd" != none ] && echo ", its last step logged: ${step:-none (not picked up yet)}"); on disk: demo $on_disk$([ $journal = yes ] && echo ", an activation journal"); $(wc -w <<<"$kids") descendants")
	echo "    ${instants[-1]}"
	# its children die with it
	for _ in $(seq 50); do [ -z "$(running $kids)" ] && break; sleep 0.1; done
	check "round $r: no child of the killed ampdaemon runs on ($(wc -w <<<"$kids") descendants: $kids)" test -z "$(running $kids)"
	for _ in $(seq 50); do [ -z "$(our_procs)" ] && break; sleep 0.1; done
	check "round $r: no process of ours at all runs on ($(our_procs | tr '\n' ';'))" test -z "$(our_procs)"
	for _ in $(seq 100); do kill -0 "$few" 2>/dev/null || break; sleep 0.1; done
	t_kill_children 9 "$few"
	wait "$few" 2>/dev/null
	nok=$(grep -c '^ok' few.out 2>/dev/null || true)
	check "round $r: every complete reply before the kill was right ($nok right, $(grep -c '^gone' few.out 2>/dev/null || true) cut by the kill)" \
		bash -c "test -s few.out && ! grep -q '^FAIL' few.out"
	grep '^FAIL' few.out 2>/dev/null | head -3 | sed 's/^/    /'
	# the restart
	t0=$(date +%s.%N)
	if ! dl_start; then not_ok "round $r: ampdaemon restarts"; tail -5 daemon.out; break; fi
	check "round $r: restarted, $WORKERS workers READY within 30 s" dl_wait_ready $WORKERS 30
	echo "    round $r: READY again $(awk -v a="$t0" -v n="$(date +%s.%N)" 'BEGIN { printf "%.2f", n - a }') s after the restart (journal left by the kill: $journal)"
	# a journal: the activation had begun; the recovery (before any worker
	# starts) finishes it, its incoming/ file included, so no other update
	# can be writing a new journal now
	[ "$journal" = yes ] && check "round $r: the journal the kill left was resolved before the workers were READY" \
		test ! -e "$DL_STATE/activation.journal"
	check "round $r: settled (no update in progress or queued, incoming/ empty)" settled 60
	check "round $r: no activation journal left" test ! -e "$DL_STATE/activation.journal"
	check "round $r: nothing left in staging/ or incoming/" \
		test -z "$(ls -A defs/staging defs/incoming 2>/dev/null | grep -v ':$' | grep -v '^$')"
	check "round $r: nothing rejected or quarantined" \
		bash -c "[ \"\$(ls -A defs/quarantine 2>/dev/null)\" = '' ] && [ '$(dl_events_count definitions_rejected)' = 0 ]"
	check "round $r: active/ is one container, demo.cvd (Engine clamav: no index)" \
		test "$(ls defs/active | tr '\n' ' ')" = "demo.cvd "
	check "round $r: active/demo.cvd verifies with the trusted key" \
		bash -c "'$CVDTOOL' verify --trusted-key keys/k.pub defs/active/demo.cvd >/dev/null"
	check "round $r: nothing lost: demo version $version active (on disk and in the workers)" \
		bash -c "'$CVDTOOL' info --trusted-key keys/k.pub defs/active/demo.cvd | grep -Eq '^Version: +$version\$' && [ '$(demo_version)' = '[$version]' ]"
	check "round $r: ampctl status --json is JSON" bash -c "timeout 10 '$AMPCTL' --socket '$DL_CTL' status --json | python3 -c 'import json, sys; json.load(sys.stdin)'"
	rc=0
	timeout 60 "$AMPCTL" --socket "$DL_CTL" diag --json >diag.json 2>diag.err || rc=$?
	check "round $r: ampctl diag --json: exit $rc (0, 1 or 2), JSON, every state file read ($(python3 -c "import json; d = json.load(open('diag.json')); print(d['verdict'], d['unreadable'])" 2>&1 | tail -1))" \
		bash -c "case $rc in 0|1|2) ;; *) exit 1;; esac; python3 -c \"import json; d = json.load(open('diag.json')); assert d['schema'] == 'ampscan-diag/1' and d['exit_status'] == $rc and not d['unreadable']\""
	check "round $r: zSCAN EICAR: FOUND" test "$(zreq "SCAN $EICAR")" = "$EICAR: $SIG FOUND"
	check "round $r: zSCAN the clean file: OK" test "$(zreq "SCAN $CLEAN")" = "$CLEAN: OK"
	expect_status 1 "round $r: ampctl scan EICAR: found" dl_ctl scan "$EICAR"
	if [ "$version" -gt 10 ]; then
		printf 'ampscan soak update %d\n' "$version" >"files/upd.txt"
		chmod 644 files/upd.txt
		check "round $r: the update's own signature (Upd.Test.$version) detects" \
			test "$(zreq "SCAN $T_TMP/files/upd.txt")" = "$T_TMP/files/upd.txt: Upd.Test.$version.UNOFFICIAL FOUND"
	fi
	[ "$rounds" -ge "$SOAK_KILL_ROUNDS" ] && [ $(($(date +%s) - t_kill0)) -ge $((2 * SOAK_SECONDS)) ] && break
	[ "$rounds" -ge 200 ] && break
done
echo "# 2. $rounds rounds in $(($(date +%s) - t_kill0)) s; $updates updates dropped, $journals kills left an activation journal for the restart; the instants:"
printf '    %s\n' "${instants[@]}"
check "at least $SOAK_KILL_ROUNDS rounds ($rounds)" test "$rounds" -ge "$SOAK_KILL_ROUNDS"
check "no worker crashed over the rounds (no worker_exited of kind crash)" \
	ev_true "not [e for e in E if e['event'] == 'worker_exited' and e.get('kind') == 'crash']"
dl_stop_checked
finish
