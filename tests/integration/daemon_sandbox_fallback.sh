#!/usr/bin/env bash
# The workers' sandbox where Landlock is missing (issue 15), Engine clamav,
# driven by the test builds' knobs passed through ampdaemon's environment:
#   - AMPSCAN_TEST_NO_LANDLOCK=1: the worker confines itself to a user +
#     mount namespace of its own whose root is its scratch directory; it
#     passes its scratch check and canaries (READY), EICAR is FOUND, a
#     clean file OK, no call refused, no capability left;
#   - with AMPSCAN_TEST_NO_USERNS=1 as well: the worker refuses to start,
#     fault 7 names both reasons, scans are refused;
#   - AMPSCAN_TEST_NO_LANDLOCK=EPERM (a seccomp filter above us blocks
#     Landlock): a misconfiguration, fault 7 says so, no fallback.
# WorkerLaunch loader (the default): the loader finds no Landlock, exits
# with its own status before loading, and the workers are exec'd instead
# (logged, a loader_fallback event, ampctl status), each with the
# sandbox above; a loader refused Landlock with EPERM is fault 7, no
# fallback.  WorkerLaunch exec is run too, for the first case.
#   daemon_sandbox_fallback.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
BUILD=$1
SRC=$2
dl_init "$BUILD" "$SRC"
# the knobs are read only by test builds (AMPSCAN_TEST_HOOKS)
grep -q "AMPSCAN_TEST_NO_LANDLOCK" "$AMPDAEMON" ||
	skip_all "not a test build (the sandbox knobs are compiled out)"
unshare -U -m true 2>/dev/null ||
	skip_all "user namespaces are disabled here: no fallback to test"
mkdir -p "$T_TMP/certs"
SCR=$T_TMP/scratch

# ---- no Landlock: the mount namespace ---------------------------------------------
export AMPSCAN_TEST_NO_LANDLOCK=1
for launch in loader exec; do
[ "$launch" = exec ] && t_fresh
# (SpareWorkers 1: a spare is never exec'd; the fallback says it is ignored)
dl_config CreateScanUser yes Engine clamav ScratchDir "$SCR" Workers 1 \
	WorkerLaunch "$launch" $([ "$launch" = loader ] && echo SpareWorkers 1)
check "ampdaemon starts (AMPSCAN_TEST_NO_LANDLOCK=1, WorkerLaunch $launch)" dl_start
check "the worker passes its scratch check and canaries: READY" dl_wait_ready 1 60
pid=$(dl_worker_pids)
if [ "$launch" = loader ]; then
	NOLL="Landlock unavailable (ENOSYS): a loader has no mount-namespace fallback"
	check "the loader says why it does not load (ampscansvc.log)" \
		grep -qF "ampscansvc: loader: $NOLL" "$DL_SVCLOG"
	check "ampdaemon.log: the workers are exec'd instead" \
		grep -q "found no Landlock; the workers are exec'd instead" "$DL_LOG"
	check "a loader_fallback event with the reason" \
		ev_true "any(e['event'] == 'loader_fallback' and e.get('worker_launch') == 'exec' and '$NOLL' in e.get('reason', '') for e in E)"
	check "exits.jsonl: the loader's exit is loader_no_landlock, once" \
		ev_true "sum(x.get('kind') == 'loader_no_landlock' for x in X) == 1 and not any(x.get('kind') == 'loader_start_failure' for x in X)"
	check "status --json: loader.worker_launch exec, exec_fallback says why" \
		test "$(dl_status_py "s['loader']['worker_launch'] == 'exec' and '$NOLL' in s['loader']['exec_fallback'] and s['loader']['pid'] == 0")" = True
	check "status: 'workers are exec'd (fallback)'" \
		sh -c "'$AMPCTL' --socket '$DL_CTL' status | grep -q \"loader: none, workers are exec'd (fallback): .*$NOLL\""
	check "ampctl diag: LOADER says the workers are exec'd and why" \
		sh -c "timeout 60 '$AMPCTL' --socket '$DL_CTL' diag >'$T_TMP/diagfb.txt' &&
			grep 'fell back at .*: the workers are exec.d, each loading the definitions itself' '$T_TMP/diagfb.txt' |
			grep -qF '$NOLL'"
	check "ampctl diag --json: loader.fallback.reason" \
		sh -c "timeout 60 '$AMPCTL' --socket '$DL_CTL' diag --json |
			/usr/bin/python3 -c 'import json,sys; f=json.load(sys.stdin)[\"loader\"][\"fallback\"]; sys.exit(not f or \"$NOLL\" not in f[\"reason\"])'"
	check "worker $pid: exec'd (its command line is ampscansvc --worker)" \
		sh -c "tr '\\0' ' ' </proc/$pid/cmdline | grep -q -- '--worker'"
	check "SpareWorkers is logged as ignored on the fallback" \
		grep -q "SpareWorkers 1 is ignored: the workers are exec'd" "$DL_LOG"
	check "no spare: status has none, one worker started" \
		test "$(dl_status_py "s['spares'] == []")/$(dl_events_count worker_started)" = True/1
else
	check "status --json: no loader section with WorkerLaunch exec" \
		test "$(dl_status_py "'loader' in s")" = False
fi
check "ampscansvc.log: confined to a mount namespace rooted at the scratch directory" \
	grep -q "sandbox: Landlock unavailable (ENOSYS): confined to a private mount namespace whose root is the scratch directory" "$DL_SVCLOG"
check "worker $pid: a mount namespace of its own" \
	test "$(readlink "/proc/$pid/ns/mnt")" != "$(readlink "/proc/$DL_PID/ns/mnt")"
check "worker $pid: a user namespace of its own" \
	test "$(readlink "/proc/$pid/ns/user")" != "$(readlink "/proc/$DL_PID/ns/user")"
st=/proc/$pid/status
check "worker $pid: in seccomp filter mode" grep -Eq "^Seccomp:[[:space:]]+2$" "$st"
for c in CapEff CapPrm CapBnd; do
	check "worker $pid: $c zero (what the user namespace gave, dropped)" \
		grep -Eq "^$c:[[:space:]]+0+$" "$st"
done
# its root, seen from here: the scratch directory, nothing of ours
dir=$(ls -d "$SCR"/worker-* | head -1)
echo mark >"$dir/from-outside"
check "its root is its scratch directory ($dir)" test -e "/proc/$pid/root/from-outside"
check "nothing outside it is in its root (/etc, /proc, /usr)" \
	sh -c "[ ! -e /proc/$pid/root/etc ] && [ ! -e /proc/$pid/root/proc ] && [ ! -e /proc/$pid/root/usr ]"
rm -f "$dir/from-outside"
t_scan "$T_TMP/files/eicar.txt" "$T_TMP/files/clean.txt"
# (libclamav names it Eicar-Test-Signature.Body.UNOFFICIAL here)
check "EICAR: FOUND" grep -qxE "$T_TMP/files/eicar.txt: Eicar-Test-Signature[.A-Za-z]* FOUND" "$T_TMP/out"
check "the clean file: OK" grep -qxF "$T_TMP/files/clean.txt: OK" "$T_TMP/out"
check "no fault 7" test "$(dl_fault_raised 7)" = False
check "no fault 7 at the end" test "$(dl_fault_raised 7)" = False
dl_stop_checked
check "the scratch directories are removed" sh -c "[ -z \"\$(ls -A '$SCR')\" ]"
done

# ---- neither Landlock nor a user namespace: no start, fault 7 ----------------------
t_fresh
dl_config CreateScanUser yes Engine clamav ScratchDir "$SCR" Workers 1
export AMPSCAN_TEST_NO_USERNS=1
REASON="Landlock unavailable (ENOSYS) and no mount namespace (unshare: EPERM): refusing to run unconfined"
check "ampdaemon starts (no Landlock, no user namespace)" dl_start
check "the worker's start fails: fault 7" dl_wait "any(f['id'] == 7 for f in s['faults'])" 60
check "fault 7's detail names both reasons" \
	dl_wait "any(f['id'] == 7 and '$REASON' in f['detail'] for f in s['faults'])" 10
check "exits.jsonl: start failures with the reason" \
	ev_wait "any(x.get('kind') == 'start_failure' and '$REASON' in json.dumps(x) for x in X)" 30
check "ampscansvc.log holds the reason" grep -qF "ampscansvc: sandbox: $REASON" "$DL_SVCLOG"
check "no worker is READY" test "$(dl_status_py "sum(w['state'] == 'ready' for w in s['workers'])")" = 0
t_scan "$T_TMP/files/eicar.txt"
check "a scan is refused, never run unconfined" grep -q "scan service unavailable (fault 7" "$T_TMP/out"
dl_stop_checked
unset AMPSCAN_TEST_NO_USERNS

# ---- Landlock refused with EPERM: a misconfiguration, no fallback ------------------
t_fresh
export AMPSCAN_TEST_NO_LANDLOCK=EPERM
check "ampdaemon starts (Landlock refused with EPERM)" dl_start
check "fault 7 names the misconfiguration" \
	dl_wait "any(f['id'] == 7 and 'misconfiguration' in f['detail'] and 'SystemCallFilter' in f['detail'] for f in s['faults'])" 60
check "no mount namespace was tried (ampscansvc.log)" bash -c "! grep -q 'confined to a private mount namespace' '$DL_SVCLOG'"
check "the loader refused it: no fallback to exec" \
	ev_true "any(x.get('kind') == 'loader_start_failure' for x in X) and not any(e['event'] == 'loader_fallback' for e in E)"
dl_stop_checked
unset AMPSCAN_TEST_NO_LANDLOCK

finish
