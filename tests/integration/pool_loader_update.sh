#!/usr/bin/env bash
# WorkerLaunch loader, updates (issue 16; docs/loader.md, docs/updates.md),
# Engine clamav, the demo set (version 10) active:
#   - ampctl update of version 11: the candidate's loader (started before
#     the activation, its loader_ready naming demo:11) is the trial; the
#     exec'd trial neither loads libclamav nor compiles anything; after the update the
#     workers are on 11, forked from that loader; loads went up by one;
#     the old loader is gone (loader_exited, loader_stopped); Engine
#     clamav builds no builtin index, at start or in the update (issue 16:
#     a stale one left by a builtin run is removed at start);
#   - a signed container libclamav refuses: rejected by the candidate's
#     loader, never activated, the serving loader untouched, no fault;
#   - MemAvailable (faked, test builds) too small for a second engine:
#     the update waits (status reason, update_waiting event), and goes on
#     once the fake is lifted; with the wait bounded to 0 it gives up;
#   - a loader that cannot load the ACTIVE set at start: fault 7, the
#     re-verification and the rollback to previous/, READY again;
#   - status (JSON and text) and diag name the loader: pid, set, load.
#   pool_loader_update.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
dl_init "$1" "$2"
cd "$T_TMP" || exit 1

FAKE=$T_TMP/memavailable
export AMPSCAN_TEST_MEMAVAILABLE_FILE=$FAKE
mkdir -p v11 v12 v13
dl_build_cvd "$T_TMP/v11/demo.cvd" 11
dl_build_cvd "$T_TMP/v12/demo.cvd" 12
dl_build_cvd "$T_TMP/v13/demo.cvd" 13
mkdir -p refsrc
printf 'AmpTest.Refused:0:*:61{2}62\nAmpTest.Fine:0:*:414d5053434f4e54524f4c\n' >refsrc/refused.ndb
"$CVDTOOL" build "$T_TMP/refused.cvd" --from refsrc --key keys/k.key \
	--version 1 --builder test >/dev/null

dl_config Engine clamav WorkerLaunch loader Workers 2 StableAfter 1h
echo "a stale index of an earlier builtin run" >defs/active/ampscan.idx
check "ampdaemon starts" dl_start
check "both workers become READY" dl_wait_ready 2 60
if [ "$(dl_status_py "s['loader']['state']")" != ready ] &&
	grep -q "Landlock unavailable" "$DL_SVCLOG" 2>/dev/null; then
	dl_stop
	skip_all "the loader needs Landlock, not available here"
fi
lpid=$(dl_status_py "s['loader']['pid']")
check "status names the loader's set" test "$(dl_status_py "s['loader']['definitions']")" = demo:10
check "status has its load time" dl_wait "s['loader']['loaded'] is not None and s['loader']['load_ms'] > 0" 1
check "ampctl status (text) shows the loader" bash -c "timeout 10 '$AMPCTL' --socket '$DL_CTL' status | grep -q '^loader: pid $lpid, ready, holds demo:10; loaded '"
check "a loader_started and a loader_ready event of its own" \
	ev_true "any(e['event'] == 'loader_started' and e['pid'] == $lpid for e in E) and any(e['event'] == 'loader_ready' and e['pid'] == $lpid and e['definitions'] == 'demo:10' and not e['candidate'] and e['load_ms'] >= 0 for e in E)"
check "no worker_* event for the loader any more" ev_true "not any(e.get('loader') for e in E if e['event'].startswith('worker_'))"
loads0=$(dl_status_py "s['loader']['loads']")

# ---- an update: the candidate's loader is the trial --------------------------
expect_status 0 "ampctl update demo-11: activated" dl_ctl update "$T_TMP/v11/demo.cvd"
check "workers READY on demo 11" dl_wait "sum(w['state'] == 'ready' for w in s['workers']) == 2 and [d['version'] for d in s['definitions']['databases']] == [11]" 30
cpid=$(evq "[e['pid'] for e in E if e['event'] == 'loader_ready' and e['candidate']][-1]")
check "the candidate's loader READY on demo:11 before the activation" \
	ev_true "[i for i, e in enumerate(E) if e['event'] == 'loader_ready' and e['pid'] == $cpid and e['definitions'] == 'demo:11'][0] < [i for i, e in enumerate(E) if e['event'] == 'definitions_activated'][-1]"
check "it serves now" test "$(dl_status_py "s['loader']['pid']")" = "$cpid"
check "status: the loader holds demo:11" test "$(dl_status_py "s['loader']['definitions']")" = demo:11
check "the set was loaded once: loads + 1" test "$(dl_status_py "s['loader']['loads']")" = $((loads0 + 1))
check "no exec'd trial: the candidate's loader is the only load" \
	bash -c "! grep -q 'trial: index written' '$DL_LOG' && ! grep -q 'trial: OK' '$DL_LOG'"
check "Engine clamav built no index: none in active/, none in the log" \
	bash -c "! ls defs/active defs/previous | grep -q ampscan.idx && ! grep -q 'definitions index: built' '$DL_LOG'"
check "the stale index was removed at start (and said so)" \
	grep -q "definitions index: removed .*ampscan.idx (Engine clamav does not use it)" "$DL_LOG"
check "the log names the candidate's loader as the trial" \
	grep -q "the candidate's loader (pid $cpid) started: the update's trial" "$DL_LOG"
for p in $(dl_worker_pids); do
	check "worker $p was forked from the candidate's loader" \
		grep -q "ampscansvc\[$p\]: ampscansvc: worker forked from the loader (pid $cpid)" "$DL_SVCLOG"
done
check "the old loader exited as asked" \
	ev_wait "any(e['event'] == 'loader_exited' and e['pid'] == $lpid and e['kind'] == 'loader_stopped' for e in E)" 20
check "the old loader is gone" bash -c "! kill -0 $lpid 2>/dev/null"
expect_status 1 "EICAR FOUND on the new set" dl_ctl scan files/eicar.txt
timeout 60 "$AMPCTL" --socket "$DL_CTL" diag >"$T_TMP/diag.txt" 2>&1
check "ampctl diag names the loader: pid, set, load time" \
	grep -Eq "^  READY: pid $cpid \(an update's candidate\), holds demo:11, loaded .* in [0-9.]+ (ms|s)$" "$T_TMP/diag.txt"
check "ampctl diag: the old loader's exit" grep -Eq "^  last exit: pid $lpid at .*, loader_stopped \((exit 0|SIGTERM)\)" "$T_TMP/diag.txt"

# ---- a set libclamav refuses: the candidate's loader rejects it --------------
loads1=$(dl_status_py "s['loader']['loads']")
(cd defs/active && sha256sum ./*) >snap
expect_status 1 "ampctl update refused.cvd: rejected" dl_ctl update "$T_TMP/refused.cvd"
check "the verdict: the candidate's loader, with libclamav's reason" \
	grep -q "rejected: the candidate's loader could not load it (the trial): .*libclamav refuses it" err
check "a definitions_rejected event" \
	ev_wait "any(e['event'] == 'definitions_rejected' and 'libclamav refuses it' in e.get('reason', '') for e in E)" 10
check "the candidate's exit: loader_exited, candidate, loader_start_failure" \
	ev_true "any(e['event'] == 'loader_exited' and e.get('candidate') and e['kind'] == 'loader_start_failure' for e in E)"
check "kept in quarantine/ with a reason file" bash -c "ls defs/quarantine/ | grep -q '^refused.cvd\..*\.reason$'"
check "never activated: active/ unchanged" bash -c "cd defs/active && sha256sum -c --quiet '$T_TMP/snap'"
check "the serving loader is untouched" test "$(dl_status_py "s['loader']['pid']")" = "$cpid"
check "loads unchanged" test "$(dl_status_py "s['loader']['loads']")" = "$loads1"
check "no fault" test "$(dl_status_py "len(s['faults'])")" = 0
expect_status 1 "EICAR still FOUND" dl_ctl scan files/eicar.txt

# ---- MemAvailable cannot hold a second engine: the update waits --------------
echo 1 >"$FAKE"
dl_ctl update "$T_TMP/v12/demo.cvd" >"$T_TMP/upd.out" 2>&1 &
upd=$!
check "status: waiting for memory, with the reason" \
	dl_wait "s['update']['step'] == 'waiting for memory' and 'cannot hold a second engine' in (s['update']['waiting'] or '')" 60
check "an update_waiting event" ev_wait "any(e['event'] == 'update_waiting' and 'v12/demo.cvd' in e['file'] and e['needed'] > 0 for e in E)" 10
check "ampctl status (text) says why it waits" bash -c "timeout 10 '$AMPCTL' --socket '$DL_CTL' status | grep -q 'waiting: MemAvailable (0 MiB) cannot hold a second engine'"
check "nothing activated meanwhile" test "$(dl_status_py "[d['version'] for d in s['definitions']['databases']]")" = "[11]"
rm -f "$FAKE"
check "lifted: the update goes on and is activated" wait "$upd"
check "workers READY on demo 12" dl_wait "sum(w['state'] == 'ready' for w in s['workers']) == 2 and [d['version'] for d in s['definitions']['databases']] == [12]" 30
dl_stop

export AMPSCAN_TEST_MEM_WAIT_MAX_MS=0
echo 1 >"$FAKE"
check "ampdaemon starts again (the wait bounded to 0 s)" dl_start
check "workers READY on demo 12" dl_wait "sum(w['state'] == 'ready' for w in s['workers']) == 2" 60
expect_status 1 "the update gives up" dl_ctl update "$T_TMP/v13/demo.cvd"
check "the verdict says why" grep -q "not installed: not enough memory for a second engine: MemAvailable" err
check "still demo 12" test "$(dl_status_py "[d['version'] for d in s['definitions']['databases']]")" = "[12]"
check "not quarantined (not the file's fault)" bash -c "! ls defs/quarantine/ | grep -q '^demo.cvd'"
rm -f "$FAKE"
unset AMPSCAN_TEST_MEM_WAIT_MAX_MS
dl_stop

# ---- a loader that cannot load the ACTIVE set at start: fault 7 ---------------
check "previous/ holds the set before (demo 11)" test -e defs/previous/demo.cvd
cp refused.cvd defs/active/refused.cvd
check "ampdaemon starts on an active set libclamav refuses" dl_start
check "fault 7, the loader's start failure" \
	ev_wait "any(e['event'] == 'fault_raised' and e.get('fault') == 7 and 'loader' in e.get('detail', '') for e in E[-200:])" 60
check "rolled back to previous/" ev_wait "any(e['event'] == 'definitions_rolled_back' for e in E)" 60
check "workers READY again, forked from a loader on the previous set" \
	dl_wait "sum(w['state'] == 'ready' for w in s['workers']) == 2 and s['loader']['state'] == 'ready' and 'refused' not in s['loader']['definitions']" 60
check "fault 7 cleared" dl_wait "not any(f['id'] == 7 for f in s['faults'])" 20
check "refused.cvd no longer active" test ! -e defs/active/refused.cvd
expect_status 1 "EICAR FOUND" dl_ctl scan files/eicar.txt
dl_stop_checked

finish
