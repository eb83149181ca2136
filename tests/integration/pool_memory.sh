#!/usr/bin/env bash
# The pool's memory (issue 16; docs/loader.md "Memory"), WorkerLaunch
# loader, Engine clamav, 4 workers, a set of real size's make-up (the demo
# set plus ClamAV's main.ldb, main.hdb, daily.ndb and the .fp lists from
# ../shared/testdata/real-sigs; skipped visibly when absent):
#   - loaders and workers have oom_score_adj 500, ampdaemon its own;
#   - the pool's Pss (status --json: ampdaemon + loader + workers, each
#     one's own report) is at most 1.3 x the loader's Pss right after it
#     loaded, alone (pss_at_ready: one loaded engine);
#   - those figures agree with /proc/PID/smaps_rollup read from outside;
#   - WorkerMemoryLimit: a worker made to hold 64 MiB more (test hook) is
#     retired after its request (answered FOUND), a worker_retired event,
#     replaced by a fresh fork, no crash counted; then the same with
#     WorkerLaunch exec and the demo set.
#   pool_memory.sh BUILD_DIR SOURCE_DIR SHARED_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
REAL=$3/testdata/real-sigs
[ -f "$REAL/main.ldb" ] || skip_all "shared test data absent ($REAL)"
dl_init "$1" "$2"
cd "$T_TMP"

# the demo set (canaries, EICAR) plus the real signature files
mkdir -p big
cp src/* big/
cp "$REAL"/main.ldb "$REAL"/main.hdb "$REAL"/daily.ndb "$REAL"/main.fp "$REAL"/daily.fp big/
rm -f defs/active/*
"$CVDTOOL" build defs/active/demo.cvd --from big --key keys/k.key \
	--version 11 --builder test >/dev/null
check "a definitions set with the real signature files" test -s defs/active/demo.cvd

# ReadyTimeout and LoadTimeout: compiling main.ldb on a busy machine
dl_config Engine clamav WorkerLaunch loader Workers 4 StableAfter 1h \
	WorkerMemoryLimit 40M ReadyTimeout 120s LoadTimeout 600s \
	MetricsFile "$T_TMP/metrics.prom"
check "ampdaemon starts" dl_start
check "4 workers become READY (forked by the loader)" dl_wait_ready 4 600
if [ "$(dl_status_py "s['loader']['state']")" != ready ] &&
	grep -q "Landlock unavailable" "$DL_SVCLOG" 2>/dev/null; then
	dl_stop
	skip_all "the loader needs Landlock, not available here"
fi
t_ready=$(date +%s%3N)
lpid=$(dl_status_py "s['loader']['pid']")

# ---- OOM scores ---------------------------------------------------------------
check "the loader's oom_score_adj is 500" test "$(cat /proc/$lpid/oom_score_adj)" = 500
for p in $(dl_worker_pids); do
	check "worker $p's oom_score_adj is 500" test "$(cat /proc/$p/oom_score_adj)" = 500
done
check "ampdaemon's is its own (below the workers')" test "$(cat /proc/$DL_PID/oom_score_adj)" -lt 500

# ---- the pool's Pss -------------------------------------------------------------
check "every process has reported since all were READY" \
	dl_wait "s['memory']['unreported'] == 0 and s['memory']['oldest_at_ms'] > $t_ready" 30
expect_status 1 "EICAR is FOUND" dl_ctl scan files/eicar.txt
dl_ctl status --json >status.json
read -r pool one lpss wpss apss wpriv < <(python3 -c "
import json
s = json.load(open('status.json'))
m = s['memory']
print(m['pool_pss'], s['loader']['pss_at_ready'], m['loaders_pss'], m['workers_pss'], m['ampdaemon_pss'], m['workers_private'])")
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo "# one engine (the loader alone, at READY): $(mib "$one"); pool Pss $(mib "$pool") (ampdaemon $(mib "$apss"), loader $(mib "$lpss"), 4 workers $(mib "$wpss"), their private memory $(mib "$wpriv"))"
check "the engine dominates (one engine above 60 MiB)" test "$one" -gt $((60 << 20))
# The ratio is the release build's: under ASan each forked worker grows its
# own shadow memory and allocator state (96 MiB private for 4 workers,
# against 9 MiB in the plain build), which says nothing of the sharing.
# The plain build (tools/check runs both) holds the 1.3x bound.
if nm -D "$AMPDAEMON" 2>/dev/null | grep -q __asan_init; then
	echo "# SKIP: pool Pss <= 1.3 x one engine (an ASan build; checked in the plain build): $(awk -v p="$pool" -v o="$one" 'BEGIN { printf "%.2f", p / o }')x here"
else
	check "pool Pss <= 1.3 x one engine" awk -v p="$pool" -v o="$one" 'BEGIN { exit !(p <= 1.3 * o) }'
fi
# from outside, as root: the same processes' smaps_rollup, summed
proc_pss() {
	local p t=0 v
	for p in "$@"; do
		v=$(awk '/^Pss:/ { print $2 * 1024 }' "/proc/$p/smaps_rollup")
		t=$((t + v))
	done
	echo "$t"
}
outside=$(proc_pss "$DL_PID" "$lpid" $(dl_worker_pids))
echo "# /proc from outside: $(mib "$outside")"
check "the reported pool Pss agrees with /proc (within 10%)" \
	awk -v p="$pool" -v o="$outside" 'BEGIN { d = p - o; if (d < 0) d = -d; exit !(d <= 0.1 * o) }'
metrics_has() {
	local i
	for i in $(seq 300); do
		grep -Eq "$1" "$T_TMP/metrics.prom" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
check "the metrics file has the pool's Pss" metrics_has '^ampscan_pool_pss_bytes [1-9][0-9]*$'
check "and each worker's private memory" metrics_has '^ampscan_worker_private_bytes\{worker="[0-9]+"\} [0-9]+$'


# ---- WorkerMemoryLimit --------------------------------------------------------------
hog_test() {
	local what=$1 n=$2 before victim
	{ cat files/eicar.txt; printf '\nAMPSCAN-TEST-HOG-MARKER\n'; } >files/hog.txt
	chmod 644 files/hog.txt
	before=$(dl_status_py "s['memory']['retired']")
	# the idle workers' figures, old enough: the hog's SCAN asks for MEM
	sleep 1.2
	expect_status 1 "$what: the hog request is answered (FOUND)" dl_ctl scan files/hog.txt
	check "$what: a worker_retired event (reason memory)" \
		ev_wait "any(e['event'] == 'worker_retired' and e.get('reason') == 'memory' for e in E)" 30
	victim=$(evq "[e['pid'] for e in E if e['event'] == 'worker_retired'][-1]")
	check "$what: its exit is a stop, retired for memory, not a crash" ev_wait \
		"any(x.get('pid') == $victim and x.get('kind') == 'stopped' and x.get('retired') == 'memory' for x in X) and not any(x.get('pid') == $victim and x.get('kind') == 'crash' for x in X)" 20
	check "$what: replaced: $n READY, none of them the retired one" \
		dl_wait "len([w for w in s['workers'] if w['state'] == 'ready' and w['pid'] != $victim]) >= $n" 120
	check "$what: counted (status memory.retired)" \
		test "$(dl_status_py "s['memory']['retired']")" = $((before + 1))
	check "$what: no crash counted" test "$(evq "len([x for x in X if x.get('kind') == 'crash'])")" = 0
	check "$what: ampdaemon.log says why" grep -q "past WorkerMemoryLimit" "$DL_LOG"
}
hog_test loader 4
check "the replacement was forked, not loaded" test "$(dl_status_py "s['loader']['loads']")" = 1
dl_stop_checked

# exec: the demo set again, one worker
rm -f defs/active/*
"$CVDTOOL" build defs/active/demo.cvd --from src --key keys/k.key \
	--version 12 --builder test >/dev/null
dl_config Engine clamav WorkerLaunch exec Workers 1 StableAfter 1h WorkerMemoryLimit 40M
: >"$DL_LOG"
check "ampdaemon starts (WorkerLaunch exec)" dl_start
check "its worker becomes READY" dl_wait_ready 1 120
check "an exec'd worker's oom_score_adj is 500" test "$(cat /proc/$(dl_worker_pids)/oom_score_adj)" = 500
check "exec: its memory is reported" dl_wait "s['workers'][0]['memory'] is not None and s['workers'][0]['memory']['private'] > 0" 30
hog_test exec 1
dl_stop_checked
finish
