# Helpers for the tests that run a real ampdaemon (sourced after lib.sh).
#
#   . lib.sh; . daemon_lib.sh
#   dl_init BUILD_DIR SOURCE_DIR     binaries, keys, a signed demo set in defs/active
#   dl_config [Key Value]...         write $DL_CONF (the base keys; these added or replacing them)
#   evq 'EXPR'                       EXPR on E, the events of events.jsonl (a list)
#   dl_start                         start ampdaemon --foreground in the background
#   dl_wait_ready N                  until N workers are READY (20 s at most)
#   dl_status_py 'EXPR'              evaluate EXPR on `ampctl status --json` (as s)
#   dl_stop                          SIGTERM, wait; no refused syscall
#   dl_stop_checked                  SIGTERM: exit 0, no sanitizer report, no
#                                    refused syscall, no worker left
#
# Everything lives in $T_TMP (mode 0755 so the scan user reaches the copied
# binaries).  The scan user and group are unique to the test ($DL_USER) and
# are deleted on exit, with every process they run, even when a check fails.
set -u
DL_DAEMON_PIDS=()
DL_USERS=()

dl_cleanup() {
	local p u uid
	t_kill_children 9 "${DL_DAEMON_PIDS[@]}"
	for u in "${DL_USERS[@]}"; do
		uid=$(id -u "$u" 2>/dev/null || echo none)
		# never pkill -u a uid-0 name: that would be every root process
		if [ "$uid" != none ] && [ "$uid" != 0 ]; then
			for _ in 1 2 3 4 5 6 7 8 9 10; do
				pkill -9 -u "$u" 2>/dev/null || break
				sleep 0.1
			done
		fi
		[ "$uid" != none ] && [ "$u" != root ] && userdel -f "$u" 2>/dev/null
		groupdel "$u" 2>/dev/null
	done
	# DL_KEEP=DIR keeps the runtime directory (logs, state) for a post-mortem
	[ -n "${DL_KEEP:-}" ] && cp -a "$T_TMP" "$DL_KEEP/" 2>/dev/null
	rm -rf "$T_TMP"
}
trap dl_cleanup EXIT

# dl_new_user VAR X: a user name for this test (letters, short, unique),
# registered for the cleanup and stored in VAR (no subshell: the
# registration must reach this shell).
dl_new_user() {
	local u="ampt$2$$"
	DL_USERS+=("$u")
	userdel "$u" 2>/dev/null
	groupdel "$u" 2>/dev/null
	printf -v "$1" '%s' "$u"
}

dl_init() {
	local build=$1 src=$2
	[ "$(id -u)" = 0 ] || skip_all "needs root (creates users, runs workers as another user)"
	chmod 755 "$T_TMP"
	mkdir -p "$T_TMP/bin" "$T_TMP/keys" "$T_TMP/defs/active" "$T_TMP/files"
	cp "$build/bin/ampdaemon" "$build/bin/ampscansvc" \
		"$build/bin/ampctl" "$build/bin/cvdtool" "$T_TMP/bin/"
	chmod 755 "$T_TMP/bin" "$T_TMP/files"
	# the workers exec ampscansvc as the scan user: it must reach it
	if ! setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$T_TMP/bin/ampscansvc"; then
		skip_all "an unprivileged user cannot reach $T_TMP (a directory above it is closed to others, e.g. a chroot root of mode 0700)"
	fi
	AMPDAEMON=$T_TMP/bin/ampdaemon
	AMPCTL=$T_TMP/bin/ampctl
	CVDTOOL=$T_TMP/bin/cvdtool
	# sanitizer builds: a worker killed with SIGSEGV must die of it, as in
	# a release build, not be caught by ASan's handler (-> SIGABRT)
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}:handle_segv=0
	"$CVDTOOL" keygen "$T_TMP/keys/k.key" "$T_TMP/keys/k.pub" >/dev/null
	mkdir -p "$T_TMP/src"
	cp "$src"/tools/demo-defs/* "$T_TMP/src/"
	"$CVDTOOL" build "$T_TMP/defs/active/demo.cvd" --from "$T_TMP/src" \
		--key "$T_TMP/keys/k.key" --version 10 --builder test >/dev/null
	dl_new_user DL_USER u
	DL_CONF=$T_TMP/ampdaemon.conf
	DL_LOG=$T_TMP/log/ampdaemon.log
	DL_SVCLOG=$T_TMP/log/ampscansvc.log
	DL_STATE=$T_TMP/state
	DL_CTL=$T_TMP/run/control.sock
	printf 'X5O!P%%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' >"$T_TMP/files/eicar.txt"
	echo "a clean file" >"$T_TMP/files/clean.txt"
	chmod 644 "$T_TMP"/files/*
}

# dl_build_cvd OUT VERSION [EXTRA_NDB_LINE]: a signed set like the demo one
dl_build_cvd() {
	local out=$1 ver=$2 extra=${3:-} dir
	dir=$(mktemp -d "$T_TMP/src.XXXX")
	cp "$T_TMP"/src/* "$dir/"
	[ -n "$extra" ] && printf '%s\n' "$extra" >>"$dir/demo.ndb"
	"$CVDTOOL" build "$out" --from "$dir" --key "$T_TMP/keys/k.key" \
		--version "$ver" --builder test >/dev/null
	rm -rf "$dir"
}

dl_config() {
	{
		echo "ScanUser $DL_USER"
		echo "ScanGroup $DL_USER"
		echo "Workers 2"
		echo "DefinitionsDir $T_TMP/defs"
		echo "StateDir $T_TMP/state"
		echo "LogDir $T_TMP/log"
		echo "LocalSocket $T_TMP/run/clamd.sock"
		echo "ControlSocket $DL_CTL"
		echo "TrustedKeys $T_TMP/keys/k.pub"
		echo "CertsDir $T_TMP/certs"
		# Engine clamav (the default): the workers' scratch directories
		echo "ScratchDir $T_TMP/scratch"
		echo "RestartDelayMin 20ms"
		echo "RestartDelayMax 1s"
		# the real test-N.cvd sets hold .ldb/.mdb lines the builtin engine
		# cannot load (issue 15; engine_partial.sh tests the refusal)
		echo "AllowPartialEngine yes"
		# the loader's huge-page collapse (default yes) runs after READY
		# and then re-forks every worker forked before it, one at a time:
		# exits and forks no test could foresee, as soon as some mapping
		# is dense enough (it depends on the build and the machine: ASan's
		# allocator).  Off, except where a test is about it (pool_hugepages,
		# defs_rollover); the bench and tools/service-check run the default
		echo "LoaderHugePages no"
		while [ $# -ge 2 ]; do echo "$1 $2"; shift 2; done
	} >"$DL_CONF.new"
	# a key given by the caller replaces the base one (a key twice is an error)
	tac "$DL_CONF.new" | awk '!seen[$1]++' | tac >"$DL_CONF"
	rm -f "$DL_CONF.new"
	chmod 600 "$DL_CONF"
}

dl_start() {
	"$AMPDAEMON" --foreground --config "$DL_CONF" >>"$T_TMP/daemon.out" 2>&1 &
	DL_PID=$!
	DL_DAEMON_PIDS+=("$DL_PID")
	local i
	for i in $(seq 200); do
		[ -S "$DL_CTL" ] && return 0
		kill -0 "$DL_PID" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

dl_ctl() { timeout 60 "$AMPCTL" --socket "$DL_CTL" "$@"; }

# dl_status_py 'EXPR': print EXPR evaluated on the status JSON (s)
dl_status_py() {
	timeout 10 "$AMPCTL" --socket "$DL_CTL" status --json 2>/dev/null | python3 -c "
import json, sys
s = json.load(sys.stdin)
print($1)" 2>/dev/null
}

# dl_wait 'PY-CONDITION' [SECONDS]: until the condition on s is True
dl_wait() {
	local cond=$1 secs=${2:-20} i
	for i in $(seq $((secs * 10))); do
		[ "$(dl_status_py "$cond")" = True ] && return 0
		sleep 0.1
	done
	return 1
}

dl_wait_ready() {
	dl_wait "sum(w['state'] == 'ready' for w in s['workers']) >= $1" "${2:-20}"
}

dl_fault_raised() {  # dl_fault_raised ID -> "True"/"False"
	dl_status_py "any(f['id'] == $1 for f in s['faults'])"
}

dl_stop() {
	kill -TERM "$DL_PID" 2>/dev/null
	local i
	for i in $(seq 100); do
		kill -0 "$DL_PID" 2>/dev/null || break
		sleep 0.1
	done
	wait "$DL_PID" 2>/dev/null
	dl_no_refused
}

# dl_no_refused: no worker met a call its sandbox refuses (test builds log
# each as "sandbox: refused syscall N" in ampscansvc.log)
dl_no_refused() {
	check "no call refused by a worker's sandbox (ampscansvc.log)" \
		bash -c "! grep -h -m3 'sandbox: refused syscall' $T_TMP/log/* 2>/dev/null"
}

# dl_stop_checked: SIGTERM ampdaemon; it must exit 0 with no sanitizer
# report (ASan builds: the leak check runs at that exit) from it or a
# worker (ampdaemon.log, ampscansvc.log, its stdout/stderr), no call
# refused by a worker's sandbox (test builds log them), and no
# process of the scan user may be left
dl_stop_checked() {
	local rc=0
	kill -TERM "$DL_PID"
	for _ in $(seq 150); do
		kill -0 "$DL_PID" 2>/dev/null || break
		sleep 0.1
	done
	wait "$DL_PID" || rc=$?
	check "ampdaemon stops with exit status 0 (got $rc)" test "$rc" = 0
	check "no sanitizer report (ampdaemon, workers)" \
		bash -c "! grep -h -m3 -E 'Sanitizer|runtime error:' '$T_TMP/daemon.out' $T_TMP/log/* 2>/dev/null"
	dl_no_refused
	# what is already exiting gets a moment (in ASan builds a refused
	# loader's LeakSanitizer tracer, no child of ampdaemon's, outlives it
	# briefly); what is still there then is named
	for _ in $(seq 50); do
		pgrep -u "$DL_USER" >/dev/null || break
		sleep 0.1
	done
	check "no worker left" bash -c "! pgrep -a -u $DL_USER"
}

# dl_worker_pids: the pids of the READY/STARTING workers
dl_worker_pids() {
	dl_status_py "' '.join(str(w['pid']) for w in s['workers'] if w['pid'] > 0)"
}

# dl_events_count TYPE: lines of that event type in events.jsonl
dl_events_count() {
	grep -c "\"event\":\"$1\"" "$DL_STATE/events.jsonl" 2>/dev/null || true
}

# evq 'EXPR': EXPR evaluated with E = the events of events.jsonl and X =
# the lines of exits.jsonl (lists; a missing file is an empty one)
evq() {
	python3 - "$DL_STATE/events.jsonl" "$DL_STATE/exits.jsonl" "$1" <<'EOF' 2>/dev/null
import json, re, sys
def load(path):
    try:
        return [json.loads(l) for l in open(path) if l.strip()]
    except OSError:
        return []
E, X = load(sys.argv[1]), load(sys.argv[2])
print(eval(sys.argv[3]))
EOF
}
ev_true() { [ "$(evq "$1")" = True ]; }

# ev_wait 'EXPR' [SECONDS]: until EXPR on the events is True
ev_wait() {
	local i
	for i in $(seq $((${2:-20} * 10))); do
		ev_true "$1" && return 0
		sleep 0.1
	done
	return 1
}

# t_scan ARGS...: ampctl scan, bounded; sets T_RC and T_SECS (out/err in T_TMP)
t_scan() {
	local t0 t1
	t0=$(date +%s.%N)
	T_RC=0
	timeout 60 "$AMPCTL" --socket "$DL_CTL" scan "$@" >"$T_TMP/out" 2>"$T_TMP/err" || T_RC=$?
	t1=$(date +%s.%N)
	T_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
}

# t_fresh: stop ampdaemon (if running) and forget its state and logs
t_fresh() {
	[ -n "${DL_PID:-}" ] && dl_stop
	rm -rf "$DL_STATE" "$T_TMP/log" "$T_TMP/daemon.out"
}

# lt A B: A < B (numbers with decimals)
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
