# Shared helpers for the integration scripts (sourced).
set -u
T_PASS=0
T_FAIL=0
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ampscan-it.XXXXXX")
trap 'rm -rf "$T_TMP"' EXIT

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
