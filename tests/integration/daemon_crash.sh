#!/usr/bin/env bash
# ampdaemon's crash handling, as the issue's tests 4 and 5 ask, scaled down
# in time by configuration:
#   4. workers killed with SIGSEGV faster than CrashThreshold/CrashWindow:
#      fault 6 raised exactly once with the right detail; each kill recorded
#      (worker_exited, exits.jsonl); the restart delay of one slot doubles
#      from RestartDelayMin up to RestartDelayMax and stays there; the
#      delays are really waited (no busy loop: little CPU time); the kills
#      stop: fault 6 cleared after StableAfter.  With a short
#      InterventionAfter: intervention_required, and a file suspected of
#      crashing the scanner is refused with an error naming fault 6
#      (without crashing a worker) while clean files still scan.
#   5. a file with the test crash marker, through `ampctl scan`: poison
#      after PoisonThreshold (2) crashes (the first crash is retried on the
#      other worker), refused afterwards without reaching a worker, other
#      files keep scanning, poison_file event and state/poison.state; once
#      changed it is handed to a worker again.  A file with the hang
#      marker: killed after ScanTimeout, counted as a crash (scan_timeout),
#      answered with an error, the client not left hanging.
#   daemon_crash.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
dl_init "$1" "$2"
cd "$T_TMP"

# ---- helpers -------------------------------------------------------------------

# re_match REGEX STRING: the whole STRING matches (Python syntax)
re_match() {
	python3 -c 'import re, sys; sys.exit(not re.fullmatch(sys.argv[1], sys.argv[2]))' "$1" "$2" ||
		{ echo "    no match: '$2'"; return 1; }
}
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

# restarts of every slot together
t_restarts() { dl_status_py "sum(w['restarts'] for w in s['workers'])"; }

# CPU time (user + system) ampdaemon used so far, in seconds
t_cpu() {
	sed 's/.*) //' "/proc/$DL_PID/stat" |
		awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($12 + $13) / hz }'
}

# the pid of the READY worker in slot N, when there is one (else 0)
t_slot_pid() {
	dl_status_py "([w['pid'] for w in s['workers'] if w['slot'] == $1 and w['state'] == 'ready' and w['pid'] > 0] + [0])[0]"
}

printf 'some text\nAMPSCAN-TEST-CRASH-MARKER\nmore text\n' >files/crash.txt
printf 'some text\nAMPSCAN-TEST-HANG-MARKER\n' >files/hang.txt
chmod 644 files/*.txt

# ==== 4: workers killed faster than the threshold ===================================
echo "# test 4: SIGSEGV kills, fault 6, backoff, StableAfter"
DMIN=0.050 DMAX=0.400
dl_config CreateScanUser yes CrashThreshold 3 CrashWindow 60s \
	RestartDelayMin 50ms RestartDelayMax 400ms StableAfter 5s \
	InterventionAfter 1h ReadyTimeout 10s
check "ampdaemon starts" dl_start
check "both workers READY" dl_wait_ready 2
cpu0=$(t_cpu)

# kill the worker of slot 1 each time it is READY again: 8 kills, so the
# delay doubles 0.05 -> 0.4 and then stays at the cap for a while
KILLS=8
killed=()
last=0
for i in $(seq $KILLS); do
	if ! dl_wait "any(w['slot'] == 1 and w['state'] == 'ready' and w['pid'] > 0 and w['pid'] != $last for w in s['workers'])" 15; then
		not_ok "slot 1 READY again before kill $i"
		break
	fi
	last=$(t_slot_pid 1)
	kill -SEGV "$last"
	killed+=("$last")
	[ "$i" = 3 ] && check "fault 6 raised at the third crash" \
		dl_wait "any(f['id'] == 6 for f in s['faults'])" 10
done
check "all $KILLS kills done" test "${#killed[@]}" = "$KILLS"
# fault 6 as status shows it right after the last crash (StableAfter clears it soon)
check "slot 1 counts $KILLS restarts" dl_wait "[w['restarts'] for w in s['workers'] if w['slot'] == 1] == [$KILLS]" 10
f6=$(dl_status_py "'|'.join('%s|%s' % (f['detail'], f['intervention']) for f in s['faults'] if f['id'] == 6)")
check "slot 1 READY after the last kill" dl_wait "any(w['slot'] == 1 and w['state'] == 'ready' and w['pid'] not in (${killed[*]/%/,} 0) for w in s['workers'])" 15
check "every kill is a worker_exited event (kind crash, SIGSEGV, its pid)" \
	ev_wait "all(any(e['event'] == 'worker_exited' and e.get('pid') == p and e.get('kind') == 'crash' and e.get('signal') == 'SIGSEGV' and e.get('worker') == 1 for e in E) for p in [${killed[*]/%/,}])" 10
check "no other worker exited" ev_true "sum(e['event'] == 'worker_exited' for e in E) == $KILLS"
ev_true "sum(e['event'] == 'worker_exited' for e in E) == $KILLS" ||
	echo "    exits: $(evq "[(e.get('pid'), e.get('worker'), e.get('kind'), e.get('signal'), e.get('retired')) for e in E if e['event'] == 'worker_exited']")"
check "exits.jsonl records the $KILLS crashes (kind crash, signal SIGSEGV)" python3 -c "
import json
x = [json.loads(l) for l in open('$DL_STATE/exits.jsonl') if l.strip()]
assert sorted(e['pid'] for e in x if e.get('kind') == 'crash' and e.get('signal') == 'SIGSEGV') == sorted([${killed[*]/%/,}]), x"
check "slot 2 was not touched" test "$(dl_status_py "[w['restarts'] for w in s['workers'] if w['slot'] == 2][0]")" = 0

# fault 6: raised once, at the third crash, with count, span and signals
check "fault_raised for fault 6 exactly once" ev_true "sum(e['event'] == 'fault_raised' and e.get('fault') == 6 for e in E) == 1"
check "its detail: '3 crashes in S s (SIGSEGV x3)', S the span of the 3 crashes" python3 - "$DL_STATE/events.jsonl" <<'EOF'
import json, re, sys
from datetime import datetime
E = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
t = lambda e: datetime.strptime(e['time'], '%Y-%m-%dT%H:%M:%S.%fZ').timestamp()
raised = [e for e in E if e['event'] == 'fault_raised' and e.get('fault') == 6][0]
m = re.fullmatch(r'3 crashes in (\d+) s \(SIGSEGV x3\)', raised['detail'])
assert m, raised['detail']
ex = [e for e in E if e['event'] == 'worker_exited'][:3]
span = t(ex[2]) - t(ex[0])
assert abs(int(m.group(1)) - span) <= 1, (raised['detail'], span)
assert raised['time'] == ex[2]['time'] or abs(t(raised) - t(ex[2])) < 0.5, (raised, ex[2])
print('   ', raised['detail'])
EOF
check "the status detail follows the count: '$KILLS crashes in S s (SIGSEGV x$KILLS)'" \
	re_match "$KILLS crashes in [0-9]+ s \\(SIGSEGV x$KILLS\\)" "${f6%|*}"
check "not marked for intervention (InterventionAfter 1h)" test "${f6##*|}" = False

# the backoff of slot 1, from ampdaemon.log
grep -E "worker 1 \(pid [0-9]+\) crashed: .*restarting in [0-9.]+ s" "$DL_LOG" |
	sed -E 's/.*restarting in ([0-9.]+) s.*/\1/' >"$T_TMP/delays"
echo "    slot 1 delays: $(tr '\n' ' ' <"$T_TMP/delays")"
check "one 'restarting in' line per kill" test "$(wc -l <"$T_TMP/delays")" = "$KILLS"
check "the first delay is RestartDelayMin" test "$(head -1 "$T_TMP/delays")" = "$DMIN"
check "the delays double, never decrease, and stop at RestartDelayMax" \
	awk -v max="$DMAX" 'NR > 1 { want = 2 * prev; if (want > max) want = max
		if ($1 + 0 != want) { print "line " NR ": " $1 " after " prev; bad = 1 } }
		$1 + 0 > max { bad = 1 } { prev = $1 + 0 } END { exit bad }' "$T_TMP/delays"
check "the cap was reached and held (the last three delays are $DMAX)" \
	test "$(tail -3 "$T_TMP/delays" | sort -u)" = "$DMAX"
# each restart really waited its delay: worker_exited -> next worker_started
check "each restart of slot 1 came no sooner than its delay" python3 - "$DL_STATE/events.jsonl" "$T_TMP/delays" <<'EOF'
import json, sys
from datetime import datetime
E = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
D = [float(x) for x in open(sys.argv[2])]
t = lambda e: datetime.strptime(e['time'], '%Y-%m-%dT%H:%M:%S.%fZ').timestamp()
S = [e for e in E if e.get('worker') == 1 and e['event'] in ('worker_exited', 'worker_started')]
pairs = [(a, b) for a, b in zip(S, S[1:]) if a['event'] == 'worker_exited' and b['event'] == 'worker_started']
assert len(pairs) == len(D), (len(pairs), len(D))
for (a, b), d in zip(pairs, D):
    # ms timestamps, and libev measures from the loop's time: a little slack
    assert t(b) - t(a) >= 0.9 * d - 0.02, (a, b, d)
EOF

# the kills stop: StableAfter (5 s) later fault 6 clears
check "fault 6 cleared after StableAfter (fault_cleared event)" \
	ev_wait "any(e['event'] == 'fault_cleared' and e.get('fault') == 6 for e in E)" 20
check "the clear says why ('no crash for 5 s')" ev_true "[e['detail'] for e in E if e['event'] == 'fault_cleared' and e.get('fault') == 6] == ['no crash for 5 s']"
check "the clear came no sooner than StableAfter after the last crash" python3 - "$DL_STATE/events.jsonl" <<'EOF'
import json, sys
from datetime import datetime
E = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
t = lambda e: datetime.strptime(e['time'], '%Y-%m-%dT%H:%M:%S.%fZ').timestamp()
last = [e for e in E if e['event'] == 'worker_exited'][-1]
clr = [e for e in E if e['event'] == 'fault_cleared' and e.get('fault') == 6][0]
assert t(clr) - t(last) >= 4.9, (last, clr)
EOF
check "status: fault 6 no longer raised" test "$(dl_fault_raised 6)" = False
check "no intervention_required (InterventionAfter 1h)" ev_true "not any(e['event'] == 'intervention_required' for e in E)"
cpu1=$(t_cpu)
echo "    ampdaemon CPU time: $cpu0 s at READY, $cpu1 s after the kills and the clear"
check "no busy loop: ampdaemon used < 2 s of CPU over the test" lt "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { print b - a }')" 2
check "both workers READY" dl_wait_ready 2
expect_status 0 "scanning goes on: a clean file is OK" dl_ctl scan files/clean.txt

# ==== 4: InterventionAfter, and a suspect file refused ===================================
echo "# test 4: InterventionAfter, suspects skipped"
t_fresh
dl_config CreateScanUser yes CrashThreshold 3 CrashWindow 60s StableAfter 1h \
	InterventionAfter 3s PoisonThreshold 3 ScanTimeout 20s ReadyTimeout 10s
check "ampdaemon starts" dl_start
check "both workers READY" dl_wait_ready 2
# the crash file crashes a worker, is retried once on the other, crashes it
# too: 2 crashes < PoisonThreshold 3, a suspect, not poison
t_scan files/crash.txt
check "a crash file: answered with an error (exit 2)" test "$T_RC" = 2
check "saying the scan service crashed" grep -q "crash.txt: the scan service crashed while scanning this file ERROR" "$T_TMP/out"
check "it crashed both workers (2 worker_exited naming it, different slots)" \
	ev_true "sorted(e['worker'] for e in E if e['event'] == 'worker_exited' and any(f.endswith('/files/crash.txt') for f in e.get('files', []))) == [1, 2]"
check "not poison yet (PoisonThreshold 3)" ev_true "not any(e['event'] == 'poison_file' for e in E)"
check "status lists it as a suspect with 2 crashes" test "$(dl_status_py "[(p['crashes'], p['poison']) for p in s['poison'] if p['path'].endswith('/files/crash.txt')]")" = "[(2, False)]"
check "fault 6 not raised yet (2 crashes < 3)" test "$(dl_fault_raised 6)" = False
check "both workers READY again" dl_wait_ready 2
kill -SEGV "$(t_slot_pid 1)"
check "a third crash raises fault 6" dl_wait "any(f['id'] == 6 for f in s['faults'])" 10
check "its detail: 3 crashes, SIGSEGV x3" \
	re_match "3 crashes in [0-9]+ s \\(SIGSEGV x3\\)" \
	"$(dl_status_py "[f['detail'] for f in s['faults'] if f['id'] == 6][0]")"
check "intervention_required after InterventionAfter" \
	ev_wait "any(e['event'] == 'intervention_required' and e.get('fault') == 6 for e in E)" 20
check "status: fault 6 marked for intervention" dl_wait "[f['intervention'] for f in s['faults'] if f['id'] == 6] == [True]" 5
check "the log says so" grep -q "fault 6 still raised after 3 s: needs intervention" "$DL_LOG"
check "both workers READY" dl_wait_ready 2
r0=$(t_restarts)
x0=$(evq "sum(e['event'] == 'worker_exited' for e in E)")
t_scan files/crash.txt
check "the suspect is refused (exit 2)" test "$T_RC" = 2
check "with an error naming fault 6" grep -Eq "crash.txt: .*fault 6.* ERROR" "$T_TMP/out"
check "at once (< 2 s)" lt "$T_SECS" 2
sleep 0.5
check "without crashing a worker (restarts stay $r0)" test "$(t_restarts)" = "$r0"
check "and no worker_exited event" test "$(evq "sum(e['event'] == 'worker_exited' for e in E)")" = "$x0"
expect_status 0 "a clean file still scans OK" dl_ctl scan files/clean.txt
expect_status 1 "and a detection is still found" dl_ctl scan files/eicar.txt
check "intervention_required only once" ev_true "sum(e['event'] == 'intervention_required' for e in E) == 1"
check "fault_raised for fault 6 only once" ev_true "sum(e['event'] == 'fault_raised' and e.get('fault') == 6 for e in E) == 1"

# ==== 5: a poison file =========================================================================
echo "# test 5: poison files, ScanTimeout"
t_fresh
dl_config CreateScanUser yes CrashThreshold 100 CrashWindow 60s StableAfter 1h \
	ScanTimeout 1s ReadyTimeout 10s
check "ampdaemon starts" dl_start
check "both workers READY" dl_wait_ready 2
t_scan files/crash.txt
check "the crash file: an error (exit 2)" test "$T_RC" = 2
check "it is poison after 2 crashes (PoisonThreshold 2)" grep -q "crash.txt: poison file: the scanner crashed 2 times on it; it is not scanned again until it changes ERROR" "$T_TMP/out"
check "the first crash was retried on the other worker" \
	ev_true "sorted(e['worker'] for e in E if e['event'] == 'worker_exited' and any(f.endswith('/files/crash.txt') for f in e.get('files', []))) == [1, 2]"
check "both crashes: kind crash, SIGSEGV" \
	ev_true "all(e['kind'] == 'crash' and e['signal'] == 'SIGSEGV' for e in E if e['event'] == 'worker_exited')"
ev_true "all(e['kind'] == 'crash' and e['signal'] == 'SIGSEGV' for e in E if e['event'] == 'worker_exited')" ||
	echo "    exits: $(evq "[(e.get('pid'), e.get('worker'), e.get('kind'), e.get('signal'), e.get('retired')) for e in E if e['event'] == 'worker_exited']")"
check "the log says it was retried" grep -q "crash.txt: in flight when worker [12] crashed (1 crash(es)); retrying once on another worker" "$DL_LOG"
check "one poison_file event, with path, identity, hash and count" \
	ev_true "[(e['path'].endswith('/files/crash.txt'), e['crashes'], len(e['sha256']), e['size']) for e in E if e['event'] == 'poison_file'] == [(True, 2, 64, $(stat -c %s files/crash.txt))]"
check "the event's SHA-256 is the file's" ev_true "[e['sha256'] for e in E if e['event'] == 'poison_file'] == ['$(sha256sum files/crash.txt | cut -d' ' -f1)']"
check "state/poison.state lists it" grep -q "$T_TMP/files/crash.txt" "$DL_STATE/poison.state"
check "status lists it as poison" test "$(dl_status_py "[(p['crashes'], p['poison']) for p in s['poison'] if p['path'].endswith('/files/crash.txt')]")" = "[(2, True)]"
check "both workers READY again" dl_wait_ready 2
r0=$(t_restarts)
x0=$(evq "sum(e['event'] == 'worker_exited' for e in E)")
t_scan files/crash.txt
check "scanned again: refused (exit 2)" test "$T_RC" = 2
check "with the poison error" grep -q "crash.txt: poison file: the scanner crashed 2 times on it" "$T_TMP/out"
check "at once (< 2 s)" lt "$T_SECS" 2
expect_status 0 "a clean file right after is OK" dl_ctl scan files/clean.txt
check "the clean file's verdict" grep -q "files/clean.txt: OK" "$T_TMP/out"
expect_status 1 "a detection right after is found" dl_ctl scan files/eicar.txt
sleep 0.3
check "no worker crashed again (restarts stay $r0)" test "$(t_restarts)" = "$r0"
check "and no new worker_exited event" test "$(evq "sum(e['event'] == 'worker_exited' for e in E)")" = "$x0"
# poison and other files in one request
expect_status 2 "poison + clean in one request: exit 2" dl_ctl scan files/crash.txt files/clean.txt
check "the poison file refused, the other scanned" bash -c "grep -q 'crash.txt: poison file' '$T_TMP/out' && grep -q 'clean.txt: OK' '$T_TMP/out'"
check "still no worker crashed" test "$(t_restarts)" = "$r0"
# a fresh copy (same bytes, another file) is not refused at once: it reaches a worker
cp files/crash.txt files/crash-copy.txt
t_scan files/crash-copy.txt
check "a copy of it is not refused at once: it reaches a worker and crashes it" \
	ev_true "sum(e['event'] == 'worker_exited' and any(f.endswith('/files/crash-copy.txt') for f in e.get('files', [])) for e in E) >= 1"
check "and becomes poison in its turn" grep -q "crash-copy.txt: poison file: the scanner crashed 2 times on it" "$T_TMP/out"
# the file changed (a byte appended): handed to a worker again
check "workers READY" dl_wait_ready 2
x1=$(evq "sum(e['event'] == 'worker_exited' and any(f.endswith('/files/crash.txt') for f in e.get('files', [])) for e in E)")
echo x >>files/crash.txt
t_scan files/crash.txt
check "changed (a byte appended): it reaches a worker again (new crashes)" \
	test "$(evq "sum(e['event'] == 'worker_exited' and any(f.endswith('/files/crash.txt') for f in e.get('files', [])) for e in E)")" -gt "$x1"
check "and a new poison_file event for the new bytes" \
	ev_true "[e['size'] for e in E if e['event'] == 'poison_file' and e['path'].endswith('/files/crash.txt')] == [$(($(stat -c %s files/crash.txt) - 2)), $(stat -c %s files/crash.txt)]"
check "status lists only the new identity for it" test "$(dl_status_py "[p['size'] for p in s['poison'] if p['path'].endswith('/files/crash.txt')]")" = "[$(stat -c %s files/crash.txt)]"

# the poison list outlives a restart of ampdaemon
dl_stop
check "ampdaemon starts again on the same state" dl_start
check "workers READY" dl_wait_ready 2
r0=$(t_restarts)
t_scan files/crash-copy.txt
check "after the restart the poison file is still refused" grep -q "crash-copy.txt: poison file: the scanner crashed 2 times on it" "$T_TMP/out"
sleep 0.3
check "without reaching a worker (restarts stay $r0)" test "$(t_restarts)" = "$r0"

# 60 pipelined SCANs of a poison file the list has not confirmed since the
# restart (its ctime moved: a chmod), while another client PINGs: the hash
# runs once, off the loop; every SCAN gets the poison error, every PING its
# PONG (a generous timeout: the latency itself is tools/bench's business)
chmod 640 files/crash-copy.txt
h0=$(grep -c "crash-copy.txt: hashing it in a child" "$DL_LOG" || true)
cat >"$T_TMP/pipeline.py" <<'EOF'
import socket, sys, threading, time
sock, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
pongs, pings = [], [0]
done = threading.Event()
def pinger():
    while not done.is_set():
        c = socket.socket(socket.AF_UNIX); c.settimeout(20); c.connect(sock)
        c.sendall(b'zPING\0'); pings[0] += 1
        r = b''
        while not r.endswith(b'\0'):
            b = c.recv(100)
            if not b: break
            r += b
        c.close()
        if r == b'PONG\0': pongs.append(1)
t = threading.Thread(target=pinger); t.start()
c = socket.socket(socket.AF_UNIX); c.settimeout(60); c.connect(sock)
c.sendall(b'zIDSESSION\0' + b''.join(b'zSCAN ' + path.encode() + b'\0' for _ in range(n)))
buf = b''
while buf.count(b'\0') < n:
    b = c.recv(65536)
    if not b: break
    buf += b
c.sendall(b'zEND\0'); c.close()
time.sleep(0.2); done.set(); t.join()
replies = buf.split(b'\0')[:-1]
good = sum(b'poison file: the scanner crashed 2 times on it' in r and r.endswith(b'ERROR') for r in replies)
print(len(replies), good, pings[0], len(pongs))
EOF
read -r n_rep n_good n_ping n_pong < <(timeout 120 python3 "$T_TMP/pipeline.py" "$T_TMP/run/clamd.sock" "$T_TMP/files/crash-copy.txt" 60)
echo "    $n_rep replies, $n_good poison errors, $n_pong of $n_ping PINGs answered"
check "60 pipelined SCANs of the poison file: 60 replies" test "${n_rep:-0}" = 60
check "every one the poison error" test "${n_good:-0}" = 60
check "every PING of the other client answered" bash -c "[ '${n_ping:-0}' -ge 1 ] && [ '${n_ping:-0}' = '${n_pong:-x}' ]"
check "the file was hashed once, in a child" test "$(($(grep -c "crash-copy.txt: hashing it in a child" "$DL_LOG") - h0))" = 1
t_scan files/crash-copy.txt
check "then judged by its identity: no more hashing" test "$(($(grep -c "crash-copy.txt: hashing it in a child" "$DL_LOG") - h0))" = 1
check "still refused" grep -q "crash-copy.txt: poison file: the scanner crashed 2 times on it" "$T_TMP/out"
check "no worker reached (restarts stay $r0)" test "$(t_restarts)" = "$r0"

# ---- a hanging scan: ScanTimeout 1s ----
check "workers READY" dl_wait_ready 2
expect_status 0 "a clean file scans before the hang test" dl_ctl scan files/clean.txt
t_scan files/hang.txt
echo "    hang scan answered in $T_SECS s"
check "the hanging file: answered with an error (exit 2), the client not hanging" test "$T_RC" = 2
check "as an error line" grep -Eq "hang.txt: .+ ERROR" "$T_TMP/out"
check "no sooner than ScanTimeout (1 s)" ge "$T_SECS" 0.9
check "and well before the client's own bound (< 20 s)" lt "$T_SECS" 20
check "the worker was killed: worker_exited with scan_timeout true, kind crash, SIGKILL" \
	ev_true "any(e['event'] == 'worker_exited' and e.get('scan_timeout') is True and e['kind'] == 'crash' and e['signal'] == 'SIGKILL' and any(f.endswith('/files/hang.txt') for f in e['files']) for e in E)"
check "the log says it outlived ScanTimeout" grep -q "scan of .*hang.txt outlived ScanTimeout (1.0 s): killing it" "$DL_LOG"
check "the timeout is counted as a crash of the file (poison list)" \
	test "$(dl_status_py "[p['crashes'] >= 1 for p in s['poison'] if p['path'].endswith('/files/hang.txt')]")" = "[True]"
check "workers READY after the hang" dl_wait_ready 2
expect_status 0 "other files keep scanning" dl_ctl scan files/clean.txt

dl_stop
check "no worker left" bash -c "! pgrep -u $DL_USER >/dev/null"
finish
