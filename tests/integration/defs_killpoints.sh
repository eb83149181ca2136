#!/usr/bin/env bash
# Kill points (issue 5): ampdaemon told (test builds: AMPSCAN_TEST_KILL_POINT)
# to SIGKILL itself at each numbered point of staging, activation and
# rollover (supervisor/store/activate.h, enum kill_point) while it installs
# test-6.cvd + .sign dropped into incoming/ over an active test-5.cvd.  For
# every point:
#   - it died there (the log or the kill says so), and its workers with it;
#   - on disk right after the kill: active/ holds test-5 or test-6, or an
#     activation journal that the next start finishes;
#   - restarted: a journal is finished by the start's check (an event says
#     so; active/ is the new set at once); with no journal there is nothing
#     to recover; the workers are READY on what is on disk;
#   - and nothing is lost: the update ends up activated (re-read from
#     incoming/ when the kill came before the activation consumed it), then
#     active/ is complete and verifies (one container, its .sign with it),
#     no journal is left and nothing is left in staging/ or incoming/.
# Right after a restart with the old set, the update read again may be
# activating (its own journal, renames under way): active/ is judged once
# it has finished, never in between.
#   defs_killpoints.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
REAL=$(cd "$2/.." && pwd)/shared/testdata/real-cvd/freshclam-tests
[ -f "$REAL/test-5.cvd" ] || skip_all "../shared/testdata/real-cvd/freshclam-tests is absent"
dl_init "$1" "$2"
cd "$T_TMP"
mkdir -p certs
cp "$REAL/clamav-test.crt" certs/
dl_config TrialTimeout 60s

POINTS=(0 staged verified tried set_ready journal previous journal_active
	first_rename renamed committed rollover_ready rollover_retired rollover_done)

versions() {  # the test version the READY workers report
	dl_status_py "[d['version'] for d in s['definitions']['databases'] if d['name'] == 'test']"
}
on_disk() {  # old | new | journal | MIX:...
	local f
	if [ -e state/activation.journal ]; then echo journal; return; fi
	f=$(cd defs/active && ls | grep -v '^ampscan.idx$' | tr '\n' ' ')
	if [ "$f" = "test.cvd " ] && cmp -s defs/active/test.cvd "$REAL/test-5.cvd"; then echo old
	elif [ "$f" = "test.cvd test.cvd.sign " ] && cmp -s defs/active/test.cvd "$REAL/test-6.cvd" &&
		cmp -s defs/active/test.cvd.sign "$REAL/test-6.cvd.sign"; then echo new
	else echo "MIX:$f"; fi
}

for n in $(seq 1 13); do
	name=${POINTS[$n]}
	rm -rf defs state log run
	mkdir -p defs/active
	cp "$REAL/test-5.cvd" defs/active/test.cvd
	AMPSCAN_TEST_KILL_POINT=$n dl_start || { not_ok "kp $n: ampdaemon starts"; continue; }
	if ! dl_wait_ready 2 30; then not_ok "kp $n ($name): workers READY on test-5"; dl_stop; continue; fi
	workers=$(dl_worker_pids)
	cp "$REAL/test-6.cvd.sign" defs/incoming/.s && mv defs/incoming/.s defs/incoming/test-6.cvd.sign
	cp "$REAL/test-6.cvd" defs/incoming/.c && mv defs/incoming/.c defs/incoming/test-6.cvd
	died=no
	for _ in $(seq 300); do
		kill -0 "$DL_PID" 2>/dev/null || { died=yes; break; }
		sleep 0.1
	done
	[ "$died" = yes ] || t_kill_children 9 "$DL_PID"   # never wait forever
	wait "$DL_PID" 2>/dev/null
	rc=$?
	check "kp $n ($name): ampdaemon killed itself there (SIGKILL)" test "$died" = yes -a "$rc" = 137
	gone=yes
	for p in $workers; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$p" 2>/dev/null && gone=no
	done
	check "kp $n ($name): its workers died with it" test "$gone" = yes
	state=$(on_disk)
	check "kp $n ($name): on disk after the kill: $state (old, new or a journal)" \
		bash -c "case '$state' in old|new|journal) exit 0;; esac; exit 1"

	dl_start || { not_ok "kp $n: ampdaemon restarts"; continue; }
	check "kp $n ($name): restarted, workers READY" dl_wait_ready 2 30
	if [ "$state" = journal ]; then
		# the start's check finishes the journal before any worker starts,
		# and the update was consumed with it: nothing runs after it
		check "kp $n ($name): the journal is resolved" test ! -e state/activation.journal
		check "kp $n ($name): its recovery is an event" \
			ev_true "any(e['event'] == 'activation_recovered' for e in E)"
		now=$(on_disk)
		check "kp $n ($name): active/ complete after the restart: $now" test "$now" = new
		check "kp $n ($name): the workers run what is on disk ([6])" \
			dl_wait "[d['version'] for d in s['definitions']['databases'] if d['name'] == 'test'] == [6]" 10
	else
		# no journal, nothing to recover; with the old set on disk the update
		# is read again from incoming/ and may be activating right now (its
		# own journal), so active/ is judged once it has finished, below
		check "kp $n ($name): nothing to recover, no activation_recovered event" \
			ev_true "not any(e['event'] == 'activation_recovered' for e in E)"
		want="[6]"; [ "$state" = old ] && want="[5], [6]"
		check "kp $n ($name): the workers run what is on disk ($want)" \
			dl_wait "[d['version'] for d in s['definitions']['databases'] if d['name'] == 'test'] in ($want,)" 10
	fi
	# nothing lost: the update ends up active (finished, or read again from incoming/)
	check "kp $n ($name): the update ends up activated" \
		dl_wait "[d['version'] for d in s['definitions']['databases'] if d['name'] == 'test'] == [6] and s['update']['in_progress'] == False and s['update']['queued'] == 0" 30
	check "kp $n ($name): then active/ is the new set exactly" test "$(on_disk)" = new
	check "kp $n ($name): no journal left" test ! -e state/activation.journal
	check "kp $n ($name): active/ verifies" bash -c "\"$CVDTOOL\" verify --certs-dir certs defs/active/test.cvd >/dev/null"
	check "kp $n ($name): nothing left in staging/ or incoming/" \
		test -z "$(ls -A defs/staging defs/incoming 2>/dev/null | grep -v ':$' | grep -v '^$')"
	check "kp $n ($name): previous/ holds test-5" cmp -s defs/previous/test.cvd "$REAL/test-5.cvd"
	dl_stop
done
finish
