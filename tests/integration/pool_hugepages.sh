#!/usr/bin/env bash
# LoaderHugePages (docs/loader.md, "Huge pages"), WorkerLaunch loader:
#   - yes (the default), Engine clamav, 2 workers and a spare, a scan loop
#     running throughout: the loader says READY before it collapses
#     (READY's line precedes the huge pages line); ampdaemon asks for the
#     collapse (loader_collapse asked) and the loader answers COLLAPSED
#     (loader_collapsed, after loader_ready); its line says what it
#     collapsed or why not (no THP, THP never, no MADV_COLLAPSE: then the
#     page and re-fork checks are skipped, visibly); every eligible 2 MiB
#     chunk is collapsed or counted failed; status's huge_pages_mb is the
#     line's; then every worker and spare forked before COLLAPSED is
#     retired (worker_retired reason huge_pages, its exit `retired`
#     huge_pages) and replaced by a fork of the same loader (loads and the
#     loader's pid unchanged; the pids change); no scan of the loop fails;
#     a SIGKILLed worker's replacement detects too;
#   - a fake low MemAvailable (AMPSCAN_TEST_MEMAVAILABLE_FILE): no
#     COLLAPSE, the log says why, no worker is retired;
#   - no: the log says it is off, nothing asked, huge_pages_mb 0;
#   - Engine builtin: its loader logs the line too (its index is a file
#     mapping: little or nothing to collapse), and workers detect.
# No times are asserted.
#   pool_hugepages.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
dl_init "$1" "$2"
cd "$T_TMP"

FAKE=$T_TMP/memavailable
export AMPSCAN_TEST_MEMAVAILABLE_FILE=$FAKE
# test builds: 32 MiB more in the loader, something to collapse whatever
# the address layout (the test engine alone is small)
export AMPSCAN_TEST_LOADER_BALLAST_MB=32

# the loader's line: "... loader: huge pages: WHAT" for pid $1
hp_line() {
	grep "ampscansvc\[$1\]: ampscansvc: loader: huge pages: " "$DL_SVCLOG" | tail -1
}

# the line number in ampscansvc.log of pid $1's first line matching $2
svc_lineno() {
	grep -n "ampscansvc\[$1\]: .*$2" "$DL_SVCLOG" | head -1 | cut -d: -f1
}

start_pool() {  # start_pool KEY VALUE...: 2 workers forked from a READY loader
	dl_config Engine clamav WorkerLaunch loader Workers 2 StableAfter 1h \
		LoadTimeout 120s LoaderHugePages yes "$@"
	check "ampdaemon starts ($*)" dl_start
	check "both workers become READY ($*)" dl_wait_ready 2 120
	if [ "$(dl_status_py "s['loader']['state']")" != ready ] &&
		grep -q "Landlock unavailable" "$DL_SVCLOG" 2>/dev/null; then
		dl_stop
		skip_all "the loader needs Landlock, not available here"
	fi
	lpid=$(dl_status_py "s['loader']['pid']")
}

# a scan loop in the background: one line per scan, "rc"
scan_loop() {
	while [ ! -e "$T_TMP/scan.stop" ]; do
		rc=0
		"$AMPCTL" --socket "$DL_CTL" scan files/eicar.txt >/dev/null 2>&1 || rc=$?
		echo "$rc" >>"$T_TMP/scan.rcs"
	done
}

# ---- LoaderHugePages yes (the default) ----------------------------------------
rm -f "$FAKE" "$T_TMP/scan.stop" "$T_TMP/scan.rcs"
dl_config Engine clamav WorkerLaunch loader Workers 2 SpareWorkers 1 LoaderHugePages yes \
	StableAfter 1h LoadTimeout 120s
check "ampdaemon starts" dl_start
scan_loop &
loop_pid=$!
check "both workers become READY" dl_wait_ready 2 120
if [ "$(dl_status_py "s['loader']['state']")" != ready ] &&
	grep -q "Landlock unavailable" "$DL_SVCLOG" 2>/dev/null; then
	touch "$T_TMP/scan.stop"; wait "$loop_pid"
	dl_stop
	skip_all "the loader needs Landlock, not available here"
fi
lpid=$(dl_status_py "s['loader']['pid']")
check "ampdaemon asked for the collapse (loader_collapse, asked)" \
	ev_wait "any(e['event'] == 'loader_collapse' and e.get('asked') for e in E)" 60
check "the loader answered COLLAPSED (loader_collapsed)" \
	ev_wait "any(e['event'] == 'loader_collapsed' for e in E)" 120
check "loader_ready comes before loader_collapsed" ev_true \
	"[e['event'] for e in E if e['event'] in ('loader_ready', 'loader_collapsed')] == ['loader_ready', 'loader_collapsed']"
line=$(hp_line "$lpid")
echo "# $line"
check "the loader logged what it did with huge pages" test -n "$line"
rl=$(svc_lineno "$lpid" "loader READY")
hl=$(svc_lineno "$lpid" "loader: huge pages: ")
check "its READY line comes before its huge pages line ($rl < $hl)" test "${rl:-0}" -gt 0 -a "${rl:-0}" -lt "${hl:-0}"
check "ampdaemon.log says it asked while the loader serves" \
	grep -q "loader (pid $lpid): collapsing its engine into huge pages while it serves" "$DL_LOG"
refork=$(evq "[e.get('refork') for e in E if e['event'] == 'loader_collapsed'][0]")
case $line in
*"huge pages: not available"* | *"huge pages: off: "*)
	echo "# SKIP: transparent huge pages or MADV_COLLAPSE not available here: the page and re-fork checks are skipped"
	check "then nothing is reported collapsed" \
		test "$(dl_status_py "s['loader']['huge_pages_mb']")" = 0
	check "and no re-fork" test "$refork" = False
	;;
*)
	read -r got elig failed < <(echo "$line" |
		sed -n 's/.*huge pages: \([0-9]*\) MiB of \([0-9]*\) MiB collapsed into 2 MiB pages, \([0-9]*\) chunks failed, in .*/\1 \2 \3/p')
	check "the line has its figures" test -n "$elig"
	# the small test engine's heap spans a 2 MiB-aligned range only with
	# some address layouts (ASLR): 0 eligible is possible, and said so
	if [ "${elig:-0}" -eq 0 ]; then
		echo "# SKIP: no 2 MiB-aligned range in this loader's small engine (address layout): nothing to collapse"
	fi
	if ! echo "$line" | grep -q "stopped at its time bound"; then
		check "every eligible chunk is collapsed or counted failed ($got + 2 x $failed = $elig)" \
			test $((got + 2 * failed)) = "${elig:--1}"
	fi
	check "status --json: loader.huge_pages_mb is the line's" \
		test "$(dl_status_py "s['loader']['huge_pages_mb']")" = "$got"
	ahp=$(awk '/^AnonHugePages:/ { print $2 }' "/proc/$lpid/smaps_rollup")
	echo "# the loader's AnonHugePages: ${ahp} kB"
	if [ "${got:-0}" -gt 0 ]; then
		check "the loader's AnonHugePages is not 0 (${ahp} kB)" test "${ahp:-0}" -gt 0
	else
		echo "# SKIP: nothing collapsed (${failed} chunks failed): no AnonHugePages check"
	fi
	if [ "$refork" = True ]; then
		# forked before COLLAPSED: the worker_started events before it
		pre="sorted(e['pid'] for e in E[:[i for i, e in enumerate(E) if e['event'] == 'loader_collapsed'][0]] if e['event'] == 'worker_started')"
		ret="sorted(e['pid'] for e in E if e['event'] == 'worker_retired' and e.get('reason') == 'huge_pages')"
		check "every worker and spare forked before COLLAPSED is retired (huge_pages)" \
			ev_wait "len($pre) >= 1 and $pre == $ret" 120
		check "... each exit 'stopped', retired huge_pages" ev_true \
			"sorted(x['pid'] for x in X if x.get('retired') == 'huge_pages' and x.get('kind') == 'stopped') == $ret"
		check "the pool is whole again, none of them left" dl_wait \
			"sum(w['state'] == 'ready' for w in s['workers']) >= 2 and not set(w['pid'] for w in s['workers'] + s.get('spares', [])) & set($(evq "$ret"))" 120
		check "the log says why they were retired" \
			grep -q "was forked before the loader's engine was collapsed into huge pages: retired" "$DL_LOG"
	else
		echo "# SKIP: nothing collapsed: no re-fork"
		check "no worker retired for huge pages" \
			ev_true "not any(e.get('reason') == 'huge_pages' for e in E)"
	fi
	;;
esac
check "the same loader: its pid unchanged" test "$(dl_status_py "s['loader']['pid']")" = "$lpid"
check "... loaded once (loads 1)" test "$(dl_status_py "s['loader']['loads']")" = 1
touch "$T_TMP/scan.stop"
wait "$loop_pid"
nscans=$(wc -l <"$T_TMP/scan.rcs")
echo "# $nscans scans ran during the collapse and re-fork"
check "the scan loop ran" test "$nscans" -gt 0
check "every scan of the loop found EICAR (exit 1)" bash -c "! grep -qv '^1\$' '$T_TMP/scan.rcs'"
expect_status 1 "EICAR is FOUND" dl_ctl scan files/eicar.txt
check "by libclamav's name" grep -q "files/eicar.txt: Eicar-Test-Signature.*FOUND" "$T_TMP/out"
expect_status 0 "a clean file is OK" dl_ctl scan files/clean.txt
victim=$(dl_status_py "[w['pid'] for w in s['workers'] if w['state'] == 'ready'][0]")
kill -KILL "$victim"
check "its replacement is READY" dl_wait "len([w for w in s['workers'] if w['state'] == 'ready' and w['pid'] != $victim]) >= 2" 60
check "forked by the same loader" test "$(dl_status_py "s['loader']['pid']")" = "$lpid"
expect_status 1 "EICAR is FOUND after the replacement" dl_ctl scan files/eicar.txt
expect_status 1 "... and again (both workers)" dl_ctl scan files/eicar.txt
dl_stop_checked

# ---- too little memory for a second engine: no collapse -------------------------
echo 1 >"$FAKE"
: >"$DL_STATE/events.jsonl"
start_pool
check "ampdaemon decided against it (loader_collapse, not asked)" \
	ev_wait "any(e['event'] == 'loader_collapse' and e.get('asked') is False for e in E)" 60
check "the log says why" grep -q "loader (pid $lpid): its engine is not collapsed into huge pages: MemAvailable (0 MiB) cannot hold a second engine" "$DL_LOG"
check "no COLLAPSED, no worker retired" ev_true \
	"not any(e['event'] == 'loader_collapsed' or e.get('reason') == 'huge_pages' for e in E)"
check "the loader logged no huge pages line" test -z "$(hp_line "$lpid")"
check "nothing reported collapsed" test "$(dl_status_py "s['loader']['huge_pages_mb']")" = 0
expect_status 1 "EICAR is FOUND" dl_ctl scan files/eicar.txt
dl_stop_checked
rm -f "$FAKE"

# ---- LoaderHugePages no ---------------------------------------------------------
start_pool LoaderHugePages no
check "the loader says huge pages are off" \
	grep -q "ampscansvc\[$lpid\]: ampscansvc: loader: huge pages: off (LoaderHugePages no)" "$DL_SVCLOG"
check "nothing reported collapsed" test "$(dl_status_py "s['loader']['huge_pages_mb']")" = 0
check "nothing asked" ev_true "not any(e['event'] == 'loader_collapse' and e['pid'] == $lpid for e in E)"
expect_status 1 "EICAR is FOUND" dl_ctl scan files/eicar.txt
dl_stop_checked

# ---- Engine builtin: the same line --------------------------------------------
start_pool Engine builtin
check "the builtin engine's loader answered COLLAPSED" \
	ev_wait "any(e['event'] == 'loader_collapsed' and e['pid'] == $lpid for e in E)" 60
line=$(hp_line "$lpid")
echo "# $line"
check "the builtin engine's loader logged its huge pages line" test -n "$line"
expect_status 1 "EICAR is FOUND" dl_ctl scan files/eicar.txt
dl_stop_checked

finish
