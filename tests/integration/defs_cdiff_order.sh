#!/usr/bin/env bash
# incoming/ applies cdiffs in version order (issue 18), with ClamAV's
# signed chain test-1.cvd + test-2..6.cdiff:
#   - test-6, 4, 2, 5, 3 dropped at once in that order: the service ends on
#     version 6 (each .cld equal to test-6.cvd), activated 2, 3, 4, 5, 6 in
#     that order, nothing rejected or quarantined, clam.exe detected;
#   - one by one over time: test-3 waits (status, an update_waiting event)
#     until test-2 comes, then 2 and 3 apply;
#   - a newer .cvd makes a waiting cdiff obsolete: rejected with that reason;
#     a cdiff the active version has passed is rejected at once, as ever;
#   - a gap that never fills (test-3 and test-5 on version 1, already in
#     incoming/ at the start, the wait shortened by the test-only
#     AMPSCAN_TEST_CDIFF_WAIT_MS): both wait (status), then are rejected
#     "... which never came" and quarantined; active/ untouched.
#   defs_cdiff_order.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
REAL=$(cd "$2/.." && pwd)/shared/testdata/real-cvd/freshclam-tests
[ -f "$REAL/test-1.cvd" ] || skip_all "../shared/testdata/real-cvd/freshclam-tests is absent"
[ -f /usr/share/clamav-testfiles/clam.exe ] || skip_all "clamav-testfiles is not installed"
dl_init "$1" "$2"
cd "$T_TMP"
CLAM=/usr/share/clamav-testfiles/clam.exe

rm -f defs/active/*
mkdir -p certs
cp "$REAL/clamav-test.crt" certs/
cp "$REAL/test-1.cvd" defs/active/test.cvd
cp "$REAL/test-1.cvd" "$REAL/test-1.cvd.sign" "$T_TMP/"
dl_config WorkerLaunch exec TrialTimeout 60s
dl_start || { not_ok "ampdaemon starts"; finish; exit 1; }
check "workers READY on test-1" dl_wait_ready 2 30

n_events() { evq "sum(1 for e in E if e['event'] == '$1')"; }
version_is() {  # version_is N: the active test container, no update going on
	dl_wait "[d['version'] for d in s['definitions']['databases'] if d['name'] == 'test'] == [$1] and s['update']['in_progress'] == False and s['update']['queued'] == 0" "${2:-60}"
}
members_equal() {  # members_equal A B: same members, same bytes
	local a=$T_TMP/cmp.a b=$T_TMP/cmp.b
	rm -rf "$a" "$b"; mkdir -p "$a" "$b"
	"$CVDTOOL" unpack --allow-unsigned "$1" -C "$a" >/dev/null 2>&1 &&
	"$CVDTOOL" unpack --no-sign "$2" -C "$b" >/dev/null 2>&1 &&
	diff -r "$a" "$b" >/dev/null
}
scan_says() { dl_ctl scan "$1" 2>&1 | grep -qE "$2"; }
drop() {  # drop test-N.cdiff...: into incoming/ as a writer does (temp name, rename)
	local f
	for f in "$@"; do
		cp "$REAL/$f" defs/incoming/.tmp && mv defs/incoming/.tmp "defs/incoming/$f"
	done
}
back_to_1() {  # the active set back to test-1.cvd (a forced downgrade)
	dl_ctl update --force "$T_TMP/test-1.cvd" "$T_TMP/test-1.cvd.sign" >"$T_TMP/out" 2>&1 &&
	version_is 1
}

# ---- the shuffled drop ---------------------------------------------------------------
check "test-1: clam.exe is not detected yet" scan_says "$CLAM" ': OK$'
act0=$(n_events definitions_activated)
cp "$REAL/test-4.cdiff.sign" defs/incoming/   # one travels with its .sign
drop test-6.cdiff test-4.cdiff test-2.cdiff test-5.cdiff test-3.cdiff
check "shuffled 6, 4, 2, 5, 3: ends on version 6" version_is 6 180
check "shuffled: nothing waits any more" dl_wait "s['update']['cdiffs_waiting'] == []" 5
check "shuffled: activated in version order 2, 3, 4, 5, 6" ev_true \
	"[e['source'].rsplit('/', 1)[1] for e in E if e['event'] == 'definitions_activated'][$act0:] == ['test-%d.cdiff' % n for n in (2, 3, 4, 5, 6)]"
check "shuffled: nothing rejected" ev_true "sum(1 for e in E if e['event'] == 'definitions_rejected') == 0"
check "shuffled: nothing quarantined" test -z "$(ls -A defs/quarantine)"
check "shuffled: incoming/ is empty (the .sign consumed too)" test -z "$(ls -A defs/incoming)"
check "shuffled: active/ holds test.cld equal to test-6.cvd member for member" \
	members_equal defs/active/test.cld "$REAL/test-6.cvd"
check "shuffled: clam.exe detected (test-6)" scan_says "$CLAM" 'FOUND$'

# ---- one by one, in the wrong order --------------------------------------------------
check "forced back to test-1" back_to_1
act0=$(n_events definitions_activated)
mark=$(evq "len(E)")
drop test-3.cdiff
check "test-3 alone: an update_waiting event names version 2" ev_wait \
	"any(e['event'] == 'update_waiting' and e.get('file', '').endswith('/test-3.cdiff') and e.get('waits_for') == 2 and e.get('version') == 3 and 'waits for test version 2' in e.get('reason', '') for e in E[$mark:])" 20
check "test-3 alone: status shows it waiting for version 2" dl_wait \
	"[(c['file'], c['database'], c['version'], c['waits_for']) for c in s['update']['cdiffs_waiting']] == [('test-3.cdiff', 'test', 3, 2)] and s['update']['cdiffs_waiting'][0]['since'] != ''" 10
check "test-3 alone: status (text) says so" bash -c \
	"timeout 10 '$AMPCTL' --socket '$DL_CTL' status | grep -q 'cdiff waiting: test-3.cdiff (test version 3) waits for test version 2'"
check "test-3 alone: it stays in incoming/, version 1 stays" bash -c \
	"sleep 2; test -f defs/incoming/test-3.cdiff"
check "test-3 alone: nothing activated meanwhile" ev_true \
	"sum(1 for e in E if e['event'] == 'definitions_activated') == $act0"
drop test-2.cdiff
check "test-2 comes: 2 then 3 apply (version 3)" version_is 3 90
check "test-2 comes: activated 2, then 3" ev_true \
	"[e['source'].rsplit('/', 1)[1] for e in E if e['event'] == 'definitions_activated'][$act0:] == ['test-2.cdiff', 'test-3.cdiff']"
check "test-2 comes: nothing waits" dl_wait "s['update']['cdiffs_waiting'] == []" 5
check "test-2 comes: nothing rejected" ev_true "sum(1 for e in E if e['event'] == 'definitions_rejected') == 0"

# ---- a newer .cvd makes a waiting cdiff obsolete; a passed one is rejected at once -------
rej0=$(n_events definitions_rejected)
drop test-5.cdiff
check "test-5 on version 3: waits for version 4" dl_wait \
	"[(c['file'], c['waits_for']) for c in s['update']['cdiffs_waiting']] == [('test-5.cdiff', 4)]" 20
cp "$REAL/test-6.cvd.sign" defs/incoming/test-6.cvd.sign
cp "$REAL/test-6.cvd" defs/incoming/.tmp && mv defs/incoming/.tmp defs/incoming/test-6.cvd
check "test-6.cvd comes: version 6" version_is 6 90
check "test-6.cvd comes: test-5.cdiff rejected as obsolete" ev_wait \
	"any(e['event'] == 'definitions_rejected' and e['file'].endswith('/test-5.cdiff') and 'obsolete: the active test.cvd became version 6 while it waited for version 4' in e['reason'] for e in E)" 30
check "test-5.cdiff quarantined with its reason" bash -c \
	"grep -q obsolete defs/quarantine/test-5.cdiff.*.reason"
check "incoming/ is empty" dl_wait "s['update']['in_progress'] == False and s['update']['cdiffs_waiting'] == []" 10
check "version 6 (test.cvd) stays" version_is 6 10
drop test-4.cdiff
check "test-4.cdiff on version 6: rejected at once, as ever" ev_wait \
	"any(e['event'] == 'definitions_rejected' and e['file'].endswith('/test-4.cdiff') and 'but the active test.cvd is version 6' in e['reason'] for e in E)" 30
check "no update_waiting for test-4.cdiff" ev_true \
	"not any(e['event'] == 'update_waiting' and e.get('file', '').endswith('/test-4.cdiff') for e in E[$mark:])"
check "test-4.cdiff is gone from incoming/" bash -c "sleep 0.5; test ! -e defs/incoming/test-4.cdiff"
check "forced back to test-1 again" back_to_1

# ---- a gap that never fills -----------------------------------------------------------
t_fresh
rm -rf defs/quarantine/* defs/previous/*
rm -f defs/active/*
cp "$REAL/test-1.cvd" defs/active/test.cvd
drop test-3.cdiff test-5.cdiff   # there before the start: read at the start
WAIT_S=20
export AMPSCAN_TEST_CDIFF_WAIT_MS=$((WAIT_S * 1000))
dl_start || { not_ok "ampdaemon starts (wait shortened to $WAIT_S s)"; finish; exit 1; }
unset AMPSCAN_TEST_CDIFF_WAIT_MS
check "workers READY on test-1" dl_wait_ready 2 30
check "test-3, test-5 on version 1: both wait for version 2 (status)" dl_wait \
	"sorted((c['file'], c['version'], c['waits_for']) for c in s['update']['cdiffs_waiting']) == [('test-3.cdiff', 3, 2), ('test-5.cdiff', 5, 2)]" 15
check "an update_waiting event for each" ev_true \
	"sorted(e['file'].rsplit('/', 1)[1] for e in E if e['event'] == 'update_waiting') == ['test-3.cdiff', 'test-5.cdiff']"
check "after the bound: both rejected, the version never came" ev_wait \
	"sorted(e['file'].rsplit('/', 1)[1] for e in E if e['event'] == 'definitions_rejected' and 'for test version 2, which never came' in e['reason'] and e.get('quarantined_as')) == ['test-3.cdiff', 'test-5.cdiff']" $((WAIT_S + 60))
check "the reason says how long they waited" ev_true \
	"all(int(re.search(r'waited ([0-9]+) s', e['reason']).group(1)) >= $WAIT_S for e in E if e['event'] == 'definitions_rejected')"
check "both quarantined with a .reason file" bash -c \
	"grep -q 'which never came' defs/quarantine/test-3.cdiff.*.reason && grep -q 'which never came' defs/quarantine/test-5.cdiff.*.reason"
check "the quarantined copies are the files" bash -c \
	"cmp -s defs/quarantine/test-3.cdiff.*[0-9Z] '$REAL/test-3.cdiff' && cmp -s defs/quarantine/test-5.cdiff.*[0-9Z] '$REAL/test-5.cdiff'"
check "incoming/ is empty, nothing waits" dl_wait \
	"s['update']['cdiffs_waiting'] == [] and s['update']['in_progress'] == False" 10
check "incoming/ is empty" test -z "$(ls -A defs/incoming)"
check "active/ untouched: test.cvd is test-1.cvd" cmp -s defs/active/test.cvd "$REAL/test-1.cvd"
check "nothing activated" ev_true "sum(1 for e in E if e['event'] == 'definitions_activated') == 0"
check "version 1 serves" version_is 1 5
dl_stop_checked
finish
