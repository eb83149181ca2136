#!/usr/bin/env bash
# Definitions updates with `Engine clamav`: the trial loads the candidate
# set with libclamav in a clamav worker's sandbox (scratch directory
# ScratchDir/trial-PID, wiped after), canaries included.
#   - test-5.cvd active, then test-6.cvd through `ampctl update`: activated,
#     the workers READY on version 6, no trial-* directory left;
#   - an operator-signed container that verifies and that the builtin
#     engine's syntax check accepts, but libclamav refuses (an .ndb body
#     `61{2}62`: no static part of 2 bytes): rejected before activation
#     with libclamav's reason (ampctl update exit 1, a definitions_rejected
#     event, quarantined), the active set unchanged, scans still answered;
#   - `ampscansvc --check --engine clamav` on both sets: exit 0 and 2.
#   daemon_clamav_update.sh BUILD_DIR SOURCE_DIR SHARED_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
BUILD=$1
SRC=$2
SHARED=$3
T6DIR=$SHARED/testdata/real-cvd/freshclam-tests
[ -d "$SHARED/testdata" ] || skip_all "shared test data absent ($SHARED/testdata)"
[ -f "$T6DIR/test-6.cvd" ] || skip_all "$T6DIR/test-6.cvd absent"
[ -f /usr/share/clamav-testfiles/clam.exe ] || skip_all "clamav-testfiles is not installed"
dl_init "$BUILD" "$SRC"
cd "$T_TMP" || exit 1

mkdir -p certs
cp "$T6DIR/clamav-test.crt" certs/
rm -f defs/active/*
cp "$T6DIR/test-5.cvd" defs/active/test.cvd
cp "$T6DIR/test-5.cvd.sign" defs/active/test.cvd.sign
cp /usr/share/clamav-testfiles/clam.exe files/clam.exe
chmod 644 files/clam.exe

# the refused container: operator-signed with the key in TrustedKeys
mkdir -p refsrc
printf 'AmpTest.Refused:0:*:61{2}62\nAmpTest.Fine:0:*:414d5053434f4e54524f4c\n' >refsrc/refused.ndb
"$CVDTOOL" build "$T_TMP/refused.cvd" --from refsrc --key keys/k.key \
	--version 1 --builder test >/dev/null
check "the refused container verifies (cvdtool verify)" \
	"$CVDTOOL" verify --trusted-key keys/k.pub refused.cvd

# ---- ampscansvc --check, by hand ---------------------------------------------------
mkdir -p good bad
cp "$T6DIR/test-6.cvd" "$T6DIR/test-6.cvd.sign" good/
cp refused.cvd bad/
SVC=$T_TMP/bin/ampscansvc
expect_status 0 "--check --engine clamav on test-6: good" \
	"$SVC" --check good --engine clamav --certs-dir certs
check "--check --engine clamav on test-6: it says OK (clamav) test-6-6" grep -q 'OK (clamav) test-6-6' out
"$SVC" --check good --engine clamav --certs-dir certs >/dev/null 2>"$T_TMP/err"
check "--check --engine clamav, stdout a device: no call refused by its sandbox" \
	bash -c "! grep -q 'refused syscall' '$T_TMP/err'"
expect_status 2 "--check (builtin) on the refused set: refused too (it cannot load 61{2}62)" \
	"$SVC" --check bad --engine builtin --trusted-key keys/k.pub
expect_status 0 "--check --allow-partial (builtin) on the refused set: accepted" \
	"$SVC" --check bad --engine builtin --trusted-key keys/k.pub --allow-partial
expect_status 2 "--check --engine clamav on the refused set: refused" \
	"$SVC" --check bad --engine clamav --trusted-key keys/k.pub
check "--check --engine clamav: libclamav's reason" grep -q 'FAILED: .*libclamav refuses it' err
check "--check --engine clamav: libclamav's first (most specific) error and its line" \
	grep -q "FAILED: .*libclamav refuses it: Malformed database: .*Can't find a static subpattern of length 2 (at line 1)" err
check "--check --engine clamav: no scratch directory left in TMPDIR" \
	bash -c "! ls -d \"\${TMPDIR:-/tmp}\"/ampscansvc.* 2>/dev/null | xargs -r -n1 stat -c %U | grep -qx \"$(id -un)\" || true"

# ---- the daemon -------------------------------------------------------------------
SCR=$T_TMP/scratch
mkdir -p "$SCR/trial-99999"
echo leftover >"$SCR/trial-99999/f"
dl_config CreateScanUser yes Engine clamav ScratchDir "$SCR" MaxRecursion 17 \
	Workers 1 TrialTimeout 60s
check "ampdaemon starts with Engine clamav on test-5" dl_start
check "the worker becomes READY" dl_wait_ready 1 60
check "a leftover trial scratch directory is wiped at start" test ! -e "$SCR/trial-99999"
version() { dl_status_py "[d['version'] for d in s['definitions']['databases'] if d['name'] == 'test']"; }
check "the worker loaded test version 5" test "$(version)" = "[5]"

expect_status 0 "ampctl update test-6.cvd: activated" \
	dl_ctl update "$T6DIR/test-6.cvd" "$T6DIR/test-6.cvd.sign"
check "the worker rolls over to version 6" \
	dl_wait "[d['version'] for d in s['definitions']['databases'] if d['name'] == 'test'] == [6] and sum(w['state'] == 'ready' for w in s['workers']) == 1" 60
check "the trial's scratch directory is gone" \
	bash -c "! ls -d '$SCR'/trial-* 2>/dev/null | grep -q ."
check "clam.exe found on test-6" bash -c "timeout 30 '$AMPCTL' --socket '$DL_CTL' scan '$T_TMP/files/clam.exe' | grep -q 'FOUND$'"

(cd defs/active && sha256sum ./*) >snap
expect_status 1 "ampctl update refused.cvd: rejected" dl_ctl update "$T_TMP/refused.cvd"
check "the verdict gives libclamav's reason" grep -q "libclamav refuses it" err
check "a definitions_rejected event with libclamav's reason" \
	ev_wait "any(e['event'] == 'definitions_rejected' and 'refused.cvd' in json.dumps(e) and 'libclamav refuses it' in json.dumps(e) for e in E)" 10
check "the event's reason is libclamav's most specific error" \
	ev_wait "any(e['event'] == 'definitions_rejected' and 'static subpattern of length 2' in json.dumps(e) for e in E)" 10
check "kept in quarantine/ with a reason file" \
	bash -c "ls defs/quarantine/ | grep -q '^refused.cvd\..*\.reason$'"
check "the active set is unchanged" bash -c "cd defs/active && sha256sum -c --quiet '$T_TMP/snap'"
check "no refused.cvd in active/" test ! -e defs/active/refused.cvd
check "scans still answered (clam.exe FOUND)" bash -c "timeout 30 '$AMPCTL' --socket '$DL_CTL' scan '$T_TMP/files/clam.exe' | grep -q 'FOUND$'"
check "still version 6, the worker READY" test "$(version)" = "[6]"
check "the trial's scratch directory is gone after the rejection" \
	bash -c "! ls -d '$SCR'/trial-* 2>/dev/null | grep -q ."
dl_no_refused
dl_stop_checked

finish
