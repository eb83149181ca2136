#!/usr/bin/env bash
# Debian's clamdscan against ampdaemon's scan socket and against Debian's
# clamd, both with the definitions of test-6.cvd: the same lines and the
# same exit codes (only the product/version string may differ).
#   modes: default (CONTSCAN), --fdpass, --stream, --multiscan (alone, with
#   --fdpass, with --stream), --allmatch (alone, with --fdpass, with
#   --stream); --ping, --version, --reload
#   targets: the EICAR file, clam.exe, clam.zip, a clean file, and a
#   directory of them (with a subdirectory of copies)
#   scan_clamdscan.sh BUILD_DIR SOURCE_DIR SHARED_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
BUILD=$1
SRC=$2
SHARED=$3
TF=/usr/share/clamav-testfiles
T6DIR=$SHARED/testdata/real-cvd/freshclam-tests
[ -d "$SHARED/testdata" ] || skip_all "shared test data absent ($SHARED/testdata)"
[ -f "$T6DIR/test-6.cvd" ] || skip_all "$T6DIR/test-6.cvd absent"
CLAMD=$(PATH=$PATH:/usr/sbin command -v clamd) || { not_ok "clamd missing (Debian package clamav-daemon; tools/bootstrap)"; finish; exit; }
command -v clamdscan >/dev/null || { not_ok "clamdscan missing (Debian package clamdscan; tools/bootstrap)"; finish; exit; }
[ -d "$TF" ] || { not_ok "$TF missing (tools/bootstrap installs clamav-testfiles)"; finish; exit; }
dl_init "$BUILD" "$SRC"

# clamd is stopped on any exit, before daemon_lib's cleanup removes $T_TMP
CLAMD_PID=
sc_cleanup() {
	if [ -n "$CLAMD_PID" ]; then
		kill -TERM "$CLAMD_PID" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$CLAMD_PID" 2>/dev/null || break; sleep 0.1; done
		t_kill_children 9 "$CLAMD_PID"
		wait "$CLAMD_PID" 2>/dev/null
	fi
	dl_cleanup
}
trap sc_cleanup EXIT
trap 'exit 1' INT TERM HUP

# ---- definitions: test-6.cvd only, on both sides --------------------------------
# test-6.cvd carries the official ClamAV digital signature and a .sign
# chained to ClamAV's test root (clamav-test.crt): ampdaemon checks both
# (the official keys are built in; CertsDir holds the test root).
mkdir -p "$T_TMP/certs" "$T_TMP/clamdb" "$T_TMP/ctmp"
cp "$T6DIR/clamav-test.crt" "$T_TMP/certs/"
rm -f "$T_TMP"/defs/active/*
cp "$T6DIR/test-6.cvd" "$T6DIR/test-6.cvd.sign" "$T_TMP/defs/active/"
cp "$T6DIR/test-6.cvd" "$T_TMP/clamdb/"
check "cvdtool verifies test-6.cvd with the official keys and its .sign against clamav-test.crt" \
	sh -c "'$CVDTOOL' verify --certs-dir '$T_TMP/certs' '$T_TMP/defs/active/test-6.cvd' >'$T_TMP/out' 2>'$T_TMP/err'"
rm -f "$T_TMP/out" "$T_TMP/err"

# ---- the files ----------------------------------------------------------------
S=$T_TMP/scan
mkdir -p "$S/sub"
cp "$TF/clam.exe" "$TF/clam.zip" "$S/"
printf 'X5O!P%%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' >"$S/eicar.com"
echo "a clean file, nothing to see" >"$S/clean.txt"
cp "$S/clam.exe" "$S/clam.zip" "$S/eicar.com" "$S/clean.txt" "$S/sub/"
chmod 755 "$S" "$S/sub"
find "$S" -type f -exec chmod 644 {} +
TARGETS="$S/eicar.com $S/clam.exe $S/clam.zip $S/clean.txt $S"

# ---- Debian's clamd, as tools/bench starts it --------------------------------------
CCONF=$T_TMP/clamd.conf
cat >"$CCONF" <<-CONF
	# scan_clamdscan.sh: a private clamd, never the system's
	Foreground yes
	LocalSocket $T_TMP/clamd.sock
	DatabaseDirectory $T_TMP/clamdb
	LogFile $T_TMP/clamd.log
	LogTime yes
	PidFile $T_TMP/clamd.pid
	TemporaryDirectory $T_TMP/ctmp
	User root
	MaxThreads 2
	SelfCheck 0
CONF
# it dies with this script even when the script is killed (ctest's timeout)
setpriv --pdeathsig KILL "$CLAMD" -c "$CCONF" >"$T_TMP/clamd.out" 2>&1 &
CLAMD_PID=$!

# ---- ampdaemon on the same definitions ------------------------------------------
ACONF=$T_TMP/clamdscan-amp.conf
echo "LocalSocket $T_TMP/run/clamd.sock" >"$ACONF"
dl_config CreateScanUser yes CertsDir "$T_TMP/certs"
check "ampdaemon starts" dl_start
check "both workers become READY" dl_wait_ready 2
dbs=$(dl_status_py "[(d['name'], d['version']) for d in s['definitions']['databases']]")
check "ampdaemon loaded test-6.cvd (version 6) and nothing else: $dbs" test "$dbs" = "[('test-6', 6)]"

# wait_pong CONF PID: until clamdscan --ping answers (60 s at most), while PID lives
wait_pong() {
	for _ in $(seq 600); do
		timeout 5 clamdscan -c "$1" --ping 1 >/dev/null 2>&1 && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
check "clamd answers PONG" wait_pong "$CCONF" "$CLAMD_PID"
check "ampdaemon's scan socket answers PONG" wait_pong "$ACONF" "$DL_PID"
if ! kill -0 "$CLAMD_PID" 2>/dev/null || [ ! -S "$T_TMP/clamd.sock" ]; then
	sed 's/^/    clamd: /' "$T_TMP/clamd.out" "$T_TMP/clamd.log" 2>/dev/null | tail -20
	finish
	exit
fi
rm -f "$T_TMP/out" "$T_TMP/err"

# run_both NAME ARGS...: clamdscan ARGS against clamd (-> NAME.c.*) and
# ampdaemon (-> NAME.a.*): stdout, stderr, exit code
run_both() {
	local n=$1 rc; shift
	rc=0; timeout 60 clamdscan -c "$CCONF" "$@" >"$T_TMP/$n.c.out" 2>"$T_TMP/$n.c.err" || rc=$?
	echo "$rc" >"$T_TMP/$n.c.rc"
	rc=0; timeout 60 clamdscan -c "$ACONF" "$@" >"$T_TMP/$n.a.out" 2>"$T_TMP/$n.a.err" || rc=$?
	echo "$rc" >"$T_TMP/$n.a.rc"
}

# show_both NAME: both outputs, for a mismatch
show_both() {
	echo "    clamd (exit $(cat "$T_TMP/$1.c.rc")):"
	sed 's/^/      out: /' "$T_TMP/$1.c.out"; sed 's/^/      err: /' "$T_TMP/$1.c.err" | head -5
	echo "    ampdaemon (exit $(cat "$T_TMP/$1.a.rc")):"
	sed 's/^/      out: /' "$T_TMP/$1.a.out"; sed 's/^/      err: /' "$T_TMP/$1.a.err" | head -5
}

# same WHAT NAME FILTER: the filtered stdouts and the exit codes are equal
N=0
same() {
	local what=$1 n=$2 filter=$3 ok=1
	eval "$filter" <"$T_TMP/$n.c.out" >"$T_TMP/$n.c.cmp"
	eval "$filter" <"$T_TMP/$n.a.out" >"$T_TMP/$n.a.cmp"
	cmp -s "$T_TMP/$n.c.cmp" "$T_TMP/$n.a.cmp" || ok=0
	cmp -s "$T_TMP/$n.c.rc" "$T_TMP/$n.a.rc" || ok=0
	if [ "$ok" = 1 ]; then
		ok "$what: same lines, exit $(cat "$T_TMP/$n.c.rc")"
	else
		not_ok "$what: clamd and ampdaemon differ"
		show_both "$n"
	fi
}

# the summary: what comes before it, and its "Infected files:" and
# "Total errors:" lines (not "Engine version", "Known viruses", times)
SUMMARY_FILTER="awk '/^----------- SCAN SUMMARY/ { s = 1; next } !s || /^(Infected files|Total errors):/'"

# ---- scans ------------------------------------------------------------------------
scan_all() {  # scan_all LABEL
	local label=$1 mode t n filter
	for mode in "" "--fdpass" "--stream" "--multiscan" "--multiscan --fdpass" \
		"--multiscan --stream" "--allmatch" "--allmatch --fdpass" "--allmatch --stream"; do
		filter="cat"
		case $mode in --multiscan*) filter="sort" ;; esac
		for t in $TARGETS; do
			N=$((N + 1)); n=r$N
			# shellcheck disable=SC2086
			run_both "$n" --no-summary $mode "$t"
			same "${label}clamdscan --no-summary ${mode:+$mode }${t#"$T_TMP"/}" "$n" "$filter"
			N=$((N + 1)); n=r$N
			# shellcheck disable=SC2086
			run_both "$n" $mode "$t"
			same "${label}clamdscan ${mode:+$mode }${t#"$T_TMP"/} (summary)" "$n" \
				"$SUMMARY_FILTER${filter:+ | $filter}"
		done
	done
}
scan_all ""

# sanity: the expected verdicts really are there (both sides equal is not enough)
run_both v --no-summary "$S"
for f in eicar.com sub/eicar.com; do
	check "clamd finds $f" grep -qx "$S/$f: Eicar-Test-Signature FOUND" "$T_TMP/v.c.out"
done
for f in clam.exe clam.zip sub/clam.exe sub/clam.zip; do
	check "clamd finds $f" grep -qx "$S/$f: Clamav.Test.File-6 FOUND" "$T_TMP/v.c.out"
done
check "clamd's directory scan exits 1" test "$(cat "$T_TMP/v.c.rc")" = 1

# ---- --ping -----------------------------------------------------------------------
run_both ping --ping 1
check "--ping: clamd prints PONG, exit 0" \
	sh -c "[ \"\$(cat '$T_TMP/ping.c.out')\" = PONG ] && [ \"\$(cat '$T_TMP/ping.c.rc')\" = 0 ]"
if [ "$(cat "$T_TMP/ping.a.out")" = PONG ] && [ "$(cat "$T_TMP/ping.a.rc")" = 0 ]; then
	ok "--ping: ampdaemon prints PONG, exit 0"
else not_ok "--ping: ampdaemon"; show_both ping; fi

# ---- --version: PRODUCT VERSION/DEFS-VERSION/DEFS-DATE ------------------------------
run_both ver --version
if [ "$(cat "$T_TMP/ver.c.rc")" = 0 ] && [ "$(cat "$T_TMP/ver.a.rc")" = 0 ] &&
	[ "$(wc -l <"$T_TMP/ver.c.out")" = 1 ] && [ "$(wc -l <"$T_TMP/ver.a.out")" = 1 ]; then
	ok "--version: both exit 0, one line ($(cat "$T_TMP/ver.c.out") / $(cat "$T_TMP/ver.a.out"))"
else not_ok "--version: exit codes or line counts differ"; show_both ver; fi
# clamd prints "/VERSION/DATE" only when a database named daily.* is loaded
# (libclamav sets CL_ENGINE_DB_VERSION for daily.cvd/.cld alone): with
# test-6.cvd its line is the bare "ClamAV 1.4.x".  ampdaemon names daily,
# else main, else the first container (issue 18), so its line is clamd's
# (the same libclamav) followed by "/6/<test-6's build time, ctime style>".
DATE_RE='[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{4}'
cver=$(cat "$T_TMP/ver.c.out"); aver=$(cat "$T_TMP/ver.a.out")
if [ -n "$cver" ] && [ "${aver#"$cver"/6/}" != "$aver" ] &&
	printf '%s\n' "${aver#"$cver"/6/}" | grep -Eqx "$DATE_RE"; then
	ok "--version: clamd's line, then test-6's version and build time ('$aver' / '$cver')"
else not_ok "--version: want clamd's '$cver' followed by /6/<date>, got '$aver'"; show_both ver; fi

# ---- --reload -------------------------------------------------------------------------
run_both reload --reload
same "clamdscan --reload" reload cat
check "--reload: clamd exits 0" test "$(cat "$T_TMP/reload.c.rc")" = 0
# both still answer and scan the same after the reload
check "clamd answers PONG after --reload" wait_pong "$CCONF" "$CLAMD_PID"
check "ampdaemon answers PONG after --reload" wait_pong "$ACONF" "$DL_PID"
for t in $TARGETS; do
	N=$((N + 1)); n=r$N
	run_both "$n" --no-summary "$t"
	same "after --reload: clamdscan --no-summary ${t#"$T_TMP"/}" "$n" cat
done

dl_stop
finish
