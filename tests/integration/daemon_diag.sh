#!/usr/bin/env bash
# ampctl diag (issue 7) against a real ampdaemon:
#   - a crash loop of kills by signal (SIGSEGV, SIGABRT; no file in flight):
#     the diagnosis names the signals and counts, fault 6 and its window,
#     verdict degraded (exit 1) while raised, healthy (0) once cleared;
#   - a crash loop on the test crash marker through ampctl scan: the file
#     in flight, SIGSEGV, the definitions version, poison, and once fault 6
#     needs intervention, verdict 2;
#   - online diag (control socket) equals offline diag (--state-dir, after
#     stopping the daemon), JSON minus "generated";
#   - a bundle round-trips: diag --state-dir on the unpacked bundle gives
#     the same diagnosis (minus "generated" and "sources");
#   - damaged exits.jsonl/events.jsonl (torn last line, unknown event type,
#     garbage) still diagnose, with the "could not read" section.
#   daemon_diag.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
dl_init "$1" "$2"
cd "$T_TMP"

t_slot_pid() {
	dl_status_py "([w['pid'] for w in s['workers'] if w['slot'] == $1 and w['state'] == 'ready' and w['pid'] > 0] + [0])[0]"
}
# diag_json FILE ARGS...: ampctl diag --json ARGS into FILE; sets D_RC
diag_json() {
	local f=$1; shift
	D_RC=0
	if [ "${1:-}" = --socket ] || [ "${1:-}" = --config ]; then
		timeout 60 "$AMPCTL" "$@" diag --json >"$f" 2>"$T_TMP/diag.err" || D_RC=$?
	else
		timeout 60 "$AMPCTL" diag --json "$@" >"$f" 2>"$T_TMP/diag.err" || D_RC=$?
	fi
}
# dq FILE 'EXPR': EXPR on the diagnosis J
dq() {
	python3 - "$1" "$2" <<'PY' 2>&1
import json, sys
J = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))
PY
}
dq_true() { local r; r=$(dq "$1" "$2"); [ "$r" = True ] || { echo "    got: $r"; return 1; }; }
# same_json A B [KEY...]: equal minus "generated" and the KEYs
same_json() {
	python3 - "$@" <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
for k in ['generated'] + sys.argv[3:]:
    a.pop(k, None); b.pop(k, None)
if a != b:
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            print('    differs:', k, json.dumps(a.get(k))[:300], '|', json.dumps(b.get(k))[:300])
    sys.exit(1)
PY
}

printf 'some text\nAMPSCAN-TEST-CRASH-MARKER\nmore text\n' >files/crash.txt
chmod 644 files/crash.txt

# ==== kills by signal ====================================================================
echo "# kills by signal: SIGSEGV x3, SIGABRT x1"
dl_config CreateScanUser yes CrashThreshold 3 CrashWindow 60s RestartDelayMin 20ms \
	RestartDelayMax 100ms StableAfter 4s InterventionAfter 1h ReadyTimeout 10s
check "ampdaemon starts" dl_start
check "both workers READY" dl_wait_ready 2
diag_json d0.json --socket "$DL_CTL"
check "before any crash: healthy, exit 0" test "$D_RC" = 0
check "verdict healthy, no crash" dq_true d0.json "J['verdict'] == 'healthy' and J['crashes']['count'] == 0 and J['schema'] == 'ampscan-diag/1'"
check "ampctl says it went online" grep -q "online" "$T_TMP/diag.err"
last=0
for sig in SEGV SEGV ABRT SEGV; do
	dl_wait "any(w['slot'] == 1 and w['state'] == 'ready' and w['pid'] not in (0, $last) for w in s['workers'])" 15
	last=$(t_slot_pid 1)
	kill -$sig "$last"
done
check "fault 6 raised" dl_wait "any(f['id'] == 6 for f in s['faults'])" 10
dl_wait_ready 2
diag_json d1.json --socket "$DL_CTL"
check "fault 6 raised: degraded, exit 1" test "$D_RC" = 1
check "verdict degraded, fault 6 active" dq_true d1.json "J['verdict'] == 'degraded' and [f['id'] for f in J['faults']] == [6]"
check "4 crashes: SIGSEGV x3, SIGABRT x1" dq_true d1.json "J['crashes']['count'] == 4 and {g['signal']: g['count'] for g in J['crashes']['by_signal']} == {'SIGSEGV': 3, 'SIGABRT': 1}"
check "no file in flight, said in the sentence" dq_true d1.json "J['crashes']['no_file'] == 4 and 'no file in flight' in J['crashes']['sentence']"
check "the definitions version: demo:10" dq_true d1.json "[(g['definitions'], g['count']) for g in J['crashes']['by_definitions']] == [('demo:10', 4)]"
check "the timeline: 4 crashes of worker 1 with pids, signals, restart delays" \
	dq_true d1.json "[(e['worker'], e['kind']) for e in J['timeline']] == [(1, 'crash')] * 4 and [e['signal'] for e in J['timeline']] == ['SIGSEGV', 'SIGSEGV', 'SIGABRT', 'SIGSEGV'] and all(e['restart_delay_ms'] is not None for e in J['timeline'])"
check "fault 6 window: raised, still open" dq_true d1.json "[(h['fault'], h['cleared']) for h in J['fault_history']] == [(6, None)]"
check "each crash comes with ampdaemon.log lines naming its pid" \
	dq_true d1.json "all(any('(pid %d)' % e['pid'] in l for l in e['daemon_log']) for e in J['timeline'])"
check "fault 6 cleared after StableAfter" ev_wait "any(e['event'] == 'fault_cleared' and e.get('fault') == 6 for e in E)" 15
diag_json d2.json --socket "$DL_CTL"
check "cleared: healthy, exit 0" test "$D_RC" = 0
check "fault 6 window: raised, cleared, lasted >= 4 s" \
	dq_true d2.json "[(h['fault'], h['cleared'] is not None, h['duration_ms'] >= 4000, h['cleared_detail']) for h in J['fault_history']] == [(6, True, True, 'no crash for 4 s')]"
timeout 60 "$AMPCTL" --socket "$DL_CTL" diag >"$T_TMP/d2.txt" 2>/dev/null
check "text: verdict line and the grouping sentence" \
	bash -c "grep -q 'VERDICT: HEALTHY (exit status 0)' '$T_TMP/d2.txt' && grep -q 'crashes happened with no file in flight (SIGSEGV x3, SIGABRT x1)' '$T_TMP/d2.txt'"
diag_json d3.json --socket "$DL_CTL" 
timeout 60 "$AMPCTL" --socket "$DL_CTL" diag --json --since 2099-01-01T00:00:00Z >since.json 2>/dev/null
check "--since in the future: no crash in the window" dq_true since.json "J['crashes']['count'] == 0 and J['timeline'] == []"

# ==== the crash marker ===================================================================
echo "# the crash marker through ampctl scan"
t_fresh
dl_config CreateScanUser yes CrashThreshold 2 CrashWindow 60s StableAfter 1h \
	InterventionAfter 2s PoisonThreshold 2 ReadyTimeout 10s
check "ampdaemon starts" dl_start
check "both workers READY" dl_wait_ready 2
t_scan files/crash.txt
check "the crash file is poison" grep -q "poison file" "$T_TMP/out"
check "intervention_required" ev_wait "any(e['event'] == 'intervention_required' for e in E)" 20
dl_wait_ready 2
diag_json on.json --socket "$DL_CTL"
check "needs intervention: exit 2" test "$D_RC" = 2
check "verdict intervention, fault 6 marked" dq_true on.json "J['verdict'] == 'intervention' and [(f['id'], f['intervention']) for f in J['faults']] == [(6, True)]"
check "the sentence: both crashes while scanning crash.txt (SIGSEGV x2), definitions demo:10" \
	dq_true on.json "J['crashes']['sentence'] == 'Both 2 crashes happened while scanning $T_TMP/files/crash.txt (SIGSEGV x2), all with definitions demo:10.'"
check "by file: crash.txt x2" dq_true on.json "[(g['file'], g['count'], g['signals']) for g in J['crashes']['by_file']] == [('$T_TMP/files/crash.txt', 2, {'SIGSEGV': 2})]"
check "the poison file with its identity and crashes" \
	dq_true on.json "[(p['path'], p['crashes'], p['poison'], p['sha256']) for p in J['poison']] == [('$T_TMP/files/crash.txt', 2, True, '$(sha256sum files/crash.txt | cut -d' ' -f1)')]"
check "fault 6 explanation and remedy from the catalogue" dq_true on.json "'crash.txt' in J['faults'][0]['explanation'] and len(J['faults'][0]['remedy']) > 20"
check "the active definitions: demo.cvd version 10" dq_true on.json "[(d['name'], d['version']) for d in J['definitions']['active']] == [('demo.cvd', 10)]"
check "nothing unreadable" dq_true on.json "J['unreadable'] == []"
# online == offline
dl_stop
diag_json off.json --state-dir "$DL_STATE"
check "offline (--state-dir, daemon stopped): exit 2 as online" test "$D_RC" = 2
check "ampctl says it went offline" grep -q "offline" "$T_TMP/diag.err"
# (minus loader: offline, its last exit is its stop with ampdaemon's)
check "offline diagnosis == online diagnosis (minus generated)" same_json on.json off.json loader
check "offline: the loader's last exit is its stop" \
	dq_true off.json "J['loader']['last_exit']['kind'] == 'loader_stopped'"

diag_json off2.json --config "$DL_CONF"
check "daemon unreachable: falls back to offline (configuration's directories)" \
	bash -c "grep -q 'cannot be reached' '$T_TMP/diag.err' && test '$D_RC' = 2"
check "... with the same diagnosis" same_json on.json off2.json loader

# ==== the bundle ===========================================================================
echo "# the bundle"
timeout 60 "$AMPCTL" diag --state-dir "$DL_STATE" --bundle "$T_TMP/b.tar.gz" >b.txt 2>b.err
check "bundle written" test -s b.tar.gz
check "mode 0600" test "$(stat -c %a b.tar.gz)" = 600
mkdir -p unpacked && tar xzf b.tar.gz -C unpacked
B=$(echo unpacked/ampscan-diag-*)
check "bundle holds state, logs, configuration, the diagnosis" bash -c "cd '$B' && test -f state/events.jsonl -a -f state/exits.jsonl -a -f state/faults.state -a -f state/poison.state -a -f log/ampdaemon.log -a -f ampdaemon.conf -a -f diag.txt -a -f diag.json -a -f defs/active/demo.cvd"
check "no private key in it" bash -c "! tar tzf b.tar.gz | grep -q '\.key$' && ! tar xzOf b.tar.gz | grep -q 'PRIVATE KEY'"
diag_json re.json --state-dir "$B/state"
check "diag on the unpacked bundle: exit 2" test "$D_RC" = 2
check "... the same diagnosis as the bundle's diag.json (minus generated, sources)" same_json "$B/diag.json" re.json sources
check "... and as the online one" same_json on.json re.json sources loader

# ==== damaged files ==========================================================================
echo "# damaged state"
cp -a "$DL_STATE" damaged
printf '{"time":"2026-11-24T00:00:00.000Z","event":"mystery","x":1}\nnot json at all\n' >>damaged/events.jsonl
printf '{"time":"2026-11-24T00:00:01.000Z","event":"worker_exited","pid":1,"sig' >>damaged/exits.jsonl
echo garbage >damaged/poison.state
diag_json dmg.json --state-dir "$T_TMP/damaged" --log-dir "$T_TMP/log"
check "damaged: still a diagnosis, exit 2 (faults.state intact)" test "$D_RC" = 2
check "the torn last line of exits.jsonl reported" dq_true dmg.json "any(u['file'] == 'exits.jsonl' and 'torn' in u['why'] for u in J['unreadable'])"
check "the unknown event type reported" dq_true dmg.json "any(u['file'] == 'events.jsonl' and 'mystery' in u['why'] and u['line'] is not None for u in J['unreadable'])"
check "the garbage line reported" dq_true dmg.json "any(u['file'] == 'events.jsonl' and 'not a JSON' in u['why'] for u in J['unreadable'])"
check "poison.state reported, poison null" dq_true dmg.json "any(u['file'] == 'poison.state' for u in J['unreadable']) and J['poison'] is None"
check "the crashes are still there" dq_true dmg.json "J['crashes']['count'] == 2"
echo garbage >damaged/faults.state
diag_json dmg2.json --state-dir "$T_TMP/damaged"
check "faults.state damaged: faults from events, still intervention (exit 2)" \
	bash -c "test '$D_RC' = 2 && test \"\$(python3 -c \"import json; J=json.load(open('dmg2.json')); print(J['faults_source'], [f['id'] for f in J['faults']])\")\" = \"events [6]\""
timeout 60 "$AMPCTL" diag --state-dir "$T_TMP/damaged" >dmg.txt 2>/dev/null
check "text: COULD NOT READ names the files" bash -c "grep -A20 'COULD NOT READ' dmg.txt | grep -q 'exits.jsonl line' && grep -A20 'COULD NOT READ' dmg.txt | grep -q 'faults.state'"
rm -rf empty && mkdir empty
diag_json empty.json --state-dir "$T_TMP/empty"
check "an empty state directory: healthy, the missing files said" \
	bash -c "test '$D_RC' = 0 && grep -q missing empty.json"
finish
