#!/usr/bin/env bash
# WorkerLaunch loader (issue 16, first stage; docs/loader.md), Engine clamav:
#   - workers READY, EICAR FOUND, a clean file OK;
#   - ampdaemon is the parent of every worker and of the loader;
#   - a READY worker SIGKILLed: its replacement is READY, forked by the
#     same loader (loads unchanged), its exit in the crash history with
#     the signal;
#   - the loader SIGKILLed: the workers go on answering, a new loader
#     loads, later replacements are forked by it;
#   - the loader starts beside the first definitions check and is kept
#     when the check names its set; when the check deletes a corrupted
#     container, that loader is replaced (or has exited on it) without a
#     fault, a crash or a start failure, and the workers serve what
#     remains.
#   pool_loader.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
dl_init "$1" "$2"
cd "$T_TMP"

# the loader needs Landlock (no mount-namespace fallback for it)
dl_config Engine clamav WorkerLaunch loader Workers 2 StableAfter 1h
check "ampdaemon starts" dl_start
check "both workers become READY (forked by the loader)" dl_wait_ready 2 60
if [ "$(dl_status_py "s['loader']['state']")" != ready ] &&
	grep -q "Landlock unavailable" "$DL_SVCLOG" 2>/dev/null; then
	dl_stop
	skip_all "the loader needs Landlock, not available here"
fi
check "the loader is READY" test "$(dl_status_py "s['loader']['state']")" = ready
check "it loaded once" test "$(dl_status_py "s['loader']['loads']")" = 1
check "it forked both workers" test "$(dl_status_py "s['loader']['forks']")" = 2
lpid=$(dl_status_py "s['loader']['pid']")

expect_status 1 "EICAR is FOUND" dl_ctl scan files/eicar.txt
check "by libclamav's name" grep -q "files/eicar.txt: Eicar-Test-Signature.*FOUND" "$T_TMP/out"
expect_status 0 "a clean file is OK" dl_ctl scan files/clean.txt

ppid_of() { awk '/^PPid:/ { print $2 }' "/proc/$1/status"; }
# "Max file size  SOFT  HARD  bytes" of /proc/PID/limits
fsize_of() { awk '/^Max file size/ { print $4 " " $5 }' "/proc/$1/limits"; }
want_fsize="$(( (400 << 20) + (1 << 20) )) $(( (400 << 20) + (1 << 20) ))"
check "ampdaemon is the loader's parent" test "$(ppid_of "$lpid")" = "$DL_PID"
check "the loaded loader's RLIMIT_FSIZE: MaxScanSize + 1 MiB, soft and hard" \
	test "$(fsize_of "$lpid")" = "$want_fsize"
for p in $(dl_worker_pids); do
	check "ampdaemon is worker $p's parent" test "$(ppid_of "$p")" = "$DL_PID"
	check "worker $p is sandboxed (Seccomp 2, NoNewPrivs 1)" \
		grep -Eq "^Seccomp:[[:space:]]+2$" "/proc/$p/status"
	check "worker $p: RLIMIT_FSIZE MaxScanSize + 1 MiB, soft and hard (the loader's)" \
		test "$(fsize_of "$p")" = "$want_fsize"
	check "worker $p: the log says it was forked by the loader" \
		grep -q "ampscansvc\[$p\]: ampscansvc: worker forked from the loader (pid $lpid)" "$DL_SVCLOG"
done

# ---- a READY worker SIGKILLed -----------------------------------------------
victim=$(dl_status_py "[w['pid'] for w in s['workers'] if w['state'] == 'ready'][0]")
kill -KILL "$victim"
check "its replacement is READY" dl_wait "len([w for w in s['workers'] if w['state'] == 'ready' and w['pid'] != $victim]) >= 2" 30
check "the loader did not load again" test "$(dl_status_py "s['loader']['loads']")" = 1
check "the same loader forked it" test "$(dl_status_py "s['loader']['pid']")" = "$lpid"
check "3 forks now" test "$(dl_status_py "s['loader']['forks']")" = 3
check "the kill is in the crash history with its signal" python3 -c "
import json
x = [json.loads(l) for l in open('$DL_STATE/exits.jsonl')]
assert any(e.get('pid') == $victim and e.get('kind') == 'crash' and e.get('signal') == 'SIGKILL' for e in x), x"
for p in $(dl_worker_pids); do
	check "ampdaemon is the replacement $p's parent" test "$(ppid_of "$p")" = "$DL_PID"
done
expect_status 1 "EICAR is still FOUND" dl_ctl scan files/eicar.txt

# ---- the loader SIGKILLed ----------------------------------------------------
workers_before=$(dl_worker_pids)
kill -KILL "$lpid"
expect_status 1 "the existing workers still answer: EICAR FOUND" dl_ctl scan files/eicar.txt
expect_status 0 "and a clean file OK" dl_ctl scan files/clean.txt
check "a new loader loads" dl_wait "s['loader']['state'] == 'ready' and s['loader']['pid'] != $lpid and s['loader']['loads'] == 2" 60
check "the workers forked by the old loader serve on" test "$(dl_worker_pids)" = "$workers_before"
check "the loader's death is in the crash history" python3 -c "
import json
x = [json.loads(l) for l in open('$DL_STATE/exits.jsonl')]
assert any(e.get('pid') == $lpid and e.get('kind') == 'loader_crash' and e.get('signal') == 'SIGKILL' for e in x), x"
lpid2=$(dl_status_py "s['loader']['pid']")
victim=$(dl_status_py "[w['pid'] for w in s['workers'] if w['state'] == 'ready'][0]")
kill -KILL "$victim"
check "a later replacement is READY" dl_wait "len([w for w in s['workers'] if w['state'] == 'ready' and w['pid'] != $victim]) >= 2" 30
newpid=$(dl_status_py "[w['pid'] for w in s['workers'] if w['pid'] not in ($(echo "$workers_before" | tr ' ' ','))][0]")
check "forked by the new loader" grep -q "ampscansvc\[$newpid\]: ampscansvc: worker forked from the loader (pid $lpid2)" "$DL_SVCLOG"
check "still 2 loads in all" test "$(dl_status_py "s['loader']['loads']")" = 2
expect_status 1 "EICAR FOUND by the new worker too" dl_ctl scan files/eicar.txt

dl_stop_checked
check "the loader is gone too" bash -c "! kill -0 $lpid2 2>/dev/null"
check "no scratch directory left" bash -c "[ -z \"\$(ls -A '$T_TMP/scratch' 2>/dev/null)\" ]"
# ---- a restart: the loader loads beside the definitions check ----------------
# (at the first start the check ended while the scan account was being
# created, before any loader could start)
n0=$(wc -l <"$DL_LOG")
check "ampdaemon starts again" dl_start
check "both workers become READY" dl_wait_ready 2 60
tail -n +"$((n0 + 1))" "$DL_LOG" >"$T_TMP/log1"
lpid=$(dl_status_py "s['loader']['pid']")
check "the loader started beside the definitions check" \
	grep -q "a loader starts beside the definitions check, on active/ as it is now" "$T_TMP/log1"
check "the check named its set: kept" \
	grep -q "the definitions check names the set the loader (pid $lpid) started on beside it: kept" "$T_TMP/log1"
check "it loaded once" test "$(dl_status_py "s['loader']['loads']")" = 1
expect_status 1 "EICAR is FOUND" dl_ctl scan files/eicar.txt
dl_stop_checked

# ---- the check changes the set the early loader started on ---------------------
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
dl_build_cvd defs/active/extra.cvd 5 "Ampscan.Test.Extra:0:*:$(hex AMPSCAN-EXTRA-MARKER)"
flip_byte defs/active/extra.cvd 1000
n0=$(wc -l <"$DL_LOG")
# the check pauses 1.5 s before it touches active/ (test hook), so the early
# loader surely starts on the corrupted set; without the pause a fast check
# can repair active/ first, and the loader, started on the repaired set, is
# rightly kept
export AMPSCAN_TEST_DEFS_CHECK_PAUSE_MS=1500
check "ampdaemon starts with a corrupted container in active/" dl_start
unset AMPSCAN_TEST_DEFS_CHECK_PAUSE_MS
check "both workers become READY" dl_wait_ready 2 60
tail -n +"$((n0 + 1))" "$DL_LOG" >"$T_TMP/log2"
early=$(sed -n 's/.*loader (pid \([0-9]*\)) started: loading the definitions once.*/\1/p' "$T_TMP/log2" | head -n 1)
check "a loader started beside the check" grep -q "a loader starts beside the definitions check" "$T_TMP/log2"
check "... and its pid is known" test -n "$early"
check "the check deleted the corrupted container" test ! -e defs/active/extra.cvd
check "that loader was replaced, or exited on the bad file, before serving" grep -Eq \
	"(the definitions check changed the set the loader \(pid $early\) started on: replaced|the loader started beside the definitions check \(pid $early\) exited)" \
	"$T_TMP/log2"
check "a later loader serves" test "$(dl_status_py "s['loader']['pid']")" != "$early"
check "no fault 7" test "$(dl_fault_raised 7)" = False
check "its exit is neither a crash nor a start failure" python3 -c "
import json
x = [json.loads(l) for l in open('$DL_STATE/exits.jsonl')]
k = [e.get('kind') for e in x if e.get('pid') == $early]
assert k and all(v in ('loader_stopped', 'loader_early_exit') for v in k), k"
expect_status 1 "EICAR is FOUND" dl_ctl scan files/eicar.txt
dl_stop_checked
finish
