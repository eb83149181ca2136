#!/usr/bin/env bash
# SpareWorkers (issue 16; docs/loader.md, "Spare workers"), Engine clamav,
# WorkerLaunch loader, Workers 2, SpareWorkers 1 (the default is 0),
# CrashThreshold 2:
#   - a spare is forked and READY besides the two slots (3 forks, 1 load),
#     counted in the pool's memory (processes);
#   - a READY worker SIGKILLed: its slot is served by the former spare
#     (the spare's pid; worker_ready with spare true; the log says the
#     spare took the slot, not "restarting in"), a new spare is forked
#     (4 forks, 1 load), the kill is a crash in the history, fault 6 not
#     yet raised;
#   - the spare SIGKILLed: a crash like any worker's (kind, signal, spare),
#     the second crash: fault 6 raised; a new spare;
#   - a reload (a new loader) and an update's rollover (the candidate's
#     loader): the old spare is retired (stopped), never promoted, the
#     new one is forked by the new loader;
#   - ampdaemon's stop stops the spare;
#   - WorkerLaunch exec: SpareWorkers is ignored, with a log line.
#   pool_spares.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
dl_init "$1" "$2"
cd "$T_TMP"

mkdir -p v11
dl_build_cvd "$T_TMP/v11/demo.cvd" 11

dl_config Engine clamav WorkerLaunch loader Workers 2 SpareWorkers 1 StableAfter 1h \
	CrashThreshold 2 CrashWindow 1h
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
check "the spare is in the pool's memory (ampdaemon, loader, 2 workers, spare)" \
	dl_wait "s['memory']['processes'] == 5 and s['memory']['unreported'] == 0" 20
check "ampctl status (text) shows the spare" bash -c "timeout 10 '$AMPCTL' --socket '$DL_CTL' status | grep -q 'spare 5: ready, pid $spare'"
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
check "the worker_ready event has spare true" ev_true "any(e['event'] == 'worker_ready' and e.get('worker') == $slot and e.get('pid') == $spare and e.get('spare') is True and e['start_ms'] == 0 for e in E)"
check "the kill is a crash in the history" ev_true "any(e.get('pid') == $victim and e.get('kind') == 'crash' and e.get('signal') == 'SIGKILL' and e.get('spare_pid') == $spare for e in X)"
check "the log says the spare took the slot" \
	grep -q "worker $slot (pid $victim) crashed: SIGKILL after .*; spare 5 (pid $spare) takes the slot" "$DL_LOG"
check "and not that the slot restarts" bash -c "! grep -q 'pid $victim) crashed.*restarting in' '$DL_LOG'"
check "one crash: fault 6 not raised yet" ev_true "not any(e['event'] == 'fault_raised' and e.get('fault') == 6 for e in E)"
expect_status 1 "EICAR is FOUND" dl_ctl scan files/eicar.txt
expect_status 1 "twice (both slots)" dl_ctl scan files/eicar.txt

# ---- the spare SIGKILLed: a crash, and a new spare --------------------------
spare2=$(dl_status_py "s['spares'][0]['pid']")
slots_before=$(dl_worker_pids)
kill -KILL "$spare2"
check "a third spare is READY" \
	dl_wait "$spare_ready and s['spares'][0]['pid'] != $spare2" 60
check "the spare's death is a crash in the history" ev_true "any(e.get('pid') == $spare2 and e.get('kind') == 'crash' and e.get('signal') == 'SIGKILL' and e.get('spare') is True for e in X)"
check "it counts toward CrashThreshold: fault 6 raised" ev_wait "any(e['event'] == 'fault_raised' and e.get('fault') == 6 for e in E)" 10
check "the log names the spare's crash" grep -q "spare worker 5 (pid $spare2) crashed: SIGKILL .*; a new spare in" "$DL_LOG"
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
check "the old spare never took a slot" ev_true "not any(e['event'] == 'worker_ready' and e.get('pid') == $spare3 and e.get('spare') for e in E)"
expect_status 1 "EICAR is FOUND after the reload" dl_ctl scan files/eicar.txt

# ---- an update's rollover: the spare of the old loader is retired -----------
expect_status 0 "ampctl update demo-11: activated" dl_ctl update "$T_TMP/v11/demo.cvd"
check "workers READY on demo 11" dl_wait "sum(w['state'] == 'ready' for w in s['workers']) == 2 and [d['version'] for d in s['definitions']['databases']] == [11]" 60
lpid3=$(dl_status_py "s['loader']['pid']")
check "the candidate's loader serves" test "$lpid3" != "$lpid2"
check "a spare of the new loader is READY" \
	dl_wait "$spare_ready and s['spares'][0]['pid'] != $spare4" 60
spare5=$(dl_status_py "s['spares'][0]['pid']")
check "forked by the candidate's loader" \
	grep -q "ampscansvc\[$spare5\]: ampscansvc: worker forked from the loader (pid $lpid3)" "$DL_SVCLOG"
check "the old spare was stopped, never promoted" ev_wait "any(e.get('pid') == $spare4 and e.get('kind') == 'stopped' for e in X) and not any(e['event'] == 'worker_ready' and e.get('pid') == $spare4 and e.get('spare') for e in E)" 20
# a slot's worker killed now is served by the new loader's spare
victim=$(dl_status_py "s['workers'][0]['pid']")
kill -KILL "$victim"
check "the new set's spare takes the slot" \
	dl_wait "s['workers'][0]['pid'] == $spare5 and s['workers'][0]['state'] == 'ready'" 30
spare6=""
dl_wait "$spare_ready and s['spares'][0]['pid'] != $spare5" 60 &&
	spare6=$(dl_status_py "s['spares'][0]['pid']")
check "a new spare after that" test -n "$spare6"

# ---- the stop stops the spare -----------------------------------------------
dl_stop_checked
check "the spare is gone" bash -c "! kill -0 $spare6 2>/dev/null"
check "it was stopped" ev_true "any(e.get('pid') == $spare6 and e.get('kind') == 'stopped' for e in X)"

# ---- WorkerLaunch exec: no spares --------------------------------------------
t_fresh
dl_config WorkerLaunch exec Workers 2 SpareWorkers 1 StableAfter 1h
check "ampdaemon starts (exec)" dl_start
check "both workers become READY (exec)" dl_wait_ready 2 60
check "SpareWorkers is logged as ignored" grep -q "SpareWorkers 1 is ignored: WorkerLaunch exec" "$DL_LOG"
check "no spares" test "$(dl_status_py "s['spares']")" = "[]"
check "two workers started, no more" test "$(dl_events_count worker_started)" = 2
dl_stop_checked
