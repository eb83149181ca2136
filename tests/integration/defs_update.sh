#!/usr/bin/env bash
# Definitions updates through a real ampdaemon (issue 5):
#   - the real sequence: test-1.cvd active, test-2..6.cdiff dropped into
#     incoming/ one by one (official keys), then test-6.cvd with its .sign
#     (CertsDir holding clamav-test.crt) through `ampctl update`: after each
#     step the active version is N, scans use it, and the .cld a cdiff made
#     equals test-N.cvd member for member;
#   - rejections, the active set untouched and scans answered: a tampered
#     container, a tampered cdiff, a .sign chained to an untrusted root, a
#     downgrade (and --force), a container that crashes the trial (test
#     hook), one that exhausts the trial's memory limit, not a definitions
#     file in incoming/;
#   - `ampctl reload` and RELOAD roll the workers over (new pids);
#   - a good container whose workers cannot start (the NOSTART hook):
#     fault 7, rolled back, the file quarantined with a reason file;
#   - status shows the last verdict.
#   defs_update.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
REAL=$(cd "$2/.." && pwd)/shared/testdata/real-cvd/freshclam-tests
[ -f "$REAL/test-1.cvd" ] || skip_all "../shared/testdata/real-cvd/freshclam-tests is absent"
[ -f /usr/share/clamav-testfiles/clam.exe ] || skip_all "clamav-testfiles is not installed"
dl_init "$1" "$2"
cd "$T_TMP"

rm -f defs/active/*
mkdir -p certs
cp "$REAL/clamav-test.crt" certs/
cp "$REAL/test-1.cvd" defs/active/test.cvd
mkdir -p metrics
# WorkerLaunch exec: these are the exec'd trial's cases (a crash, its memory
# limit, a set whose workers fail after activation: rolled back); with the
# loader (the default) the candidate's loader is the trial:
# pool_loader_update.sh, defs_rollover.sh
dl_config WorkerLaunch exec TrialTimeout 60s MetricsFile "$T_TMP/metrics/ampscan.prom"
dl_start || { not_ok "ampdaemon starts"; finish; exit 1; }
check "workers READY on test-1" dl_wait_ready 2

active_version() {  # the version of the active test container's header
	dl_status_py "[d['version'] for d in s['definitions']['databases'] if d['name'] == 'test'][0]"
}
members_equal() {  # members_equal A B: same members, same bytes
	local a=$T_TMP/cmp.a b=$T_TMP/cmp.b
	rm -rf "$a" "$b"; mkdir -p "$a" "$b"
	"$CVDTOOL" unpack --allow-unsigned "$1" -C "$a" >/dev/null 2>&1 &&
	"$CVDTOOL" unpack --no-sign "$2" -C "$b" >/dev/null 2>&1 &&
	diff -r "$a" "$b" >/dev/null
}
scan_says() {  # scan_says FILE REGEX: ampctl scan prints a line matching
	dl_ctl scan "$1" 2>&1 | grep -qE "$2"
}
n_events() { evq "sum(1 for e in E if e['event'] == '$1')"; }

# ---- the real sequence ------------------------------------------------------------
check "test-1: clam.exe is not detected yet" scan_says /usr/share/clamav-testfiles/clam.exe ': OK$'
for n in 2 3 4 5 6; do
	before=$(n_events definitions_activated)
	# test-4 travels with its .cdiff.sign (checked against CertsDir), the others
	# are judged by their PSS trailer
	[ "$n" = 4 ] && cp "$REAL/test-4.cdiff.sign" defs/incoming/test-4.cdiff.sign
	cp "$REAL/test-$n.cdiff" defs/incoming/.tmp && mv defs/incoming/.tmp "defs/incoming/test-$n.cdiff"
	check "test-$n.cdiff activated through incoming/" ev_wait "sum(1 for e in E if e['event'] == 'definitions_activated') > $before" 30
	check "test-$n.cdiff: the workers roll over to version $n" dl_wait "[d['version'] for d in s['definitions']['databases'] if d['name'] == 'test'] == [$n] and s['update']['in_progress'] == False" 30
	check "test-$n.cdiff: active/ holds test.cld version $n, no test.cvd" \
		test -f defs/active/test.cld -a ! -e defs/active/test.cvd
	check "test-$n.cdiff: the .cld equals test-$n.cvd member for member" \
		members_equal defs/active/test.cld "$REAL/test-$n.cvd"
	check "test-$n.cdiff: consumed from incoming/" test ! -e "defs/incoming/test-$n.cdiff"
	check "test-$n.cdiff: the retired workers' exits name the set they ran (test:$((n - 1)))" \
		ev_wait "sum(1 for e in E if e['event'] == 'worker_exited' and e.get('kind') == 'stopped' and e.get('definitions') == 'test:$((n - 1))') >= 2" 10
	check "test-$n.cdiff: previous/ holds the set before it" \
		test -n "$(ls defs/previous/ 2>/dev/null)"
done
check "test-6: EICAR detected" scan_says files/eicar.txt 'FOUND$'
check "test-6: clam.exe detected" scan_says /usr/share/clamav-testfiles/clam.exe 'FOUND$'
check "nothing left in staging/" test -z "$(ls -A defs/staging)"
check "test-4.cdiff.sign was consumed with it" test ! -e defs/incoming/test-4.cdiff.sign
check "ampctl status (text) shows the last verdict" bash -c "timeout 10 '$AMPCTL' --socket '$DL_CTL' status | grep -q 'last: .*test-6.cdiff: activated'"

cp "$REAL/test-6.cvd" "$REAL/test-6.cvd.sign" "$T_TMP/"
expect_status 0 "ampctl update test-6.cvd test-6.cvd.sign: replaces the .cld of the same version" \
	dl_ctl update "$T_TMP/test-6.cvd" "$T_TMP/test-6.cvd.sign"
check "the verdict names the activation" grep -q "activated test.cvd" "$T_TMP/out"
check "active/ holds test.cvd and its .sign, the .cld is gone" \
	test -f defs/active/test.cvd -a -f defs/active/test.cvd.sign -a ! -e defs/active/test.cld
check "active test.cvd is byte for byte test-6.cvd" cmp -s defs/active/test.cvd "$REAL/test-6.cvd"
check "version 6 with the .cvd" dl_wait "[d['version'] for d in s['definitions']['databases'] if d['name'] == 'test'] == [6] and [d['kind'] for d in s['definitions']['databases'] if d['name'] == 'test'] == ['cvd']" 20
check "status shows the last verdict" dl_wait "s['update']['last']['ok'] == True and 'test-6.cvd' in s['update']['last']['file']" 5
# ---- the metrics file (Prometheus text format) --------------------------------------
prom_ok() {  # prom_ok PY-CONDITION: on m, {name{labels}: value} of the file, valid format
	python3 - "$T_TMP/metrics/ampscan.prom" "$1" <<'PY'
import re, sys
m, types = {}, {}
line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (-?[0-9.eE+]+)$')
for line in open(sys.argv[1]):
    line = line.rstrip('\n')
    if line.startswith('# HELP ') or line.startswith('# TYPE '):
        if line.startswith('# TYPE '):
            types[line.split()[2]] = line.split()[3]
        continue
    g = line_re.match(line)
    if not g or g.group(1).split('{')[0] not in types:
        print('bad line: %r' % line); sys.exit(1)
    m[g.group(1) + (g.group(2) or '')] = float(g.group(3))
sys.exit(0 if eval(sys.argv[2]) else 1)
PY
}
prom_wait() {  # prom_wait PY-CONDITION: within 10 s (the file is rewritten 5 s after a change)
	local i
	for i in $(seq 100); do prom_ok "$1" >/dev/null && return 0; sleep 0.1; done
	prom_ok "$1"
}
check "metrics: the file parses, definitions test version 6, scans and detections counted" \
	prom_wait "m.get('ampscan_definitions_version{db=\"test\"}') == 6 and m['ampscan_scans_total'] > 0 and m['ampscan_detections_total'] > 0 and m['ampscan_last_update_success'] == 1 and m['ampscan_workers_ready'] == 2 and m['ampscan_up'] == 1"
check "metrics: fault 7 not active, a build time for test" prom_ok "m['ampscan_fault_active{id=\"7\",name=\"Failed to Start Scan Service\"}'] == 0 and m['ampscan_definitions_build_time_seconds{db=\"test\"}'] > 1600000000"

# Engine clamav builds no builtin index (issue 16): not at start, not in
# the updates' trials (exec'd here), not at a restart
no_index() {
	! ls defs/active defs/previous | grep -q ampscan.idx &&
		! grep -qE 'definitions index: (built|fresh)|trial: index written' "$DL_LOG"
}
check "Engine clamav: no index was built, at start or in the updates" no_index
before=$(grep -c 'definitions checked: set ' "$DL_LOG")
dl_stop
dl_start
checked_line() {  # the check of the restart named the set, built nothing
	local i
	for i in $(seq 100); do
		[ "$(grep -c 'definitions checked: set ' "$DL_LOG")" -gt "$before" ] && break
		sleep 0.1
	done
	grep -q 'definitions checked: set .* (Engine clamav: no index)' "$DL_LOG" && no_index
}
check "restarted: the check named the set and built no index" checked_line
check "restarted: workers READY" dl_wait_ready 2 30

# ---- rejections ------------------------------------------------------------------
snapshot() { (cd defs/active && sha256sum test.cvd test.cvd.sign) >"$T_TMP/snap"; }
unchanged() { (cd defs/active && sha256sum -c --quiet "$T_TMP/snap") >/dev/null 2>&1; }
rejected() {  # rejected WHAT REGEX FILE [SIGN] [--force]: exit 1, reason, set untouched, scans go on
	local what=$1 re=$2; shift 2
	expect_status 1 "$what: rejected" dl_ctl update "$@"
	check "$what: the reason says why" grep -qE "$re" "$T_TMP/err"
	check "$what: active set untouched" unchanged
	check "$what: scans still answered" scan_says files/eicar.txt 'FOUND$'
	check "$what: a definitions_rejected event" ev_wait "E[-1]['event'] in ('definitions_rejected', 'worker_started', 'worker_ready', 'worker_exited') and any(e['event'] == 'definitions_rejected' and '$(basename "$1")' in e['file'] for e in E)" 5
}
snapshot
cp "$REAL/test-6.cvd" "$T_TMP/tampered-7.cvd"
flip_byte "$T_TMP/tampered-7.cvd" 3000
rejected "a tampered container" "MD5|mismatch" "$T_TMP/tampered-7.cvd"
check "a tampered container: kept in quarantine/ with a reason file" \
	bash -c "ls defs/quarantine/ | grep -q '^tampered-7.cvd\..*\.reason$'"
check "a tampered container: its quarantined copy is 0600 root" \
	test "$(stat -c '%a %U' "$(ls defs/quarantine/tampered-7.cvd.* | grep -v '\.reason$' | head -1)")" = "600 root"

cp "$REAL/test-5.cdiff" "$T_TMP/test-7.cdiff"
flip_byte "$T_TMP/test-7.cdiff" 200
rejected "a tampered cdiff" "." "$T_TMP/test-7.cdiff"

cp "$REAL/test-6.cvd" "$T_TMP/untrusted.cvd"
cp "$REAL/test-6.cvd.sign" "$T_TMP/untrusted.cvd.sign"
rm -f certs/*; cp "$REAL/clamav-prod.crt" certs/
dl_stop; dl_start
check "restarted with the production root only (the active .sign no longer verifies: deleted at start)" dl_wait_ready 2 30
# the active test.cvd was judged at start: with the production root its
# .sign fails, so it was deleted; put a plain container back to go on
rm -f certs/*; cp "$REAL/clamav-test.crt" certs/
dl_stop
rm -f defs/active/* ; cp "$REAL/test-6.cvd" defs/active/test.cvd
mkdir -p "$T_TMP/prodcerts"; cp "$REAL/clamav-prod.crt" "$T_TMP/prodcerts/"
dl_config WorkerLaunch exec TrialTimeout 60s MetricsFile "$T_TMP/metrics/ampscan.prom" CertsDir "$T_TMP/prodcerts"
dl_start
check "restarted on test-6.cvd, production root as CertsDir" dl_wait_ready 2 30
snapshot() { (cd defs/active && sha256sum test.cvd) >"$T_TMP/snap"; }
snapshot
rejected "a .sign chained to an untrusted root" "sign|certificate|verify" "$T_TMP/untrusted.cvd" "$T_TMP/untrusted.cvd.sign"
dl_stop
dl_config WorkerLaunch exec TrialTimeout 60s MetricsFile "$T_TMP/metrics/ampscan.prom"
dl_start
check "restarted with the test root" dl_wait_ready 2 30
snapshot

cp "$REAL/test-5.cvd" "$T_TMP/test-5.cvd"
rejected "a downgrade (test-5 over test-6)" "not newer" "$T_TMP/test-5.cvd"
cp "$REAL/test-5.cvd" "$T_TMP/test-5b.cvd"
expect_status 0 "a downgrade with --force: activated" dl_ctl update --force "$T_TMP/test-5b.cvd"
check "--force: logged and the event says forced" ev_true "any(e['event'] == 'definitions_activated' and e.get('forced') for e in E)"
check "--force: version 5 active" dl_wait "[d['version'] for d in s['definitions']['databases'] if d['name'] == 'test'] == [5]" 20
expect_status 0 "back to test-6" dl_ctl update "$T_TMP/test-6.cvd"
snapshot

# a container of our own key that the trial crashes on (test builds' hook)
mkdir -p "$T_TMP/crash"
printf 'AMPSCAN-TEST-TRIALCRASH-MARKER' | od -An -tx1 | tr -d ' \n' >"$T_TMP/crash.hex"
echo "Test.TrialCrash:0:*:$(cat "$T_TMP/crash.hex")" >"$T_TMP/crash/crash.ndb"
"$CVDTOOL" build "$T_TMP/crash.cvd" --from "$T_TMP/crash" --key keys/k.key --version 3 >/dev/null
rejected "a container that crashes the trial" "trial.*(SIGSEGV|SIGABRT)" "$T_TMP/crash.cvd"
check "the trial crash left no process" bash -c "! pgrep -u $DL_USER -f -- --trial"

# while an update runs, status says so: a trial that takes 3 s (test hook)
mkdir -p "$T_TMP/slow"
{
	echo "Test.TrialSlow:0:*:$(printf 'AMPSCAN-TEST-TRIALSLOW-MARKER' | od -An -tx1 | tr -d ' \n')"
	cat "$T_TMP/crash/crash.ndb"
} >"$T_TMP/slow/slow.ndb"
"$CVDTOOL" build "$T_TMP/slow.cvd" --from "$T_TMP/slow" --key keys/k.key --version 3 >/dev/null
dl_ctl update "$T_TMP/slow.cvd" >"$T_TMP/slow.out" 2>&1 &
slow_pid=$!
check "status shows the update in progress at its trial step" \
	dl_wait "s['update']['in_progress'] and s['update']['step'] == 'trial' and s['update']['file'].endswith('/slow.cvd')" 10
check "the text status says IN PROGRESS" bash -c "timeout 10 '$AMPCTL' --socket '$DL_CTL' status | grep -q 'definitions update: IN PROGRESS: .*slow.cvd, trial'"
check "scans answered meanwhile" scan_says files/eicar.txt 'FOUND$'
wait "$slow_pid"
check "then rejected (it also crashes the trial)" grep -q "rejected: .*trial" "$T_TMP/slow.out"
check "and status says no update in progress, the last one rejected" \
	dl_wait "not s['update']['in_progress'] and s['update']['last']['ok'] == False" 5

# one that exhausts the trial's memory limit: many body signatures
if [ -n "${AMPSCAN_SANITIZED:-}" ] || ldd "$AMPDAEMON" | grep -q libasan; then
	echo "ok   - SKIPPED: the memory-limit rejection (RLIMIT_AS does not mix with ASan)"
else
	mkdir -p "$T_TMP/big"
	python3 -c "
import random
r = random.Random(5)
with open('$T_TMP/big/big.ndb', 'w') as f:
    for i in range(60000):
        f.write('Test.Big-%d:0:*:%s\n' % (i, ''.join('%02x' % r.randrange(256) for _ in range(64))))
"
	"$CVDTOOL" build "$T_TMP/big.cvd" --from "$T_TMP/big" --key keys/k.key --version 4 >/dev/null
	dl_stop; dl_config WorkerLaunch exec TrialTimeout 60s TrialMemoryLimit 64M MetricsFile "$T_TMP/metrics/ampscan.prom"; dl_start
	check "restarted with TrialMemoryLimit 64M" dl_wait_ready 2 30
	rejected "a container that exhausts the trial's memory limit" "exhausted its limits|TrialMemoryLimit" "$T_TMP/big.cvd"
	dl_stop; dl_config WorkerLaunch exec TrialTimeout 60s MetricsFile "$T_TMP/metrics/ampscan.prom"; dl_start
	check "restarted" dl_wait_ready 2 30
fi

# a stray file, 0644, hard-linked elsewhere too (someone else's name for it)
echo "not a container" >"$T_TMP/README.keep"
chmod 644 "$T_TMP/README.keep"
ln "$T_TMP/README.keep" defs/incoming/.tmp && mv defs/incoming/.tmp defs/incoming/README.txt
check "a stray file in incoming/: rejected, moved out" ev_wait "any(e['event'] == 'definitions_rejected' and 'README.txt' in e['file'] for e in E)" 10
check "a stray file in incoming/: gone from incoming/" bash -c "for i in \$(seq 50); do [ ! -e defs/incoming/README.txt ] && exit 0; sleep 0.1; done; exit 1"
qr=$(ls defs/quarantine/README.txt.* 2>/dev/null | grep -v '\.reason$' | head -1)
check "its quarantined copy ($qr) is 0600 root, a file of its own" \
	test "$(stat -c '%a %U %h' "${qr:-/nonexistent}")" = "600 root 1"
check "with its bytes" cmp -s "${qr:-/nonexistent}" "$T_TMP/README.keep"
check "the other name for it is left as it was (0644)" test "$(stat -c '%a' "$T_TMP/README.keep")" = 644

# ---- reload, RELOAD -------------------------------------------------------------
pids=$(dl_worker_pids)
expect_status 0 "ampctl reload: answered once the workers rolled over" dl_ctl reload
new=$(dl_worker_pids)
check "ampctl reload: new workers (pids $pids -> $new)" bash -c "[ -n '$new' ] && for p in $pids; do case ' $new ' in *\" \$p \"*) exit 1;; esac; done"
check "RELOAD on the scan socket answers RELOADING" bash -c "printf 'zRELOAD\0' | timeout 5 python3 -c \"
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect('$T_TMP/run/clamd.sock'); s.sendall(sys.stdin.buffer.read()); print(s.recv(100))\" | grep -q RELOADING"
check "RELOAD: the workers roll over" dl_wait "all(str(w['pid']) not in '$new'.split() for w in s['workers'] if w['state'] == 'ready') and sum(w['state'] == 'ready' for w in s['workers']) == 2" 20

# ---- workers that cannot start on a good container: fault 7, rolled back -------
mkdir -p "$T_TMP/nostart"
printf 'AMPSCAN-TEST-NOSTART-MARKER' | od -An -tx1 | tr -d ' \n' >"$T_TMP/ns.hex"
echo "Test.NoStart:0:*:$(cat "$T_TMP/ns.hex")" >"$T_TMP/nostart/nostart.ndb"
"$CVDTOOL" build "$T_TMP/nostart.cvd" --from "$T_TMP/nostart" --key keys/k.key --version 5 >/dev/null
expect_status 1 "a container whose workers cannot start: answered 'rolled back'" dl_ctl update "$T_TMP/nostart.cvd"
check "the verdict says rolled back" grep -q "rolled back" "$T_TMP/err"
check "fault 7 was raised, then cleared" ev_true "any(e['event'] == 'fault_raised' and e.get('fault') == 7 for e in E) and [e for e in E if e['event'] in ('fault_raised', 'fault_cleared') and e.get('fault') == 7][-1]['event'] == 'fault_cleared'"
check "the bad file is in quarantine/ with a reason file" bash -c "ls defs/quarantine/ | grep -q '^nostart.cvd\.[0-9TZ]*\.reason$'"
check "active/ is the set before it" bash -c "[ ! -e defs/active/nostart.cvd ] && cmp -s defs/active/test.cvd '$REAL/test-6.cvd'"
check "workers READY on the old set" dl_wait "sum(w['state'] == 'ready' for w in s['workers']) == 2 and 'nostart' not in [d['name'] for d in s['definitions']['databases']]" 20
check "scans go on" scan_says files/eicar.txt 'FOUND$'
check "no process of the scan user beyond the 2 workers" bash -c "[ \$(pgrep -u $DL_USER | wc -l) -le 2 ]"

# ---- the first install: no definitions at all, then ampctl update --------------
dl_stop
rm -rf defs/active/* defs/previous/*
dl_start
check "no definitions: fault 7" dl_wait "any(f['id'] == 7 for f in s['faults'])" 20
expect_status 0 "ampctl update into an empty active/: activated" dl_ctl update "$T_TMP/test-6.cvd" "$T_TMP/test-6.cvd.sign"
check "workers READY on it at once (not at the next retry of the check)" dl_wait "sum(w['state'] == 'ready' for w in s['workers']) == 2" 10
check "fault 7 cleared" dl_wait "not any(f['id'] == 7 for f in s['faults'])" 10
check "scans answered" scan_says files/eicar.txt 'FOUND$'
check "metrics: a crash counted by signal" bash -c "kill -SEGV \$(timeout 10 '$AMPCTL' --socket '$DL_CTL' status --json | python3 -c 'import json,sys; print([w[\"pid\"] for w in json.load(sys.stdin)[\"workers\"] if w[\"pid\"] > 0][0])')"
check "metrics: ampscan_worker_crashes_total{signal=SIGSEGV} 1" prom_wait "m.get('ampscan_worker_crashes_total{signal=\"SIGSEGV\"}') == 1"

dl_stop
check "metrics: ampscan_up 0 once stopped" prom_ok "m['ampscan_up'] == 0"
finish
