#!/usr/bin/env bash
# ampdaemon with `Engine clamav`: its workers scan with libclamav in their
# sandbox, each with a private scratch directory under ScratchDir.
#   - the 44 files of /usr/share/clamav-testfiles with test-6.cvd, through
#     clamdscan (default, --fdpass, --stream, --multiscan, --multiscan
#     --fdpass) and `ampctl scan`: every
#     verdict equal to `clamscan -d test-6.cvd`'s;
#   - a worker's /proc status (Seccomp 2, NoNewPrivs 1, CapEff 0), no
#     refused syscall in ampscansvc.log;
#   - scratch directories: leftovers wiped at start, 0700 and the scan
#     user's, removed when a worker is killed (SIGKILL) with files in it;
#   - a worker whose scratch directory is not writable fails its check in
#     the sandbox and never becomes READY (a start failure, fault 7).
#   daemon_clamav.sh BUILD_DIR SOURCE_DIR SHARED_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
BUILD=$1
SRC=$2
SHARED=$3
TF=/usr/share/clamav-testfiles
T6DIR=$SHARED/testdata/real-cvd/freshclam-tests
[ -d "$SHARED/testdata" ] || skip_all "shared test data absent ($SHARED/testdata)"
[ -f "$T6DIR/test-6.cvd" ] || skip_all "$T6DIR/test-6.cvd absent"
command -v clamscan >/dev/null || skip_all "clamscan missing (Debian package clamav)"
command -v clamdscan >/dev/null || skip_all "clamdscan missing (Debian package clamdscan)"
[ -d "$TF" ] || skip_all "$TF missing (Debian package clamav-testfiles)"
dl_init "$BUILD" "$SRC"

# ---- definitions: test-6.cvd (official signature, .sign to the test root) ----
mkdir -p "$T_TMP/certs"
cp "$T6DIR/clamav-test.crt" "$T_TMP/certs/"
rm -f "$T_TMP"/defs/active/*
cp "$T6DIR/test-6.cvd" "$T6DIR/test-6.cvd.sign" "$T_TMP/defs/active/"

# ---- the files, and clamscan's verdicts ------------------------------------------
F=$T_TMP/tf
mkdir -p "$F"
cp "$TF"/* "$F/"
chmod 755 "$F"
chmod 644 "$F"/*
NF=$(find "$F" -type f | wc -l)
check "the corpus holds the 44 test files (found $NF)" test "$NF" = 44
clamscan --no-summary -d "$T6DIR/test-6.cvd" "$F"/* 2>/dev/null | sort >"$T_TMP/want"
check "clamscan finds all 44 with test-6.cvd" test "$(grep -c ' FOUND$' "$T_TMP/want")" = 44

# ---- a leftover of a crash, then the start -----------------------------------------
SCR=$T_TMP/scratch
mkdir -p "$SCR/worker-9-1/sub"
echo leftover >"$SCR/worker-9-1/sub/f"
ln -s /etc "$SCR/worker-9-1/link"
ACONF=$T_TMP/clamdscan-amp.conf
echo "LocalSocket $T_TMP/run/clamd.sock" >"$ACONF"
# MaxRecursion 17: clamscan's default (with 16 libclamav misses clam_cache_emax.tgz)
dl_config CreateScanUser yes Engine clamav ScratchDir "$SCR" MaxRecursion 17
check "ampdaemon starts with Engine clamav" dl_start
check "both workers become READY" dl_wait_ready 2 60
check "the leftover scratch directory is wiped at start (the symlink's target untouched)" \
	sh -c "[ ! -e '$SCR/worker-9-1' ] && [ -d /etc ]"
dbs=$(dl_status_py "[(d['name'], d['version']) for d in s['definitions']['databases']]")
check "the workers loaded test-6.cvd (version 6): $dbs" test "$dbs" = "[('test-6', 6)]"

# ---- every verdict equal to clamscan's -----------------------------------------------
# cmp_verdicts LABEL FILE: FILE's sorted lines against clamscan's
cmp_verdicts() {
	sort "$2" >"$2.sorted"
	if cmp -s "$T_TMP/want" "$2.sorted"; then
		ok "$1: the 44 verdicts equal clamscan's"
	else
		not_ok "$1: verdicts differ from clamscan's"
		diff "$T_TMP/want" "$2.sorted" | head -20 | sed 's/^/    /'
	fi
}
for mode in "" "--fdpass" "--stream" "--multiscan" "--multiscan --fdpass"; do
	# shellcheck disable=SC2086
	timeout 120 clamdscan -c "$ACONF" --no-summary $mode "$F"/* >"$T_TMP/cd.out" 2>"$T_TMP/cd.err"
	cmp_verdicts "clamdscan ${mode:-(default)}" "$T_TMP/cd.out"
done
timeout 120 "$AMPCTL" --socket "$DL_CTL" scan "$F"/* >"$T_TMP/ac.out" 2>"$T_TMP/ac.err"
cmp_verdicts "ampctl scan" "$T_TMP/ac.out"

# ---- the workers' sandbox ---------------------------------------------------------------
for p in $(dl_worker_pids); do
	st=/proc/$p/status
	check "worker $p: in seccomp filter mode" grep -Eq "^Seccomp:[[:space:]]+2$" "$st"
	check "worker $p: NoNewPrivs 1" grep -Eq "^NoNewPrivs:[[:space:]]+1$" "$st"
	check "worker $p: CapEff zero" grep -Eq "^CapEff:[[:space:]]+0+$" "$st"
	check "worker $p: started with --engine clamav" grep -qa -- "clamav" "/proc/$p/cmdline"
done
uid=$(id -u "$DL_USER")
for d in "$SCR"/worker-*; do
	check "scratch $(basename "$d"): mode 700, owned by the scan user" \
		test "$(stat -c '%a %u' "$d")" = "700 $uid"
done
dl_no_refused

# ---- a worker killed with files in its scratch directory ---------------------------------
# (as if mid-scan: libclamav's temporary files, written here so that the
# test does not depend on catching a scan in flight)
slot=$(dl_status_py "[w for w in s['workers'] if w['state'] == 'ready'][0]['slot']")
pid=$(dl_status_py "[w for w in s['workers'] if w['state'] == 'ready'][0]['pid']")
dir=$(ls -d "$SCR/worker-$slot-"* 2>/dev/null | head -1)
check "the READY worker in slot $slot has a scratch directory ($dir)" test -d "$dir"
mkdir -p "$dir/clamav-tmp"
head -c 65536 /dev/urandom >"$dir/clamav-tmp/extracted"
echo x >"$dir/top"
kill -KILL "$pid"
gone() { for _ in $(seq 100); do [ ! -e "$1" ] && return 0; sleep 0.1; done; return 1; }
check "its scratch directory is removed once it is killed" gone "$dir"
check "its slot comes back READY" dl_wait_ready 2 60
check "the new worker's scratch directory is a fresh one" \
	sh -c "ls -d '$SCR/worker-$slot-'* | grep -vqx '$dir'"

# ---- active/ changed behind ampdaemon's back: a worker loads only the set
# its index names (an activation renames files one by one; a worker started
# in between must not load a mix).  Outside an update that is a start
# failure, and fault 7's recovery re-checks the set and rebuilds the index.
# Exec'd workers only (WorkerLaunch exec): a worker forked from the loader
# does not load, so a change of active/ behind ampdaemon's back is not its
# concern (the loader's load is checked the same way: pool_loader_update).
dl_stop_checked
dl_config CreateScanUser yes Engine clamav ScratchDir "$SCR" MaxRecursion 17 WorkerLaunch exec
check "ampdaemon starts again, WorkerLaunch exec" dl_start
check "both exec'd workers READY" dl_wait_ready 2 60
first=$(ls "$T_TMP/defs/active/"*.cvd | head -1)
touch -d '2001-02-03 04:05:06' "$first"
pid=$(dl_status_py "[w for w in s['workers'] if w['state'] == 'ready'][0]['pid']")
kill -KILL "$pid"
check "the next worker refuses the set its index does not name (start failure, 'definitions changed')" \
	ev_wait "sum(1 for x in X if x.get('kind') == 'start_failure' and 'definitions changed before the load' in json.dumps(x)) >= 1" 30
check "the definitions are checked again and every slot comes back READY" dl_wait_ready 2 60
check "fault 7 is cleared" dl_wait "not any(f['id'] == 7 for f in s['faults'])" 30
check "EICAR is still found" bash -c "'$AMPCTL' --socket '$DL_CTL' scan '$T_TMP/files/eicar.txt' | grep -q FOUND"
dl_stop_checked
check "every scratch directory is removed once ampdaemon stopped" \
	sh -c "[ -z \"\$(ls -A '$SCR')\" ]"

# ---- AlertExceedsMax: a file over MaxFileSize is FOUND, logged and counted --------------
# (clamd's names; without it the file is answered as clamd does: clean)
BIG=$T_TMP/files/big.bin
head -c 2097152 /dev/zero >"$BIG"
chmod 644 "$BIG"
MET=$T_TMP/metrics.prom
dl_config CreateScanUser yes Engine clamav ScratchDir "$SCR" MaxRecursion 17 Workers 1 \
	MaxFileSize 1M StreamMaxLength 1M AlertExceedsMax yes MetricsFile "$MET"
check "ampdaemon starts with AlertExceedsMax yes" dl_start
check "its worker becomes READY" dl_wait_ready 1 60
timeout 60 clamdscan -c "$ACONF" --no-summary "$BIG" "$T_TMP/files/clean.txt" >"$T_TMP/big.out" 2>&1 || true
check "a file over MaxFileSize: Heuristics.Limits.Exceeded.MaxFileSize FOUND" \
	grep -qxF "$BIG: Heuristics.Limits.Exceeded.MaxFileSize FOUND" "$T_TMP/big.out"
check "a file within the limits: OK" grep -qxF "$T_TMP/files/clean.txt: OK" "$T_TMP/big.out"
check "ampscansvc.log: one line naming the file and the limit" \
	test "$(grep -c "$BIG: limit exceeded: MaxFileSize" "$DL_SVCLOG")" = 1
dl_stop_checked
check "the metrics file counts it: ampscan_limits_exceeded_total 1" \
	grep -qx 'ampscan_limits_exceeded_total 1' "$MET"

# ---- a worker started in the middle of an activation ------------------------------------
# (exec'd workers: with the loader, the candidate's loader loads before the
# activation and its workers never read active/)
# (test builds: AMPSCAN_TEST_PAUSE_POINT=8 holds the update child 3 s just
# after its first rename into active/): the worker sees a set its index
# does not name, exits to be started again, and is started again quietly,
# without fault 7, until the rollover brings the new index
t_fresh
dl_build_cvd "$T_TMP/defs/active/demo.cvd" 10
dl_config CreateScanUser yes Engine clamav ScratchDir "$SCR" MaxRecursion 17 WorkerLaunch exec
export AMPSCAN_TEST_PAUSE_POINT=8
check "ampdaemon starts (pause point 8: the first rename of an activation)" dl_start
unset AMPSCAN_TEST_PAUSE_POINT
check "both workers READY" dl_wait_ready 2
mkdir -p "$T_TMP/v11"
dl_build_cvd "$T_TMP/v11/demo.cvd" 11
timeout 60 "$AMPCTL" --socket "$DL_CTL" update "$T_TMP/v11/demo.cvd" >"$T_TMP/upd.out" 2>&1 &
upd=$!
check "the update reaches its activation" dl_wait "s['update']['step'] == 'activating'" 30
sleep 0.5
pid=$(dl_status_py "[w for w in s['workers'] if w['state'] == 'ready'][0]['pid']")
kill -KILL "$pid"
wait "$upd"
check "ampctl update: activated (exit 0)" test $? = 0
sed 's/^/    update: /' "$T_TMP/upd.out"
check "a worker started mid-activation exited as 'defs_changed' (not a crash, not a start failure)" \
	ev_true "sum(1 for x in X if x.get('kind') == 'defs_changed') >= 1"
check "no start failure, no fault 7 raised" \
	ev_true "not any(x.get('kind') == 'start_failure' for x in X) and not any(e.get('event') == 'fault_raised' and e.get('fault') == 7 for e in E)"
check "both workers READY on the new set (demo 11)" \
	dl_wait "sum(w['state'] == 'ready' for w in s['workers']) == 2 and any(b['name'] == 'demo' and b['version'] == 11 for b in s['definitions']['databases']) and not s['update']['in_progress']" 30
check "EICAR is found" bash -c "'$AMPCTL' --socket '$DL_CTL' scan '$T_TMP/files/eicar.txt' | grep -q FOUND"
check "the log says why the worker was started again" \
	grep -q "the definitions changed while it loaded them (an activation in progress)" "$DL_LOG"
dl_stop_checked
rm -rf "$T_TMP/defs/previous"   # the next case must have nothing to roll back to

# ---- a scratch directory that is not writable: caught before READY ---------------------
# (exec'd workers: the hook chmods after the load, before the sandbox; a
# forked worker is inside the loader's sandbox by then)
# (test builds: definitions detecting the marker make the worker chmod its
# scratch directory 0500 after loading, before the sandbox)
t_fresh
hex=$(printf 'AMPSCAN-TEST-ROSCRATCH-MARKER' | od -An -tx1 | tr -d ' \n')
dl_build_cvd "$T_TMP/defs/active/demo.cvd" 10 "AmpTest.RoScratch:0:*:$hex"
dl_config CreateScanUser yes Engine clamav ScratchDir "$SCR" MaxRecursion 17 WorkerLaunch exec Workers 1
check "ampdaemon starts (read-only scratch marker in the definitions)" dl_start
check "the worker's start fails: fault 7" dl_wait "any(f['id'] == 7 for f in s['faults'])" 60
check "exits.jsonl: start failures naming the scratch directory" \
	ev_wait "sum(1 for x in X if x.get('kind') == 'start_failure' and 'scratch directory not writable' in json.dumps(x)) >= 1" 30
check "no worker is READY" test "$(dl_status_py "sum(w['state'] == 'ready' for w in s['workers'])")" = 0
dl_stop_checked

finish
