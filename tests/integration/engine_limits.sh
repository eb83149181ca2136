#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Limits and clamd.conf's heuristic options (issue 15): `ampscansvc --scan
# --engine clamav` and clamscan, with the same database and options, give
# the same verdicts and names; each case first checks that clamscan says
# what the case is about, and every limit hit gets its one log line.
#   engine_limits.sh AMPSCANSVC
. "$(dirname "$0")/lib.sh"
SVC=$1
FILES=/usr/share/clamav-testfiles
[ -d "$FILES" ] || skip_all "no $FILES (Debian package clamav-testfiles)"
command -v clamscan >/dev/null || skip_all "no clamscan (Debian package clamav)"
cd "$T_TMP"
export TMPDIR=$T_TMP
skip() { echo "skip - $*"; }

verdicts() {  # verdicts OUT scanner args...
	local out=$1
	shift
	"$@" >"$out.raw" 2>"$out.err" || true
	grep -E ': (.* FOUND|OK|.* ERROR)$' "$out.raw" | sort >"$out"
}
# compare WHAT "OPTS" FILE EXPECTED: clamscan says FILE: EXPECTED, and so do we
compare() {
	local what=$1 opts=$2 file=$3 want=$4
	# absolute: clamscan prints a relative path as given on some machines
	# and made absolute on others (a fresh Debian 12 root)
	[ "${file#/}" != "$file" ] || file=$PWD/$file
	# shellcheck disable=SC2086
	verdicts cs.txt clamscan --no-summary --stdout -d db.ndb $opts "$file"
	# shellcheck disable=SC2086
	verdicts sv.txt "$SVC" --scan --engine clamav --allow-unsigned --defs db.ndb $opts "$file"
	if ! grep -qxF "$file: $want" cs.txt; then
		not_ok "$what: clamscan does not say $file: $want (the case proves nothing)"
		sed 's/^/    clamscan: /' cs.txt cs.txt.err | head -5
	elif cmp -s cs.txt sv.txt; then
		ok "$what: $want, as clamscan"
	else
		not_ok "$what: verdicts differ from clamscan"
		diff cs.txt sv.txt | head -10 | sed 's/^/    /'
		sed 's/^/    ampscansvc err: /' sv.txt.err | head -5
	fi
}
# logged LIMIT FILE: ampscansvc's stderr has the one line for the limit hit
logged() {
	check "$2: one log line names $1" \
		[ "$(grep -c "^ampscansvc: $PWD/$2: limit exceeded: $1 " sv.txt.err)" = 1 ]
}

# the body of clam.exe's import table: found in clam.exe and what holds it
printf '%s\n' 'Test.Body:0:*:4b45524e454c3332' >db.ndb
cp "$FILES/clam.exe" big.exe
head -c 5000 /dev/zero >>big.exe
cp "$FILES/clam.zip" n1.zip
for i in 2 3 4 5 6; do
	python3 -c 'import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z: z.write(sys.argv[2])' "n$i.zip" "n$((i - 1)).zip"
done

compare "MaxFileSize, by default" "--max-filesize=1K" big.exe OK
logged MaxFileSize big.exe
compare "MaxFileSize, --alert-exceeds-max" "--max-filesize=1K --alert-exceeds-max" \
	big.exe "Heuristics.Limits.Exceeded.MaxFileSize FOUND"
logged MaxFileSize big.exe
compare "MaxScanSize, --alert-exceeds-max" "--max-scansize=1K --alert-exceeds-max" \
	big.exe "Heuristics.Limits.Exceeded.MaxScanSize FOUND"
logged MaxScanSize big.exe
compare "within the limits" "--alert-exceeds-max" big.exe "Test.Body.UNOFFICIAL FOUND"
check "within the limits: no limit line" [ "$(grep -c 'limit exceeded' sv.txt.err)" = 0 ]
compare "MaxRecursion, by default" "--max-recursion=3" n6.zip OK
logged MaxRecursion n6.zip
compare "MaxRecursion, --alert-exceeds-max" "--max-recursion=3 --alert-exceeds-max" \
	n6.zip "Heuristics.Limits.Exceeded.MaxRecursion FOUND"
compare "MaxRecursion not reached" "--alert-exceeds-max" n6.zip "Test.Body.UNOFFICIAL FOUND"

# ---- heuristics
if command -v zip >/dev/null; then
	cp "$FILES/clam.exe" clam.exe
	zip -q -P secret enc.zip clam.exe
	compare "encrypted zip, by default" "" enc.zip OK
	compare "encrypted zip, --alert-encrypted" "--alert-encrypted" enc.zip \
		"Heuristics.Encrypted.Zip FOUND"
	compare "encrypted zip, --alert-encrypted-archive" "--alert-encrypted-archive=yes" \
		enc.zip "Heuristics.Encrypted.Zip FOUND"
	compare "encrypted zip, --alert-encrypted-doc only" "--alert-encrypted-doc" enc.zip OK
else
	skip "encrypted zip: no zip(1) to make one"
fi
# a PE whose header says it has no sections; a 64-bit ELF whose program
# headers lie past its end
python3 - <<'PY'
import struct
d = bytearray(open("/usr/share/clamav-testfiles/clam.exe", "rb").read())
pe = struct.unpack_from("<I", d, 0x3c)[0]
struct.pack_into("<H", d, pe + 6, 0)
open("nosect.exe", "wb").write(d)
elf = b"\x7fELF\x02\x01\x01" + b"\0" * 9 + struct.pack("<HHIQQQIHHHHHH",
    2, 0x3e, 1, 0x400000, 0xffff00, 0, 0, 64, 56, 5, 64, 0, 0)
open("broken.elf", "wb").write(elf)
PY
printf '%s\n' 'Test.None:0:*:00112233445566778899aabbccddeeff' >db.ndb
compare "broken PE, by default" "" nosect.exe OK
compare "broken PE, --alert-broken" "--alert-broken" nosect.exe \
	"Heuristics.Broken.Executable FOUND"
compare "broken ELF, --alert-broken" "--alert-broken=yes" broken.elf \
	"Heuristics.Broken.Executable FOUND"
# clamscan 1.4 still alerts then: --alert-broken is its own switch
compare "broken PE, --alert-broken --heuristic-alerts=no" \
	"--alert-broken --heuristic-alerts=no" nosect.exe "Heuristics.Broken.Executable FOUND"

# the builtin engine has no heuristics: it says so instead of ignoring them
expect_status 2 "builtin refuses --alert-broken" \
	"$SVC" --scan --engine builtin --allow-unsigned --defs db.ndb --alert-broken nosect.exe
"$SVC" --scan --engine builtin --allow-unsigned --defs db.ndb --alert-exceeds-max \
	nosect.exe >/dev/null 2>err.txt || true
check "builtin: the refusal names the clamav engine" grep -q 'need the clamav engine' err.txt
finish
