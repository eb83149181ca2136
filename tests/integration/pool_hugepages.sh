#!/usr/bin/env bash
# LoaderHugePages (docs/loader.md, "Huge pages"), WorkerLaunch loader:
#   - yes (the default), Engine clamav: the loader logs one line saying
#     what it collapsed (MiB of MiB eligible, chunks failed, time) or why
#     not (no THP, THP never, no MADV_COLLAPSE: then the page checks are
#     skipped, visibly); every eligible 2 MiB chunk is either collapsed or
#     counted failed; status --json's loader.huge_pages_mb is the line's;
#     where something was collapsed the loader's AnonHugePages is not 0;
#     the workers still detect EICAR, and a SIGKILLed worker's replacement
#     (a fork of the collapsed engine) too;
#   - no: the log says it is off, huge_pages_mb 0, workers detect;
#   - Engine builtin: its loader logs the line too (its index is a file
#     mapping: little or nothing to collapse), and workers detect.
# No times are asserted.
#   pool_hugepages.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
dl_init "$1" "$2"
cd "$T_TMP"

# the loader's line: "... loader: huge pages: WHAT" for pid $1
hp_line() {
	grep "ampscansvc\[$1\]: ampscansvc: loader: huge pages: " "$DL_SVCLOG" | tail -1
}

start_pool() {  # start_pool KEY VALUE...: 2 workers forked from a READY loader
	dl_config Engine clamav WorkerLaunch loader Workers 2 StableAfter 1h \
		LoadTimeout 120s "$@"
	check "ampdaemon starts ($*)" dl_start
	check "both workers become READY ($*)" dl_wait_ready 2 120
	if [ "$(dl_status_py "s['loader']['state']")" != ready ] &&
		grep -q "Landlock unavailable" "$DL_SVCLOG" 2>/dev/null; then
		dl_stop
		skip_all "the loader needs Landlock, not available here"
	fi
	lpid=$(dl_status_py "s['loader']['pid']")
}

# ---- LoaderHugePages yes (the default) ----------------------------------------
start_pool Engine clamav
line=$(hp_line "$lpid")
echo "# $line"
check "the loader logged what it did with huge pages" test -n "$line"
case $line in
*"huge pages: not available"* | *"huge pages: off: "*)
	echo "# SKIP: transparent huge pages or MADV_COLLAPSE not available here: the page checks are skipped"
	check "then nothing is reported collapsed" \
		test "$(dl_status_py "s['loader']['huge_pages_mb']")" = 0
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
	;;
esac
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

# ---- LoaderHugePages no ---------------------------------------------------------
start_pool LoaderHugePages no
check "the loader says huge pages are off" \
	grep -q "ampscansvc\[$lpid\]: ampscansvc: loader: huge pages: off (LoaderHugePages no)" "$DL_SVCLOG"
check "nothing reported collapsed" test "$(dl_status_py "s['loader']['huge_pages_mb']")" = 0
expect_status 1 "EICAR is FOUND" dl_ctl scan files/eicar.txt
dl_stop_checked

# ---- Engine builtin: the same line --------------------------------------------
start_pool Engine builtin
line=$(hp_line "$lpid")
echo "# $line"
check "the builtin engine's loader logged its huge pages line" test -n "$line"
expect_status 1 "EICAR is FOUND" dl_ctl scan files/eicar.txt
dl_stop_checked

finish
