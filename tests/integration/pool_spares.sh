#!/usr/bin/env bash
# SpareWorkers (issue 16; docs/loader.md, "Spare workers"), Engine clamav,
# WorkerLaunch loader, Workers 2, SpareWorkers 1:
#   - a spare is forked and READY besides the two slots (3 forks, 1 load);
#   - a READY worker SIGKILLed: its slot is served by the former spare
#     (the spare's pid), a new spare is forked (4 forks, 1 load), the kill
#     is a crash in the history;
#   - the spare SIGKILLed: a crash like any worker's, a new spare;
#   - a reload (a new loader): the old spare is retired, the new one is
#     forked by the new loader.
#   pool_spares.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
dl_init "$1" "$2"
cd "$T_TMP"

dl_config Engine clamav WorkerLaunch loader Workers 2 SpareWorkers 1 StableAfter 1h
check "ampdaemon starts" dl_start
check "both workers become READY" dl_wait_ready 2 60
if [ "$(dl_status_py "s['loader']['state']")" != ready ] &&
	grep -q "Landlock unavailable" "$DL_SVCLOG" 2>/dev/null; then
	dl_stop
	skip_all "the loader needs Landlock, not available here"
fi
spare_ready="len(s['spares']) == 1 and s['spares'][0]['state'] == 'ready'"
check "the spare becomes READY" dl_wait "$spare_ready" 60
check "one load, three forks (2 workers + 1 spare)" \
	test "$(dl_status_py "(s['loader']['loads'], s['loader']['forks'])")" = "(1, 3)"
lpid=$(dl_status_py "s['loader']['pid']")
spare=$(dl_status_py "s['spares'][0]['pid']")
check "the spare is not among the slots" \
	test "$(dl_status_py "$spare in [w['pid'] for w in s['workers']]")" = False
check "the spare was forked by the loader" \
	grep -q "ampscansvc\[$spare\]: ampscansvc: worker forked from the loader (pid $lpid)" "$DL_SVCLOG"

# ---- a READY worker SIGKILLed: the spare takes its slot ---------------------
slot=$(dl_status_py "s['workers'][0]['slot']")
victim=$(dl_status_py "s['workers'][0]['pid']")
kill -KILL "$victim"
check "slot $slot is served by the former spare (pid $spare)" \
	dl_wait "[w['pid'] for w in s['workers'] if w['slot'] == $slot] == [$spare] and s['workers'][0]['state'] == 'ready'" 30
check "a new spare is READY" \
	dl_wait "$spare_ready and s['spares'][0]['pid'] not in ($spare, $victim)" 60
check "still one load, four forks" \
	test "$(dl_status_py "(s['loader']['loads'], s['loader']['forks'], s['loader']['pid'])")" = "(1, 4, $lpid)"
check "the worker_ready event of slot $slot names the spare" ev_true "any(e['event'] == 'worker_ready' and e.get('worker') == $slot and e.get('pid') == $spare and 'spare' in e for e in E)"
check "the kill is a crash in the history" ev_true "any(e.get('pid') == $victim and e.get('kind') == 'crash' and e.get('signal') == 'SIGKILL' for e in X)"
expect_status 1 "EICAR is FOUND" dl_ctl scan files/eicar.txt
expect_status 1 "twice (both slots)" dl_ctl scan files/eicar.txt

# ---- the spare SIGKILLed: a crash, and a new spare --------------------------
spare2=$(dl_status_py "s['spares'][0]['pid']")
slots_before=$(dl_worker_pids)
kill -KILL "$spare2"
check "a third spare is READY" \
	dl_wait "$spare_ready and s['spares'][0]['pid'] != $spare2" 60
check "the spare's death is a crash in the history" ev_true "any(e.get('pid') == $spare2 and e.get('kind') == 'crash' for e in X)"
check "the slots kept their workers" test "$(dl_worker_pids)" = "$slots_before"
check "five forks, one load" \
	test "$(dl_status_py "(s['loader']['loads'], s['loader']['forks'])")" = "(1, 5)"

# ---- a reload: the spare of the old loader is retired -----------------------
spare3=$(dl_status_py "s['spares'][0]['pid']")
expect_status 0 "ampctl reload" dl_ctl reload
check "a new loader is READY" dl_wait "s['loader']['pid'] != $lpid and s['loader']['state'] == 'ready' and s['loader']['loads'] == 2" 60
lpid2=$(dl_status_py "s['loader']['pid']")
check "a spare of the new loader is READY" \
	dl_wait "$spare_ready and s['spares'][0]['pid'] != $spare3" 60
spare4=$(dl_status_py "s['spares'][0]['pid']")
check "forked by the new loader" \
	grep -q "ampscansvc\[$spare4\]: ampscansvc: worker forked from the loader (pid $lpid2)" "$DL_SVCLOG"
check "the old spare is gone" bash -c "! kill -0 $spare3 2>/dev/null"
check "and was stopped, not promoted" ev_true "any(e.get('pid') == $spare3 and e.get('kind') == 'stopped' for e in X)"
expect_status 1 "EICAR is FOUND after the reload" dl_ctl scan files/eicar.txt

dl_stop_checked
