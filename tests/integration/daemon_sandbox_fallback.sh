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
dl_config CreateScanUser yes Engine clamav ScratchDir "$SCR" Workers 1
check "ampdaemon starts (AMPSCAN_TEST_NO_LANDLOCK=1)" dl_start
check "the worker passes its scratch check and canaries: READY" dl_wait_ready 1 60
pid=$(dl_worker_pids)
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
dl_stop_checked
check "the scratch directories are removed" sh -c "[ -z \"\$(ls -A '$SCR')\" ]"

# ---- neither Landlock nor a user namespace: no start, fault 7 ----------------------
t_fresh
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
dl_stop_checked
unset AMPSCAN_TEST_NO_LANDLOCK

finish
