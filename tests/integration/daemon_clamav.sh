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

# ---- a scratch directory that is not writable: caught before READY ---------------------
# (test builds: definitions detecting the marker make the worker chmod its
# scratch directory 0500 after loading, before the sandbox)
t_fresh
hex=$(printf 'AMPSCAN-TEST-ROSCRATCH-MARKER' | od -An -tx1 | tr -d ' \n')
dl_build_cvd "$T_TMP/defs/active/demo.cvd" 10 "AmpTest.RoScratch:0:*:$hex"
dl_config CreateScanUser yes Engine clamav ScratchDir "$SCR" MaxRecursion 17 Workers 1
check "ampdaemon starts (read-only scratch marker in the definitions)" dl_start
check "the worker's start fails: fault 7" dl_wait "any(f['id'] == 7 for f in s['faults'])" 60
check "exits.jsonl: start failures naming the scratch directory" \
	ev_wait "sum(1 for x in X if x.get('kind') == 'start_failure' and 'scratch directory not writable' in json.dumps(x)) >= 1" 30
check "no worker is READY" test "$(dl_status_py "sum(w['state'] == 'ready' for w in s['workers'])")" = 0
dl_stop_checked

finish
