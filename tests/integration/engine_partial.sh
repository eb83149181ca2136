#!/usr/bin/env bash
# Issue 15: with the builtin engine a set holding signatures it cannot load
# (an .ldb, an .ndb of target 1) is refused, naming the types and counts,
# never used silently partial; --allow-partial / AllowPartialEngine yes use it.
#   - ampscansvc --scan --engine builtin: exit 2 with the reason; with
#     --allow-partial it scans (exit 1, the loadable signature FOUND);
#   - ampscansvc --check DIR (builtin): exit 2 / exit 0 with --allow-partial;
#   - ampdaemon Engine builtin: `ampctl update` of a partial set is rejected
#     by the trial before activation, the reason in definitions_rejected;
#     with AllowPartialEngine yes the same set is activated.
#   engine_partial.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
BUILD=$1
SRC=$2
SVC=$BUILD/bin/ampscansvc

# ---- ampscansvc by hand -------------------------------------------------------------
mkdir -p "$T_TMP/p"
printf 'Amp.Target1:1:*:414d502d5441524745542d4f4e45\nAmp.Fine:0:*:414d502d46494e452d4d41524b4552\n' \
	>"$T_TMP/p/x.ndb"
printf 'Amp.Ldb.A;Target:0;0;616263\nAmp.Ldb.B;Target:0;0;646566\n' >"$T_TMP/y.ldb"
printf 'AMP-FINE-MARKER\n' >"$T_TMP/f.txt"
expect_status 2 "--scan --engine builtin, a partial set: refused" \
	"$SVC" --scan --engine builtin --allow-unsigned --defs "$T_TMP/p/x.ndb" \
	--defs "$T_TMP/y.ldb" "$T_TMP/f.txt"
check "the reason names the types and counts" grep -qF \
	"the builtin engine cannot load 3 signatures of the --defs given: 1 ndb, 2 of other types (ldb, cdb, ...) (use --engine clamav, or --allow-partial)" "$T_TMP/err"
check "nothing scanned" [ ! -s "$T_TMP/out" ]
expect_status 1 "--scan --engine builtin --allow-partial: scans" \
	"$SVC" --scan --engine builtin --allow-unsigned --allow-partial \
	--defs "$T_TMP/p/x.ndb" --defs "$T_TMP/y.ldb" "$T_TMP/f.txt"
check "--allow-partial: the loadable signature is FOUND" grep -q 'f.txt: Amp.Fine FOUND' "$T_TMP/out"
check "--allow-partial: a note says what was left out" grep -q 'note: the builtin engine does not load 3 signatures' "$T_TMP/err"
expect_status 2 "--check DIR (builtin), a target-1 .ndb: refused" \
	"$SVC" --check "$T_TMP/p" --engine builtin --allow-unsigned
check "--check: FAILED with the types and counts" grep -qF \
	"check $T_TMP/p: FAILED: the builtin engine cannot load 1 signatures of $T_TMP/p: 1 ndb" "$T_TMP/err"
expect_status 0 "--check DIR --allow-partial: OK" "$SVC" --check "$T_TMP/p" --engine builtin --allow-unsigned --allow-partial
check "--check --allow-partial: the usual OK line" grep -q "^check $T_TMP/p: OK (built) x.ndb-0 ndb=1/1" "$T_TMP/out"

# ---- ampdaemon, Engine builtin -------------------------------------------------------
dl_init "$BUILD" "$SRC"
cd "$T_TMP" || exit 1
dl_config Engine builtin AllowPartialEngine no Workers 1 TrialTimeout 60s
check "ampdaemon starts (Engine builtin) on the demo set" dl_start
check "the worker becomes READY" dl_wait_ready 1 60
dl_build_cvd "$T_TMP/partial.cvd" 11 "Amp.Target1:1:*:414d502d5441524745542d4f4e45"
cp "$T_TMP/partial.cvd" "$T_TMP/partial2.cvd"
(cd defs/active && sha256sum ./*) >snap
expect_status 1 "ampctl update of a partial set: rejected" dl_ctl update "$T_TMP/partial.cvd"
check "the verdict names the types and counts" grep -Eq "the builtin engine cannot load 1 signatures of the (candidate set|index): 1 ndb" err
check "a definitions_rejected event with that reason" \
	ev_wait "any(e['event'] == 'definitions_rejected' and re.search('cannot load 1 signatures of the (candidate set|index): 1 ndb', json.dumps(e)) and 'AllowPartialEngine yes' in json.dumps(e) for e in E)" 10
check "the active set is unchanged" bash -c "cd defs/active && sha256sum -c --quiet '$T_TMP/snap'"
check "the worker is still READY" dl_wait_ready 1 10
dl_stop
dl_config Engine builtin AllowPartialEngine yes Workers 1 TrialTimeout 60s
check "ampdaemon restarts with AllowPartialEngine yes" dl_start
check "the worker becomes READY" dl_wait_ready 1 60
expect_status 0 "ampctl update of the partial set: activated" dl_ctl update "$T_TMP/partial2.cvd"
check "the worker rolls over to version 11" \
	dl_wait "any(d['version'] == 11 for d in s['definitions']['databases']) and sum(w['state'] == 'ready' for w in s['workers']) == 1" 60
check "the worker logged what it leaves out" \
	bash -c "grep -q 'note: the builtin engine does not load 1 signatures' '$DL_SVCLOG'"
dl_stop
finish
