#!/usr/bin/env bash
# ampdaemon's pool, as the issue's tests 1, 3, 8, 9 and 10 ask:
#   1. workers run as the scan user: uid/gid in all four slots, only its
#      group, NoNewPrivs 1, CapEff 0;
#   3. CreateScanUser yes on a clean system: the account is created with
#      the right settings, no fault 5;
#   8. ampdaemon killed with SIGKILL: its workers exit by themselves; a new
#      ampdaemon starts cleanly on the same state, active faults still there;
#   9. a bad configuration is refused with the line named;
#  10. the control socket refuses a non-root peer.
# Also: scans through `ampctl scan`, status, faults and events.
#   daemon_pool.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
dl_init "$1" "$2"
cd "$T_TMP"

# ---- 3: the account is created (the user does not exist yet) ----------------
check "the scan user does not exist before the start" bash -c "! getent passwd $DL_USER"
dl_config CreateScanUser yes
check "ampdaemon starts" dl_start
check "both workers become READY" dl_wait_ready 2
pw=$(getent passwd "$DL_USER")
gr=$(getent group "$DL_USER")
uid=$(echo "$pw" | cut -d: -f3)
gid=$(echo "$gr" | cut -d: -f3)
check "the user was created" test -n "$pw"
check "as a system account (uid < 1000, not 0)" test "${uid:-0}" -gt 0 -a "${uid:-0}" -lt 1000
check "its primary group is the scan group" test "$(echo "$pw" | cut -d: -f4)" = "$gid"
check "with no login shell" test "$(echo "$pw" | cut -d: -f7)" = /usr/sbin/nologin
check "with no home directory" bash -c "[ ! -e '$(echo "$pw" | cut -d: -f6)' ]"
check "and no other groups" test "$(id -G "$DL_USER")" = "$gid"
check "no fault 5" test "$(dl_fault_raised 5)" = False
check "the workers report the scan user's uid" test "$(dl_status_py "all(w['uid'] == $uid and not w['as_root'] for w in s['workers'])")" = True

# ---- 1: the workers' credentials, from /proc -----------------------------------
for p in $(dl_worker_pids); do
	st=/proc/$p/status
	check "worker $p: Uid $uid in all four slots" grep -Eq "^Uid:[[:space:]]+$uid[[:space:]]+$uid[[:space:]]+$uid[[:space:]]+$uid$" "$st"
	check "worker $p: Gid $gid in all four slots" grep -Eq "^Gid:[[:space:]]+$gid[[:space:]]+$gid[[:space:]]+$gid[[:space:]]+$gid$" "$st"
	check "worker $p: no supplementary groups" grep -Eq "^Groups:[[:space:]]*$" "$st"
	check "worker $p: NoNewPrivs 1" grep -Eq "^NoNewPrivs:[[:space:]]+1$" "$st"
	check "worker $p: CapEff zero" grep -Eq "^CapEff:[[:space:]]+0+$" "$st"
	check "worker $p: CapPrm zero" grep -Eq "^CapPrm:[[:space:]]+0+$" "$st"
	check "worker $p: in seccomp filter mode" grep -Eq "^Seccomp:[[:space:]]+2$" "$st"
done

# ---- scanning through the pool -------------------------------------------------
expect_status 1 "ampctl scan: a detection exits 1" dl_ctl scan files/eicar.txt files/clean.txt
check "the detection is printed clamdscan-style" grep -q "files/eicar.txt: Eicar-Test-Signature.Body.UNOFFICIAL FOUND" "$T_TMP/out"
check "the clean file is OK" grep -q "files/clean.txt: OK" "$T_TMP/out"
expect_status 2 "ampctl scan: a missing file is an error (exit 2)" dl_ctl scan files/missing
check "the error names the file" grep -q "files/missing: No such file or directory ERROR" "$T_TMP/out"
expect_status 0 "ampctl scan --json" dl_ctl scan --json files/clean.txt
check "--json is a JSON array" python3 -c "import json,sys; a=json.load(open('$T_TMP/out')); assert a[0]['verdict']=='clean'"
# the clean-file cache: an unchanged clean file is answered without a
# worker; the same inode rewritten (new ctime) is scanned again
cp files/clean.txt files/flip.txt
chmod 644 files/flip.txt
expect_status 0 "a clean file: OK" dl_ctl scan files/flip.txt
h0=$(dl_status_py "s['clean_cache']['hits']")
expect_status 0 "the same file again: OK" dl_ctl scan files/flip.txt
check "the second answer came from the clean-file cache" test "$(dl_status_py "s['clean_cache']['hits']")" -gt "${h0:-0}"
ino=$(stat -c %i files/flip.txt)
cat files/eicar.txt >files/flip.txt
check "(the same inode, rewritten)" test "$(stat -c %i files/flip.txt)" = "$ino"
expect_status 1 "rewritten with EICAR: scanned again, FOUND" dl_ctl scan files/flip.txt
expect_status 0 "ampctl status exits 0 with no fault" dl_ctl status
check "status names the definitions" grep -q "demo version 10" "$T_TMP/out"
expect_status 0 "ampctl faults --all --lang zh-TW" dl_ctl faults --all --lang zh-TW
check "the catalogue lists every id" bash -c "[ \$(grep -c '^fault ' '$T_TMP/out') = 13 ]"
expect_status 0 "ampctl events -n 5 --json" dl_ctl events -n 5 --json
check "events are JSON lines" python3 -c "
import json
for l in open('$T_TMP/out'):
    json.loads(l)"
check "worker_ready events were written" test "$(dl_events_count worker_ready)" -ge 2

# events --follow sees a new event as it happens
dl_ctl events --follow -n 0 >"$T_TMP/follow.out" 2>&1 &
fpid=$!
sleep 0.5
kill -KILL "$(dl_worker_pids | cut -d' ' -f1)"
for _ in $(seq 50); do grep -q worker_ready "$T_TMP/follow.out" && break; sleep 0.1; done
check "events --follow shows the crash and the restart" bash -c "grep -q worker_exited '$T_TMP/follow.out' && grep -q worker_ready '$T_TMP/follow.out'"
kill "$fpid" 2>/dev/null; wait "$fpid" 2>/dev/null

# ---- the scan socket: LocalSocketMode and LocalSocketGroup ----------------------
check "the scan socket has LocalSocketMode 660 (the default)" test "$(stat -c %a "$T_TMP/run/clamd.sock")" = 660
check "and root's group (LocalSocketGroup unset)" test "$(stat -c %G "$T_TMP/run/clamd.sock")" = "$(id -gn root)"

# ---- 10: the control socket is root-only ----------------------------------------
check "the control socket has mode 0600" test "$(stat -c %a "$DL_CTL")" = 600
chmod 755 "$T_TMP/run"
# a non-root peer that can reach the socket (mode relaxed for the test) is refused
chmod 666 "$DL_CTL"
rc=0
setpriv --reuid=65534 --regid=65534 --clear-groups "$AMPCTL" --socket "$DL_CTL" status >"$T_TMP/out" 2>"$T_TMP/err" || rc=$?
check "a non-root client gets exit 2" test "$rc" = 2
check "and is told the socket is root-only" grep -q "root only" "$T_TMP/err"
check "and sees no status" test ! -s "$T_TMP/out"
check "the refusal is logged" grep -q "control: refused a client with uid 65534" "$DL_LOG"
chmod 600 "$DL_CTL"

# ---- 8: SIGKILL of ampdaemon ------------------------------------------------------
# a fault to carry over: raise 6 by killing workers quickly (threshold 3)
dl_stop
cat >"$T_TMP/faultcmd.sh" <<'SH'
#!/bin/sh
# FaultCommand: the event arrives in the environment
printf '%s %s %s|%s\n' "$AMPSCAN_EVENT_TYPE" "$AMPSCAN_FAULT_ID" "$AMPSCAN_FAULT_NAME" "$AMPSCAN_FAULT_DETAIL" >>"${0%.sh}.out"
printf '%s\n' "$AMPSCAN_EVENT" >>"${0%.sh}.json"
SH
chmod 755 "$T_TMP/faultcmd.sh"
dl_config CreateScanUser yes CrashThreshold 3 CrashWindow 60s StableAfter 1h FaultCommand "$T_TMP/faultcmd.sh" LocalSocketGroup users LocalSocketMode 640
check "ampdaemon starts again" dl_start
check "workers READY" dl_wait_ready 2
for _ in 1 2 3 4; do
	kill -SEGV $(dl_worker_pids) 2>/dev/null
	sleep 0.3
done
check "fault 6 raised" dl_wait "any(f['id'] == 6 for f in s['faults'])" 10
check "LocalSocketMode 640 and LocalSocketGroup applied" test "$(stat -c '%a %G' "$T_TMP/run/clamd.sock")" = "640 users"
for _ in $(seq 200); do [ -s "$T_TMP/faultcmd.out" ] && break; sleep 0.1; done
check "FaultCommand ran with the event in its environment" grep -q "^fault_raised 6 Scan Service Restarting Frequently|[0-9]* crashes in [0-9]* s (SIGSEGV x[0-9]*)" "$T_TMP/faultcmd.out"
check "FaultCommand got the event's JSON line" python3 -c "import json; e=json.loads(open('$T_TMP/faultcmd.json').readline()); assert e['event']=='fault_raised' and e['fault']==6"
check "fault 6 was raised once (one event) for all those crashes" test "$(grep -c '"event":"fault_raised","fault":6' "$DL_STATE/events.jsonl")" = 1
dl_wait_ready 2
workers=$(dl_worker_pids)
kill -KILL "$DL_PID"
wait "$DL_PID" 2>/dev/null
gone=1
for _ in $(seq 50); do
	gone=1
	for p in $workers; do kill -0 "$p" 2>/dev/null && gone=0; done
	[ "$gone" = 1 ] && break
	sleep 0.1
done
check "the workers exit by themselves when ampdaemon is killed" test "$gone" = 1
check "a new ampdaemon starts on the same state" dl_start
check "its workers become READY" dl_wait_ready 2
check "fault 6 is still raised after the restart" test "$(dl_fault_raised 6)" = True
check "the restart was clean (no lock error)" bash -c "! grep -q 'another ampdaemon is running' '$T_TMP/daemon.out'"
expect_status 1 "ampctl status exits 1 with an active fault" dl_ctl status
dl_stop
check "SIGTERM: ampdaemon exits" bash -c "! kill -0 $DL_PID 2>/dev/null"
check "SIGTERM: no worker left" bash -c "! pgrep -u $DL_USER >/dev/null"
check "SIGTERM: the control socket is removed" test ! -e "$DL_CTL"

# ---- 9: a bad configuration --------------------------------------------------------
dl_config CrashThreshold lots
expect_status 1 "a bad value: ampdaemon refuses to start" "$AMPDAEMON" --foreground --config "$DL_CONF"
check "the error names the line and the key" grep -q "ampdaemon.conf:1[0-9]*: CrashThreshold" "$T_TMP/err"

finish
