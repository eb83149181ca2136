#!/usr/bin/env bash
# Fault injection and soak (issue 8): the state disk full.  DefinitionsDir
# and StateDir are each a small tmpfs of their own (LogDir stays on an
# ordinary directory: ampdaemon.log is where a full disk is reported), each
# filled with a filler file and emptied again independently:
#   a. DefinitionsDir full during an update (the staging copy fails):
#      `ampctl update` of a good container is rejected naming ENOSPC,
#      active/ byte-identical, staging/ empty, nothing quarantined, scans
#      answered; with room again the same update activates.
#   b. StateDir full when the activation journal must be written: the
#      update fails cleanly (no journal, active/ untouched, staging/
#      emptied, scans answered on the old set, no fault); the same with
#      room for the journal's first write but not its second (step
#      "active"): the journal is withdrawn, nothing changed.  With room
#      again a restart finds the old set complete and no journal, and the
#      retry activates.
#   c. StateDir full during event logging: workers killed (SIGKILL: exits,
#      starts, fault 6) and a reload while events.jsonl and exits.jsonl
#      cannot grow: ampdaemon runs on and serves, logs the errors, keeps the
#      events and the exit records; with room again they are written
#      without any new event, in order (exits.jsonl then holds every exit
#      of events.jsonl since the fill, pid for pid); faults.state is saved
#      again (fault 6); every line of events.jsonl and exits.jsonl is JSON;
#      status and an offline diag read the files.  Then stopped while the
#      disk is full: exit 0, the lost events and exits said in the log; a
#      restart with room is clean.
#   soak_diskfull.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
dl_init "$1" "$2"
cd "$T_TMP"

PAGE=$(getconf PAGESIZE)
MOUNTS=()
# the mounts go before the directory: kill ampdaemon (its workers die
# with it), then unmount, even when a check failed or the test was killed
t_unmount() {
	local p m
	t_kill_children 9 "${DL_DAEMON_PIDS[@]}"
	for p in "${DL_DAEMON_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	if [ -n "${DL_KEEP:-}" ]; then
		cp -a "$T_TMP" "$DL_KEEP/" 2>/dev/null
		DL_KEEP=
	fi
	for m in "${MOUNTS[@]}"; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null ||
			echo "soak_diskfull: cannot unmount $m" >&2
	done
}
trap 't_unmount; dl_cleanup' EXIT

# mount_small DIR SIZE: a tmpfs of SIZE on DIR (what DIR held is kept)
mount_small() {
	local dir=$1 size=$2
	mkdir -p "$dir" "$dir.orig"
	cp -a "$dir/." "$dir.orig/"
	if ! mount -t tmpfs -o "size=$size,mode=0755" tmpfs "$dir" 2>"$T_TMP/mount.err"; then
		skip_all "cannot mount a tmpfs here ($(tr '\n' ' ' <"$T_TMP/mount.err")): this test needs mount -t tmpfs (root in a namespace that allows it)"
	fi
	MOUNTS+=("$dir")
	cp -a "$dir.orig/." "$dir/"
	rm -rf "$dir.orig"
}
avail() { df -B1 --output=avail "$1" | tail -1 | tr -d ' '; }
# fill DIR: no page left on its tmpfs (a filler grown until ENOSPC)
fill() {
	dd if=/dev/zero of="$1/.fill" bs="$PAGE" 2>/dev/null
	[ "$(avail "$1")" = 0 ]
}
# leave_pages DIR N: exactly N free pages (after fill)
leave_pages() {
	truncate -s "-$(($2 * PAGE))" "$1/.fill" && [ "$(avail "$1")" = $(($2 * PAGE)) ]
}
unfill() { rm -f "$1/.fill"; }

mount_small "$T_TMP/defs" 8m
mount_small "$T_TMP/state" 4m
echo "# DefinitionsDir and StateDir: tmpfs of 8 MiB and 4 MiB; LogDir $T_TMP/log"

dl_config TrialTimeout 60s CrashThreshold 3 CrashWindow 300s StableAfter 1h \
	InterventionAfter 1h
check "ampdaemon starts" dl_start
check "2 workers READY" dl_wait_ready 2 30

scan_says() { dl_ctl scan "$1" 2>&1 | grep -qE "$2"; }
demo_version() { dl_status_py "[d['version'] for d in s['definitions']['databases'] if d['name'] == 'demo']"; }
ready_on() {  # ready_on VERSION: both workers READY, the set of that version
	dl_wait "sum(w['state'] == 'ready' for w in s['workers']) == 2 and [d['version'] for d in s['definitions']['databases'] if d['name'] == 'demo'] == [$1]" "${2:-30}"
}
snapshot() { (cd defs/active && sha256sum -- * | sort -k2) >"$T_TMP/snap"; }
unchanged() { diff -q <(cd defs/active && sha256sum -- * | sort -k2) "$T_TMP/snap" >/dev/null; }
staging_empty() {  # within 10 s (a failed activation's set goes with the next check)
	local i
	for i in $(seq 100); do
		[ -z "$(ls -A defs/staging)" ] && return 0
		sleep 0.1
	done
	return 1
}
no_journal() { [ -z "$(ls -A state | grep -F activation.journal)" ]; }
# json_lines FILE: every line a JSON object, the file ends with a newline
json_lines() {
	python3 - "$1" <<'EOF'
import json, sys
data = open(sys.argv[1], 'rb').read()
assert data == b'' or data.endswith(b'\n'), 'the last line is not ended'
for i, l in enumerate(data.split(b'\n')[:-1], 1):
    try:
        assert isinstance(json.loads(l), dict)
    except Exception as e:
        sys.exit('%s line %d: %s: %r' % (sys.argv[1], i, e, l[:200]))
print('    %s: %d lines, every one JSON' % (sys.argv[1].rsplit('/', 1)[-1], data.count(b'\n')))
EOF
}
fault_on() { [ "$(dl_fault_raised "$1")" = True ]; }

# the demo set, newer: NAME.info names the database after the file
mkdir -p "$T_TMP/u11" "$T_TMP/u12"
dl_build_cvd "$T_TMP/u11/demo.cvd" 11
dl_build_cvd "$T_TMP/u12/demo.cvd" 12
check "scans answered before" scan_says files/eicar.txt 'FOUND$'

# ==== a. DefinitionsDir full during an update =====================================
echo "# a. DefinitionsDir full: the staging copy of an update fails"
snapshot
check "a: DefinitionsDir filled (no page left)" fill defs
expect_status 1 "a: ampctl update u11/demo.cvd: rejected" dl_ctl update "$T_TMP/u11/demo.cvd"
echo "    $(cat "$T_TMP/err")"
check "a: the refusal names ENOSPC and says it is not the file's fault" grep -q "not installed: .*No space left on device (not the file's fault" "$T_TMP/err"
check "a: active/ byte-identical" unchanged
check "a: nothing left in staging/" staging_empty
check "a: nothing quarantined (the file is not at fault)" test -z "$(ls -A defs/quarantine)"
check "a: a definitions_rejected event with the reason" \
	ev_wait "any(e['event'] == 'definitions_rejected' and 'u11/demo.cvd' in e['file'] and 'No space left' in e['reason'] for e in E)" 5
check "a: scans answered while DefinitionsDir is full" scan_says files/eicar.txt 'FOUND$'
check "a: still version 10 on both workers" ready_on 10 5
check "a: status says the last update failed" dl_wait "s['update']['last']['ok'] == False and 'No space left' in s['update']['last']['verdict']" 5
unfill defs
expect_status 0 "a: with room again, the same update activates" dl_ctl update "$T_TMP/u11/demo.cvd"
check "a: workers READY on version 11" ready_on 11
check "a: nothing left in staging/" staging_empty
check "a: no journal left" no_journal

# ==== b. StateDir full when the activation journal must be written ===============
echo "# b. StateDir full: the activation journal cannot be written"
snapshot
check "b: StateDir filled (no page left)" fill state
expect_status 1 "b: ampctl update u12/demo.cvd: fails" dl_ctl update "$T_TMP/u12/demo.cvd"
echo "    $(cat "$T_TMP/err")"
check "b: the verdict names the journal and ENOSPC" grep -q "activation failed: .*activation.journal.*No space left on device" "$T_TMP/err"
check "b: no journal (nor its temporary file) in StateDir" no_journal
check "b: active/ byte-identical" unchanged
check "b: staging/ emptied" staging_empty
check "b: scans answered on the old set" scan_says files/eicar.txt 'FOUND$'
check "b: both workers READY on version 11" ready_on 11 10
check "b: no fault raised" dl_wait "s['faults'] == []" 5
check "b: ampdaemon.log says why" grep -q "activation failed: .*No space left on device" "$DL_LOG"

echo "# b. room for the journal's first write (step previous), not its second (step active)"
check "b: StateDir with exactly one free page" leave_pages state 1
expect_status 1 "b: ampctl update u12/demo.cvd: fails" dl_ctl update "$T_TMP/u12/demo.cvd"
echo "    $(cat "$T_TMP/err")"
check "b: the verdict names the journal and ENOSPC" grep -q "activation failed: .*activation.journal.*No space left on device" "$T_TMP/err"
check "b: the journal was withdrawn" no_journal
check "b: active/ byte-identical" unchanged
check "b: previous/ is a complete set" test -n "$(ls defs/previous/*.cvd 2>/dev/null)"
check "b: staging/ emptied" staging_empty
check "b: both workers READY on version 11, no fault (not 7: no failed check)" \
	dl_wait "sum(w['state'] == 'ready' for w in s['workers']) == 2 and s['faults'] == [] and [d['version'] for d in s['definitions']['databases'] if d['name'] == 'demo'] == [11]" 10
check "b: scans answered" scan_says files/eicar.txt 'FOUND$'
check "b: ampdaemon still runs" kill -0 "$DL_PID"

unfill state
dl_stop
check "b: restarted with room again" dl_start
check "b: after the restart: the old set, complete, both workers READY on it" ready_on 11
check "b: active/ byte-identical to before the attempts" unchanged
check "b: no journal left, staging/ empty" bash -c "$(declare -f no_journal staging_empty); no_journal && staging_empty"
check "b: no activation_recovered event (nothing to recover)" \
	ev_true "not any(e['event'] == 'activation_recovered' for e in E)"
expect_status 0 "b: the retry activates" dl_ctl update "$T_TMP/u12/demo.cvd"
check "b: workers READY on version 12" ready_on 12
check "b: no journal left" no_journal
check "b: nothing left in staging/" staging_empty

# ==== c. StateDir full during event logging =======================================
echo "# c. StateDir full while events happen"
KILLED=()
# kill_one: SIGKILL a READY worker, wait until both are READY again
kill_one() {
	local p
	p=$(dl_status_py "[w['pid'] for w in s['workers'] if w['state'] == 'ready' and w['pid'] > 0][0]")
	[ -n "$p" ] || return 1
	kill -9 "$p" && KILLED+=("$p")
	dl_wait "sum(w['state'] == 'ready' for w in s['workers']) == 2 and $p not in [w['pid'] for w in s['workers']]" 20
}
n_err() { grep -c "$1: .*No space left on device" "$DL_LOG"; }
ev0=$(n_err events.jsonl) ex0=$(n_err exits.jsonl)
check "c: no fault raised before" dl_wait "s['faults'] == []" 5
lines0=$(wc -l <state/events.jsonl) xlines0=$(wc -l <state/exits.jsonl)
check "c: StateDir filled (no page left)" fill state
for i in 1 2 3; do
	check "c: worker killed ($i), replaced" kill_one
done
# the last pages of events.jsonl and exits.jsonl may still take some
# lines: go on until a line of each could not be written (the daemon says
# so), at most 40 kills
for i in $(seq 40); do
	[ "$(n_err events.jsonl)" -gt "$ev0" ] && [ "$(n_err exits.jsonl)" -gt "$ex0" ] && break
	kill_one || break
done
check "c: events.jsonl could not grow: ampdaemon.log says so (No space left on device)" \
	test "$(n_err events.jsonl)" -gt "$ev0"
check "c: exits.jsonl could not grow either: logged (its lines are queued too)" \
	test "$(n_err exits.jsonl)" -gt "$ex0"
lines1=$(wc -l <state/events.jsonl) xlines1=$(wc -l <state/exits.jsonl)
expect_status 0 "c: ampctl reload while full" dl_ctl reload
check "c: one more worker killed after the reload, replaced" kill_one
echo "    killed: ${KILLED[*]}"
check "c: ampdaemon runs on" kill -0 "$DL_PID"
check "c: scans answered while StateDir is full" scan_says files/eicar.txt 'FOUND$'
check "c: fault 6 raised (3 crashes)" fault_on 6
check "c: faults.state could not be saved: logged" test "$(n_err faults.state)" -gt 0
check "c: faults.state on disk is still the old one (no fault 6)" \
	bash -c "! grep -q '^fault 6 ' state/faults.state"
missing=$(evq "len([p for p in '${KILLED[*]}'.split() if not any(e['event'] == 'worker_exited' and e['pid'] == int(p) for e in E)])")
check "c: some of those exits are not in events.jsonl yet ($missing: queued)" test "$missing" -gt 0
check "c: events.jsonl is whole meanwhile" json_lines state/events.jsonl
check "c: exits.jsonl is whole meanwhile" json_lines state/exits.jsonl
check "c: once a line could not be written, none was (the later ones wait behind it)" \
	test "$(wc -l <state/events.jsonl)" = "$lines1"
K="[int(p) for p in '${KILLED[*]}'.split()]"
missing=$(evq "len([p for p in $K if not any(x['event'] == 'worker_exited' and x['pid'] == p for x in X)])")
check "c: some of those exits are not in exits.jsonl yet ($missing: queued)" test "$missing" -gt 0
check "c: exits.jsonl: once a line could not be written, none was" \
	test "$(wc -l <state/exits.jsonl)" = "$xlines1"

# room again: nothing is done to cause an event, the queued ones appear
unfill state
check "c: with room again, every exit is in events.jsonl without a new event (10 s)" \
	ev_wait "all(any(e['event'] == 'worker_exited' and e['pid'] == int(p) for e in E) for p in '${KILLED[*]}'.split())" 10
check "c: ampdaemon.log says the queued events were written" grep -q "events.jsonl: .*queued event.* written" "$DL_LOG"
check "c: the exits are in the order of the kills" \
	ev_true "[e['pid'] for e in E if e['event'] == 'worker_exited' and str(e['pid']) in '${KILLED[*]}'.split()] == [int(p) for p in '${KILLED[*]}'.split()]"
check "c: and so is everything after the fill: times never go back" \
	ev_true "all(E[i]['time'] <= E[i + 1]['time'] for i in range($lines0 - 1, len(E) - 1))"
check "c: fault 6 raised while full is in events.jsonl" \
	ev_true "any(e['event'] == 'fault_raised' and e.get('fault') == 6 for e in E[$lines0:])"
check "c: the reload's rollover is there (workers stopped by it)" \
	ev_true "any(e['event'] == 'worker_exited' and e.get('kind') == 'stopped' for e in E[$lines0:])"
check "c: no events_dropped (the queue held them all)" ev_true "not any(e['event'] == 'events_dropped' for e in E)"
check "c: with room again, every exit is in exits.jsonl without a new exit (10 s)" \
	ev_wait "all(any(x['event'] == 'worker_exited' and x['pid'] == p for x in X) for p in $K)" 10
check "c: ampdaemon.log says the queued exits were written" grep -q "exits.jsonl: writable again: [0-9]* queued exit(s) written" "$DL_LOG"
check "c: the kills are in exits.jsonl in the order of the kills" \
	ev_true "[x['pid'] for x in X if x['event'] == 'worker_exited' and x['pid'] in $K] == $K"
# (a loader's exit is a worker_exited line of exits.jsonl, a loader_exited event)
check "c: exits.jsonl since the fill: the worker_exited and loader_exited events of events.jsonl, pid for pid, in order" \
	ev_true "[x['pid'] for x in X[$xlines0:]] == [e['pid'] for e in E[$lines0:] if e['event'] in ('worker_exited', 'loader_exited')]"
check "c: no events_dropped in exits.jsonl (the queue held them all)" \
	ev_true "all(x['event'] == 'worker_exited' for x in X)"
check "c: faults.state saved again: fault 6 in it (10 s)" \
	bash -c "for i in \$(seq 100); do grep -q '^fault 6 ' state/faults.state 2>/dev/null && exit 0; sleep 0.1; done; exit 1"
check "c: events.jsonl: every line JSON" json_lines state/events.jsonl
check "c: exits.jsonl: every line JSON" json_lines state/exits.jsonl
check "c: status --json parses, fault 6 in it" fault_on 6
timeout 30 "$AMPCTL" diag --state-dir state --log-dir log --json >"$T_TMP/diag.json" 2>"$T_TMP/diag.err"
check "c: ampctl diag --state-dir (offline): JSON, nothing unreadable, fault 6, the crashes" python3 - "$T_TMP/diag.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d['schema'] == 'ampscan-diag/1', d['schema']
assert d['unreadable'] == [], d['unreadable']
assert d['events_lost'] == 0 and d['timeline_lost'] == 0, (d['events_lost'], d['timeline_lost'])
assert d['faults_source'] == 'faults.state', d['faults_source']
assert any(f['id'] == 6 for f in d['faults']), d['faults']
assert d['crashes']['count'] >= 3, d['crashes']
print('    diag: verdict %s, %d crashes, faults %s' % (d['verdict'], d['crashes']['count'], [f['id'] for f in d['faults']]))
EOF
check "c: scans answered" scan_says files/eicar.txt 'FOUND$'

echo "# c. stopped while StateDir is full"
ev0=$(n_err events.jsonl) ex0=$(n_err exits.jsonl)
check "c: StateDir filled again" fill state
for i in $(seq 30); do
	[ "$(n_err events.jsonl)" -gt "$ev0" ] && [ "$(n_err exits.jsonl)" -gt "$ex0" ] && break
	kill_one || break
done
check "c: events queued again" test "$(n_err events.jsonl)" -gt "$ev0"
check "c: exits queued again" test "$(n_err exits.jsonl)" -gt "$ex0"
kill -TERM "$DL_PID"
rc=0
for i in $(seq 150); do kill -0 "$DL_PID" 2>/dev/null || break; sleep 0.1; done
wait "$DL_PID" || rc=$?
check "c: ampdaemon stops with exit status 0 (got $rc)" test "$rc" = 0
check "c: the log says which events could not be written" grep -q "events.jsonl: [0-9]* event.* lost" "$DL_LOG"
check "c: and how many exits could not be" grep -q "exits.jsonl: [0-9]* exit(s) could not be written before the stop and are lost" "$DL_LOG"
check "c: events.jsonl still whole" json_lines state/events.jsonl
check "c: exits.jsonl still whole" json_lines state/exits.jsonl
unfill state
check "c: restarted with room again" dl_start
check "c: both workers READY" ready_on 12
check "c: the start is in events.jsonl" ev_wait "E[-1]['event'] in ('daemon_started', 'fault_cleared', 'worker_started', 'worker_ready') and any(e['event'] == 'daemon_started' and e['pid'] == $DL_PID for e in E)" 10
check "c: events.jsonl: every line JSON" json_lines state/events.jsonl
check "c: scans answered" scan_says files/eicar.txt 'FOUND$'
dl_stop
finish
