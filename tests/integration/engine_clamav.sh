#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# ampscansvc --scan --engine clamav against Debian's clamscan on the same
# definitions: the 44 files of clamav-testfiles with ClamAV's test-6.cvd,
# and one small database per signature type over clam.exe / clam.zip.
# Every verdict must be the same; names as clamscan prints them.
#   engine_clamav.sh AMPSCANSVC SHARED_DIR
. "$(dirname "$0")/lib.sh"
SVC=$1
SHARED=$2
FILES=/usr/share/clamav-testfiles
T6=$SHARED/testdata/real-cvd/freshclam-tests/test-6.cvd
[ -f "$T6" ] || skip_all "no $T6 (../shared absent)"
[ -d "$FILES" ] || skip_all "no $FILES (Debian package clamav-testfiles)"
command -v clamscan >/dev/null || skip_all "no clamscan (Debian package clamav)"
cd "$T_TMP"
export TMPDIR=$T_TMP

# "path: verdict" lines, sorted, of one scanner over one file list
verdicts() {  # verdicts OUT scanner args...
	local out=$1
	shift
	"$@" >"$out.raw" 2>"$out.err" || true
	grep -E ': (.* FOUND|OK|.* ERROR)$' "$out.raw" | sort >"$out"
}
same_verdicts() {  # same_verdicts what DEFSARGS_CLAMSCAN DEFSARGS_SVC files...
	local what=$1 cs=$2 sv=$3
	shift 3
	# shellcheck disable=SC2086
	verdicts cs.txt clamscan --no-summary --stdout $cs "$@"
	# shellcheck disable=SC2086
	verdicts sv.txt "$SVC" --scan --engine clamav $sv "$@"
	if cmp -s cs.txt sv.txt && [ -s cs.txt ]; then
		ok "$what: $(grep -c FOUND cs.txt) FOUND of $(wc -l <cs.txt), same as clamscan"
	else
		not_ok "$what: verdicts differ from clamscan"
		diff cs.txt sv.txt | head -20 | sed 's/^/    /'
		sed 's/^/    err: /' sv.txt.err | head -5
	fi
}

mapfile -t ALL < <(find "$FILES" -maxdepth 1 -type f | sort)
check "clamav-testfiles: 44 files" [ "${#ALL[@]}" = 44 ]
mkdir t6 && cp "$T6" t6/
same_verdicts "test-6.cvd over clamav-testfiles" "-d t6/test-6.cvd" "--defs t6/test-6.cvd" "${ALL[@]}"
check "test-6.cvd: clamscan finds all 44" [ "$(grep -c FOUND cs.txt)" = 44 ]
check "no canary name shown" sh -c "! grep -qi canary sv.txt"
same_verdicts "test-6.cvd, --allmatch" "-d t6/test-6.cvd --allmatch" "--defs t6/test-6.cvd --allmatch" "${ALL[@]}"
check "the scratch directory is removed" sh -c "! ls -d '$T_TMP'/ampscansvc.* 2>/dev/null"

# One database per signature type (unofficial: plain files, .UNOFFICIAL names)
EXE=$FILES/clam.exe
ZIP=$FILES/clam.zip
md5=$(md5sum <"$EXE" | cut -d' ' -f1)
sha=$(sha256sum <"$EXE" | cut -d' ' -f1)
size=$(stat -c %s "$EXE")
# a PE section's size and MD5, as sigtool --mdb prints them
sect=$(sigtool --mdb "$EXE" 2>&1 | sed -n 's/.*Section{0}: \([0-9]*:[0-9a-f]*\).*/\1/p' | head -1)
mkdir types
typedb() {  # typedb NAME.EXT LINE
	mkdir "types/$1.d"
	printf '%s\n' "$2" >"types/$1.d/$1"
}
typedb t.hdb "$md5:$size:Test.Hdb"
typedb t.hsb "$sha:$size:Test.Hsb"
typedb star.hsb "$sha:*:Test.HsbStar:73"
check "sigtool --mdb gives a section hash" [ -n "$sect" ]
typedb t.mdb "$sect:Test.Mdb"
# target 1 (PE), at the entry point (clam.exe's first instruction)
# (its entry point 0x1040 lies at file offset 0x40: mov ebx, 0x401071)
typedb t.ndb "Test.Ndb1:1:EP+0:bb711040"
typedb t.ldb 'Test.Ldb;Engine:51-255,Target:1;0&1;4b45524e454c3332;5b434c414d41565d'
typedb t.cdb 'Test.Cdb:CL_TYPE_ZIP:*:clam\.exe:*:*:*:*:*:*'
# allow-lists: the .hdb detection suppressed by .fp, the .ndb one by .ign2
mkdir types/fp.d types/ign2.d
printf '%s\n' "$md5:$size:Test.Hdb" >types/fp.d/a.hdb
printf '%s\n' "$md5:$size:Clean.Fp" >types/fp.d/b.fp
printf '%s\n' "Test.Ndb0:0:*:434c414d657373616765426f78" >types/ign2.d/a.ndb  # CLAMessageBox
printf '%s\n' "Test.Ndb0" >types/ign2.d/b.ign2
for d in types/*.d; do
	t=$(basename "$d" .d)
	same_verdicts "$t" "-d $d" "--allow-unsigned --defs $d" "$EXE" "$ZIP"
	case $t in
	fp|ign2) check "$t: the allow-list suppresses the detection" sh -c "! grep -q 'clam.exe: .* FOUND' sv.txt" ;;
	t.cdb) check "$t: detects clam.zip" grep -q 'clam.zip: Test.Cdb.UNOFFICIAL FOUND' sv.txt ;;
	*) check "$t: detects clam.exe, named as clamscan names it" grep -q 'clam.exe: Test.*UNOFFICIAL FOUND' sv.txt ;;
	esac
done
# A .ftm replaces libclamav's built-in file types: alone, it leaves mail
# (and more) unparsed, and the mail canary refuses the set.
mkdir ftm.d
printf '%s\n' '0:0:4d5a:Test.Ftm:CL_TYPE_ANY:CL_TYPE_MSEXE' >ftm.d/t.ftm
expect_status 2 ".ftm alone: refused" "$SVC" --scan --engine clamav --allow-unsigned --defs ftm.d "$EXE"
check ".ftm alone: the mail canary says why" grep -q 'mail canary was not found' "$T_TMP/err"
# with test-6.cvd's file types (its .ftm-less set uses the built-in ones)
# the canaries pass: the canary check is what fails, not the loading
finish
