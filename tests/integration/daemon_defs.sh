#!/usr/bin/env bash
# ampdaemon and its definitions, as the issue's tests 6 and 7 ask:
#   6. an active .cvd corrupted on disk: deleted at start with an event
#      naming the file and the reason (MD5), the valid rest is used, the
#      workers become READY, no fault 7;
#   7. definitions that verify but make the worker fail to start (the test
#      build's NOSTART hook): fault 7, scans refused at once;
#        - previous/ holds a set: it is restored, the bad file quarantined,
#          fault 7 cleared, workers READY;
#        - previous/ holds none: fault 7 stays, the retries back off, a
#          restart of ampdaemon keeps it; a good file put in place is
#          picked up by the next retry and clears it;
#        - active/ empty: fault 7 saying there are no definitions, the
#          checks back off.
#   daemon_defs.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
dl_init "$1" "$2"
cd "$T_TMP"

# ---- helpers (as in daemon_crash.sh) -----------------------------------------------


# t_log_wait REGEX N [SECONDS]: until ampdaemon.log has N lines matching
t_log_wait() {
	local i
	for i in $(seq $((${3:-20} * 10))); do
		[ "$(grep -cE "$1" "$DL_LOG" 2>/dev/null)" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# t_delays_grow FILE MIN MAX: the delays (one a line) start at MIN, double,
# never decrease, and stop at MAX, which is reached
t_delays_grow() {
	awk -v min="$2" -v max="$3" '
		NR == 1 && $1 + 0 != min { print "first " $1 ", want " min; bad = 1 }
		NR > 1 { want = 2 * prev; if (want > max) want = max
			if ($1 + 0 != want) { print "line " NR ": " $1 " after " prev; bad = 1 } }
		{ prev = $1 + 0 }
		END { if (prev != max) { print "the cap " max " was not reached"; bad = 1 }; exit bad }' "$1"
}

# the scan service is refused at once while fault 7 is raised
t_refused_at_once() {
	t_scan files/clean.txt
	echo "    refused in $T_SECS s"
	check "$1: ampctl scan exits 2" test "$T_RC" = 2
	check "$1: 'scan service unavailable' (fault 7)" grep -q "clean.txt: scan service unavailable (fault 7: .*) ERROR" "$T_TMP/out"
	check "$1: at once (< 1 s)" lt "$T_SECS" 1
}

hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
printf 'the extra set detects this: AMPSCAN-EXTRA-MARKER\n' >files/extra.txt
chmod 644 files/extra.txt
cp defs/active/demo.cvd "$T_TMP/good-demo.cvd"

# ==== 6: a corrupted active .cvd is deleted at start ==========================================
echo "# test 6: a corrupted .cvd in active/"
dl_build_cvd defs/active/extra.cvd 5 "Ampscan.Test.Extra:0:*:$(hex AMPSCAN-EXTRA-MARKER)"
dl_config CreateScanUser yes
check "ampdaemon starts with two containers" dl_start
check "both workers READY" dl_wait_ready 2
check "both sets loaded" test "$(dl_status_py "sorted((d['name'], d['version']) for d in s['definitions']['databases'])")" = "[('demo', 10), ('extra', 5)]"
expect_status 1 "the extra set's signature detects its marker" dl_ctl scan files/extra.txt
dl_stop
flip_byte defs/active/extra.cvd 1000
check "the corrupted container no longer verifies" bash -c "! '$CVDTOOL' verify --trusted-key keys/k.pub defs/active/extra.cvd >/dev/null 2>&1"
check "ampdaemon starts with it" dl_start
check "both workers READY" dl_wait_ready 2
check "a definitions_deleted event names active/extra.cvd, with a reason mentioning MD5" \
	ev_true "[(e['file'], 'MD5' in e['reason']) for e in E if e['event'] == 'definitions_deleted'] == [('active/extra.cvd', True)]"
evq "[e['reason'] for e in E if e['event'] == 'definitions_deleted']" | sed 's/^/    /'
check "the file is gone" test ! -e defs/active/extra.cvd
check "the valid one stays" cmp -s defs/active/demo.cvd "$T_TMP/good-demo.cvd"
check "the deletion is in ampdaemon.log" grep -q '"event":"definitions_deleted","file":"active/extra.cvd"' "$DL_LOG"
check "no fault 7 (status)" test "$(dl_fault_raised 7)" = False
check "no fault 7 (events)" ev_true "not any(e.get('fault') == 7 for e in E)"
check "the workers use what remains: demo only" test "$(dl_status_py "[(d['name'], d['version']) for d in s['definitions']['databases']]")" = "[('demo', 10)]"
expect_status 0 "the deleted set's signature is gone" dl_ctl scan files/extra.txt
expect_status 1 "the remaining set still detects" dl_ctl scan files/eicar.txt
dl_stop

# ==== 7a: definitions that make the workers fail; previous/ holds a set ========================
echo "# test 7: no-start definitions, previous/ holds a set"
t_fresh
mkdir -p defs/previous
cp "$T_TMP/good-demo.cvd" defs/previous/demo.cvd
rm -f defs/active/*
dl_build_cvd defs/active/demo.cvd 11 "Ampscan.Test.NoStart:0:*:$(hex AMPSCAN-TEST-NOSTART-MARKER)"
cp defs/active/demo.cvd "$T_TMP/nostart-demo.cvd"
chmod 644 defs/active/demo.cvd
ln defs/active/demo.cvd "$T_TMP/nostart-link.cvd"   # the inode has another name
check "the no-start container verifies (the hook is in the worker, not in the file)" \
	bash -c "'$CVDTOOL' verify --trusted-key keys/k.pub defs/active/demo.cvd >/dev/null"
# the first retry (and with it the rollback) waits RestartDelayMin: 3 s to
# look at fault 7 before it clears
# WorkerLaunch exec: these look at each worker's start failure and retries
# (a loader's are pool_loader_update.sh's; it re-checks at its first failure)
dl_config CreateScanUser yes RestartDelayMin 3s RestartDelayMax 6s ReadyTimeout 10s \
	WorkerLaunch exec
check "ampdaemon starts" dl_start
check "fault 7 raised" dl_wait "any(f['id'] == 7 for f in s['faults'])" 10
t_refused_at_once "fault 7 with a rollback pending"
check "status: unavailable" test "$(dl_status_py "s['unavailable']")" = True
check "the fault says why (the worker's last words)" \
	ev_true "any(e['event'] == 'fault_raised' and e['fault'] == 7 and 'exited before READY' in e['detail'] and 'no-start marker' in e['detail'] for e in E)"
check "the worker's stderr is in ampscansvc.log, timestamped and tagged with its pid" \
	grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z ampscansvc\[[0-9]+\]: ampscansvc: test hook: the definitions detect the no-start marker' "$DL_SVCLOG"
check "the start failures are recorded (kind start_failure)" \
	ev_true "sum(e['event'] == 'worker_exited' and e.get('kind') == 'start_failure' for e in E) >= 1"
check "previous/ restored: definitions_rolled_back" \
	ev_wait "any(e['event'] == 'definitions_rolled_back' for e in E)" 30
check "the bad file quarantined (definitions_quarantined)" \
	ev_true "any(e['event'] == 'definitions_quarantined' and e['file'] == 'active/demo.cvd' for e in E)"
check "fault 7 cleared (fault_cleared event)" \
	ev_wait "any(e['event'] == 'fault_cleared' and e.get('fault') == 7 for e in E)" 20
check "both workers READY" dl_wait_ready 2
check "status: no fault 7" test "$(dl_fault_raised 7)" = False
check "active/ now holds previous's file" cmp -s defs/active/demo.cvd defs/previous/demo.cvd
q=$(ls defs/quarantine/demo.cvd.* 2>/dev/null | head -1)
check "the bad one is in quarantine/ ($q)" cmp -s "${q:-/nonexistent}" "$T_TMP/nostart-demo.cvd"
check "quarantined as 0600 root, a file of its own" test "$(stat -c '%a %U %h' "${q:-/nonexistent}")" = "600 root 1"
check "the inode's other name is left 0644" test "$(stat -c '%a %h' "$T_TMP/nostart-link.cvd")" = "644 1"
check "the workers run version 10 again" test "$(dl_status_py "[(d['name'], d['version']) for d in s['definitions']['databases']]")" = "[('demo', 10)]"
check "the log tells of the rollback check" grep -q "checking the active definitions (rollback to previous/ allowed)" "$DL_LOG"
check "fault 7 raised only once" ev_true "sum(e['event'] == 'fault_raised' and e.get('fault') == 7 for e in E) == 1"
expect_status 0 "scanning works: a clean file is OK" dl_ctl scan files/clean.txt
expect_status 1 "and a detection is found" dl_ctl scan files/eicar.txt
dl_stop

# ==== 7b: the same with no previous set: fault 7 stays, retries back off ==========================
echo "# test 7: no-start definitions, previous/ empty"
t_fresh
rm -f defs/previous/* defs/quarantine/* defs/active/*
cp "$T_TMP/nostart-demo.cvd" defs/active/demo.cvd
dl_config CreateScanUser yes RestartDelayMin 100ms RestartDelayMax 800ms ReadyTimeout 10s \
	WorkerLaunch exec
check "ampdaemon starts" dl_start
check "fault 7 raised" dl_wait "any(f['id'] == 7 for f in s['faults'])" 10
t_refused_at_once "fault 7, nothing to roll back to"
RETRY='worker 1 could not start: .*; retrying in [0-9.]+ s'
check "worker 1 retried 6 times" t_log_wait "$RETRY" 6 30
grep -E "$RETRY" "$DL_LOG" | head -6 | sed -E 's/.*retrying in ([0-9.]+) s.*/\1/' >"$T_TMP/delays"
echo "    worker 1 retry delays: $(tr '\n' ' ' <"$T_TMP/delays")"
check "the retry delays grow: 0.1 doubling up to 0.8, then stay" t_delays_grow "$T_TMP/delays" 0.1 0.8
check "fault 7 still raised" test "$(dl_fault_raised 7)" = True
check "never cleared" ev_true "not any(e['event'] == 'fault_cleared' and e.get('fault') == 7 for e in E)"
check "raised only once" ev_true "sum(e['event'] == 'fault_raised' and e.get('fault') == 7 for e in E) == 1"
check "nothing rolled back, nothing quarantined" bash -c "[ -z \"\$(ls defs/quarantine)\" ] && cmp -s defs/active/demo.cvd '$T_TMP/nostart-demo.cvd'"
check "no worker ever READY" ev_true "not any(e['event'] == 'worker_ready' for e in E)"
t_refused_at_once "still"
since=$(dl_status_py "[f['since'] for f in s['faults'] if f['id'] == 7][0]")
check "faults.state holds fault 7" grep -q "^fault 7 " "$DL_STATE/faults.state"
# a restart keeps it raised
dl_stop
n_before=$(grep -cE "$RETRY" "$DL_LOG")
check "ampdaemon starts again" dl_start
check "fault 7 raised after the restart" test "$(dl_fault_raised 7)" = True
check "the new ampdaemon's workers fail too" t_log_wait "$RETRY" $((n_before + 3)) 30
check "fault 7 still raised (same since: $since)" test "$(dl_status_py "[f['since'] for f in s['faults'] if f['id'] == 7]")" = "['$since']"
check "never cleared across the restart" ev_true "not any(e['event'] == 'fault_cleared' and e.get('fault') == 7 for e in E)"
check "not raised a second time (no clear in between)" ev_true "sum(e['event'] == 'fault_raised' and e.get('fault') == 7 for e in E) == 1"
t_refused_at_once "after the restart"
# a good file put in place: the next retry re-checks the definitions and recovers
cp "$T_TMP/good-demo.cvd" defs/active/.demo.tmp && mv defs/active/.demo.tmp defs/active/demo.cvd
check "a good set put in place: fault 7 clears at a next retry" \
	ev_wait "any(e['event'] == 'fault_cleared' and e.get('fault') == 7 for e in E)" 20
check "both workers READY" dl_wait_ready 2
expect_status 0 "scanning works again" dl_ctl scan files/clean.txt
dl_stop

# ==== 7c: active/ empty =========================================================================
echo "# test 7: no definitions at all"
t_fresh
rm -f defs/active/* defs/active/.[!.]* defs/previous/* defs/quarantine/*
dl_config CreateScanUser yes RestartDelayMin 100ms RestartDelayMax 800ms
check "ampdaemon starts with an empty active/" dl_start
check "fault 7 raised" dl_wait "any(f['id'] == 7 for f in s['faults'])" 10
check "its detail says there are no definitions" \
	bash -c "dl_d=\$1; [[ \$dl_d == *'no definitions in '*'/active'* ]]" _ "$(dl_status_py "[f['detail'] for f in s['faults'] if f['id'] == 7][0]")"
t_refused_at_once "no definitions"
CHECK='definitions: no definitions in .*; checking again in [0-9.]+ s'
check "the check is retried 6 times" t_log_wait "$CHECK" 6 30
grep -E "$CHECK" "$DL_LOG" | head -6 | sed -E 's/.*checking again in ([0-9.]+) s.*/\1/' >"$T_TMP/delays"
echo "    'checking again in' delays: $(tr '\n' ' ' <"$T_TMP/delays")"
check "the check delays grow: 0.1 doubling up to 0.8, then stay" t_delays_grow "$T_TMP/delays" 0.1 0.8
check "no worker was started" ev_true "not any(e['event'] == 'worker_started' for e in E)"
check "fault 7 raised only once" ev_true "sum(e['event'] == 'fault_raised' and e.get('fault') == 7 for e in E) == 1"
dl_stop
check "no worker left" bash -c "! pgrep -u $DL_USER >/dev/null"
finish
