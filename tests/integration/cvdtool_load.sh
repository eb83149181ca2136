#!/usr/bin/env bash
# cvdtool verify --load (issue 15): the verified containers loaded by
# `ampscansvc --check` (the daemon's trial load and canaries, by hand):
#   - the demo definitions, built and signed with an operator key, load
#     with clamav and with builtin; the JSON carries a "load" object;
#   - test-6.cvd (shared test data, skipped visibly when absent) loads;
#   - a container that verifies but libclamav refuses fails with
#     libclamav's reason and exit 1 (builtin refuses it too: a target-1 line);
#   - two containers whose members share a name load together, both in force;
#   - a file that fails verification is not loaded;
#   - ampscansvc is found beside cvdtool and in the installed layout
#     (bin/cvdtool -> sbin/ampscansvc); --scansvc missing is a clear error;
#   - the private directory is gone after success, failure and SIGTERM.
#   cvdtool_load.sh CVDTOOL AMPSCANSVC SOURCE_DIR SHARED_DIR
. "$(dirname "$0")/lib.sh"
CVDTOOL=$1
SVC=$2
SRC=$3
SHARED=$4
T6DIR=$SHARED/testdata/real-cvd/freshclam-tests
skip() { echo "skip - $*"; }
"$SVC" --version | grep -q '^engines: .*clamav' ||
	skip_all "ampscansvc was built without the clamav engine"
cd "$T_TMP" || exit 1
mkdir tmpd
export TMPDIR=$T_TMP/tmpd
tmp_empty() { [ -z "$(ls -A "$TMPDIR")" ]; }

"$CVDTOOL" keygen op.key op.pub >/dev/null
"$CVDTOOL" build demo.cvd --from "$SRC/tools/demo-defs" --key op.key --version 3 >/dev/null

# ---- a good container ------------------------------------------------------------
expect_status 0 "demo.cvd loads (clamav, the default)" \
	"$CVDTOOL" verify --load --scansvc "$SVC" --trusted-key op.pub demo.cvd
check "the verdict line comes first" grep -q '^demo.cvd: OK: version 3' out
check "load: OK (clamav) N signatures, canaries found" \
	grep -Eq '^load: OK \(clamav\) [1-9][0-9]* signatures, canaries found \(demo-3\)$' out
check "no temporary directory left after success" tmp_empty

# ---- two containers whose members share a name (x.ndb in each) ---------------------
mkdir -p dupa dupb dupset
printf 'Dup.A:0:*:4455502d412d4d41524b4552\n' >dupa/x.ndb
printf 'Dup.B:0:*:4455502d422d4d41524b4552\n' >dupb/x.ndb
"$CVDTOOL" build dupset/one.cvd --from dupa --key op.key --version 1 >/dev/null
"$CVDTOOL" build dupset/two.cvd --from dupb --key op.key --version 1 >/dev/null
expect_status 0 "one.cvd and two.cvd, both holding x.ndb, load together" \
	"$CVDTOOL" verify --load --scansvc "$SVC" --trusted-key op.pub dupset/one.cvd dupset/two.cvd
echo DUP-A-MARKER >dup-a.txt
echo DUP-B-MARKER >dup-b.txt
"$SVC" --scan --engine clamav --defs dupset --trusted-key op.pub dup-a.txt dup-b.txt \
	>"$T_TMP/out" 2>"$T_TMP/err"
check "both x.ndb files are in force (Dup.A and Dup.B found)" \
	bash -c "grep -q 'dup-a.txt: Dup.A.UNOFFICIAL FOUND' '$T_TMP/out' && grep -q 'dup-b.txt: Dup.B.UNOFFICIAL FOUND' '$T_TMP/out'"
expect_status 0 "demo.cvd loads with --engine builtin" \
	"$CVDTOOL" verify --load --engine builtin --scansvc "$SVC" --trusted-key op.pub demo.cvd
check "load: OK (builtin) N signatures" \
	grep -Eq '^load: OK \(builtin\) [1-9][0-9]* signatures, canaries found' out
expect_status 0 "--json --load" \
	"$CVDTOOL" verify --load --json --scansvc "$SVC" --trusted-key op.pub demo.cvd
check "the JSON has a load object: ok, clamav, signatures, no reason" python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
l = o["load"]
assert o["ok"] and o["file"] == "demo.cvd"
assert l["status"] == "ok" and l["engine"] == "clamav", l
assert isinstance(l["signatures"], int) and l["signatures"] > 0, l
assert l["databases"] == ["demo-3"] and l["reason"] is None, l
' out
mkdir othsrc
printf 'AmpTest.Other:0:*:414d5053434f4e54524f4c\n' >othsrc/other.ndb
"$CVDTOOL" build other.cvd --from othsrc --key op.key --version 3 >/dev/null
expect_status 0 "two files load as one set" \
	"$CVDTOOL" verify --load --scansvc "$SVC" --trusted-key op.pub demo.cvd other.cvd
check "both databases were loaded" grep -Eq '^load: OK \(clamav\) .*\((demo-3 other-3|other-3 demo-3)\)$' out

# ---- ampscansvc found without --scansvc -------------------------------------------
mkdir -p pfx/bin pfx/sbin lone
cp "$CVDTOOL" pfx/bin/cvdtool
cp "$CVDTOOL" lone/cvdtool
ln -s "$SVC" pfx/sbin/ampscansvc
if [ -x "$(dirname "$CVDTOOL")/ampscansvc" ]; then
	expect_status 0 "the ampscansvc beside cvdtool (build tree)" \
		"$CVDTOOL" verify --load --trusted-key op.pub demo.cvd
else
	skip "no ampscansvc beside $CVDTOOL"
fi
expect_status 0 "the installed layout: bin/cvdtool runs sbin/ampscansvc" \
	pfx/bin/cvdtool verify --load --trusted-key op.pub demo.cvd
check "... and it loaded" grep -q '^load: OK (clamav)' out
expect_status 1 "no ampscansvc anywhere: exit 1" \
	lone/cvdtool verify --load --trusted-key op.pub demo.cvd
check "... and it says where it looked" grep -q '^load: ERROR: ampscansvc not found: .*--scansvc' out
expect_status 1 "--scansvc naming a missing file: exit 1" \
	"$CVDTOOL" verify --load --scansvc "$T_TMP/nothere/ampscansvc" --trusted-key op.pub demo.cvd
check "... with a clear error" \
	grep -q "^load: ERROR: --scansvc $T_TMP/nothere/ampscansvc: No such file or directory" out

# ---- a container libclamav refuses ------------------------------------------------
mkdir refsrc
printf 'AmpTest.Refused:0:*:61{2}62\nAmpTest.Fine:0:*:414d5053434f4e54524f4c\n' >refsrc/refused.ndb
"$CVDTOOL" build refused.cvd --from refsrc --key op.key --version 1 >/dev/null
expect_status 1 "refused.cvd verifies but does not load (clamav): exit 1" \
	"$CVDTOOL" verify --load --scansvc "$SVC" --trusted-key op.pub refused.cvd
check "it verified" grep -q '^refused.cvd: OK: version 1' out
check "load: FAILED with libclamav's reason" \
	grep -q '^load: FAILED: .*refused.ndb: libclamav refuses it' out
check "no temporary directory left after a failed load" tmp_empty
expect_status 1 "--json: the failed load" \
	"$CVDTOOL" verify --load --json --scansvc "$SVC" --trusted-key op.pub refused.cvd
check "the JSON says failed, with the reason and no count" python3 -c '
import json, sys
l = json.load(open(sys.argv[1]))["load"]
assert l["status"] == "failed" and l["signatures"] is None, l
assert "libclamav refuses it" in l["reason"], l
' out
# the builtin engine cannot honour its target-1 line: refused, never
# silently partial (AllowPartialEngine is the daemon's choice, not cvdtool's)
expect_status 1 "the builtin engine refuses refused.cvd (a signature it cannot load)" \
	"$CVDTOOL" verify --load --engine builtin --scansvc "$SVC" --trusted-key op.pub refused.cvd
check "load: FAILED: the builtin engine cannot load 1 signatures ... 1 ndb" \
	grep -Eq '^load: FAILED: the builtin engine cannot load 1 signatures .*: 1 ndb' out

# ---- verification fails: nothing is loaded ------------------------------------------
expect_status 1 "an untrusted container: exit 1" \
	"$CVDTOOL" verify --load --scansvc "$SVC" demo.cvd
check "load: not run" grep -q '^load: not run: 1 of 1 files failed verification' out
"$CVDTOOL" verify --load --json --scansvc "$SVC" demo.cvd >out 2>err
check "--json: status not-run" python3 -c '
import json, sys
assert json.load(open(sys.argv[1]))["load"]["status"] == "not-run"' out

# ---- usage ----------------------------------------------------------------------------
expect_status 2 "--engine other than clamav|builtin" "$CVDTOOL" verify --load --engine foo demo.cvd
expect_status 2 "--engine without --load" "$CVDTOOL" verify --engine builtin demo.cvd
expect_status 2 "--load is for verify only" "$CVDTOOL" info --load demo.cvd
"$CVDTOOL" --help >out
check "--help documents --load, --engine and --scansvc" \
	sh -c 'grep -q "verify --load" out && grep -q -- "--engine NAME" out && grep -q -- "--scansvc PATH" out'

# ---- SIGTERM during the check: the directory is removed, the check killed ---------
cat >fakesvc <<EOF
#!/bin/sh
# a stand-in ampscansvc that leaves files in its TMPDIR and hangs
mkdir "\$TMPDIR/ampscansvc.fake" && echo x >"\$TMPDIR/ampscansvc.fake/f"
echo \$\$ >"$T_TMP/fake.pid"
exec sleep 300
EOF
chmod +x fakesvc
"$CVDTOOL" verify --load --scansvc "$T_TMP/fakesvc" --trusted-key op.pub demo.cvd >out 2>err &
cv=$!
for _ in $(seq 1 600); do
	[ -s fake.pid ] && break
	sleep 0.1
done
check "the stand-in check started" test -s fake.pid
check "it sees the staged container in the private directory" \
	sh -c 'ls "$TMPDIR"/cvdtool-load.*/defs/demo.cvd >/dev/null'
kill -TERM "$cv"
rc=0
wait "$cv" || rc=$?
check "cvdtool died of SIGTERM (status 143, got $rc)" test "$rc" = 143
check "the check was killed with it" sh -c "! kill -0 $(cat fake.pid) 2>/dev/null"
check "no temporary directory left after SIGTERM" tmp_empty

# ---- the real test-6.cvd ------------------------------------------------------------
if [ -f "$T6DIR/test-6.cvd" ] && [ -f "$T6DIR/test-6.cvd.sign" ]; then
	mkdir certs real
	cp "$T6DIR/clamav-test.crt" certs/
	cp "$T6DIR/test-6.cvd" "$T6DIR/test-6.cvd.sign" real/
	expect_status 0 "test-6.cvd with its .sign loads (clamav)" \
		"$CVDTOOL" verify --load --scansvc "$SVC" --certs-dir certs real/test-6.cvd
	check "load: OK (clamav) ... (test-6-6)" \
		grep -Eq '^load: OK \(clamav\) [1-9][0-9]* signatures, canaries found \(test-6-6\)$' out
	expect_status 1 "test-6.cvd with --engine builtin: refused (its ldb/cdb lines)" \
		"$CVDTOOL" verify --load --engine builtin --scansvc "$SVC" --certs-dir certs real/test-6.cvd
	check "load: FAILED: the builtin engine cannot load ... signatures" \
		grep -q '^load: FAILED: the builtin engine cannot load' out
else
	skip "test-6.cvd: $T6DIR/test-6.cvd absent"
fi
check "TMPDIR is empty at the end" tmp_empty
finish
