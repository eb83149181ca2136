# Shared helpers for the integration scripts (sourced).
set -u
T_PASS=0
T_FAIL=0
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ampscan-it.XXXXXX")
trap 'rm -rf "$T_TMP"' EXIT

# The watchdog: a test still running after T_LIMIT seconds (set by CMake
# a little under the test's TIMEOUT) ends itself, so that its EXIT trap
# still removes its daemons, workers, users and mounts: CTest's timeout
# kills the script alone, and the rest would live on.  It shows what was
# running, kills the script's other descendants (a command the script
# waits for cannot keep it from its trap), then TERMs the script.
t_descendants() {  # t_descendants PID SKIP: its descendants, deepest first, but SKIP's
	local c
	for c in $(pgrep -P "$1"); do
		[ "$c" = "$2" ] && continue
		t_descendants "$c" "$2"
		echo "$c"
	done
}
if [ -n "${T_LIMIT:-}" ]; then
	trap 'echo "FAIL - the test ran out of time (T_LIMIT ${T_LIMIT} s)"; T_FAIL=$((T_FAIL + 1)); exit 124' TERM
	(
		t_main=$$ t_self=$BASHPID t_end=$((SECONDS + T_LIMIT))
		while [ "$SECONDS" -lt "$t_end" ]; do
			kill -0 "$t_main" 2>/dev/null || exit 0
			sleep 1
		done
		t_pids=$(t_descendants "$t_main" "$t_self")
		echo "# watchdog: still running after ${T_LIMIT} s:"
		[ -n "$t_pids" ] && ps -o pid=,etimes=,args= -p "$(echo $t_pids | tr ' ' ,)" |
			sed 's/^/#   /' | head -40
		for p in $t_pids; do kill -9 "$p" 2>/dev/null; done
		kill -TERM "$t_main" 2>/dev/null
	) &
fi

# t_kill_children SIGNAL PID...: signal each PID that is still a child of
# this shell, and leave the others alone.  A PID this shell has already
# reaped is free: with pid_max 32768 and two tests running side by side,
# another test's process soon has it (a stale `kill -9` killed a
# neighbour's LeakSanitizer tracer once, and that neighbour hung).
t_kill_children() {
	local sig=$1 p
	shift
	for p in "$@"; do
		[ "$(ps -o ppid= -p "$p" 2>/dev/null | tr -d ' ')" = "$$" ] &&
			kill "-$sig" "$p" 2>/dev/null
	done
	return 0
}

ok() { T_PASS=$((T_PASS + 1)); echo "ok   - $*"; }
not_ok() { T_FAIL=$((T_FAIL + 1)); echo "FAIL - $*"; }
check() {  # check "description" command...
	local what=$1; shift
	if "$@"; then ok "$what"; else
		not_ok "$what"
		# show what the last command printed, to explain the failure
		[ -f "$T_TMP/out" ] && sed 's/^/    out: /' "$T_TMP/out" | head -10
		[ -f "$T_TMP/err" ] && sed 's/^/    err: /' "$T_TMP/err" | head -5
	fi
}
# expect_status N "description" command...
expect_status() {
	local want=$1 what=$2 rc=0; shift 2
	"$@" >"$T_TMP/out" 2>"$T_TMP/err" || rc=$?
	if [ "$rc" = "$want" ]; then ok "$what"; else
		not_ok "$what (exit $rc, want $want)"; sed 's/^/    /' "$T_TMP/out" "$T_TMP/err" | head -20
	fi
}
# flip_byte FILE OFFSET: change one byte to a different value, whatever it was
flip_byte() {
	local b
	b=$(dd if="$1" bs=1 skip="$2" count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
	printf "$(printf '\\%03o' $(( (b + 1) % 256 )))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
skip_all() { echo "SKIPPED: $*"; exit 77; }
finish() {
	echo "$T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" = 0 ]
}
