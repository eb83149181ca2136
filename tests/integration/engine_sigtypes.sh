#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# One small database per signature type (issue 15): `ampscansvc --scan
# --engine clamav` and clamscan, with the same database and options, must
# give the same verdict and the same names for every sample.  Each case
# first checks that clamscan really detects what it should (two OKs prove
# nothing), then compares the two line by line.
#   engine_sigtypes.sh AMPSCANSVC [SHARED_DIR]
. "$(dirname "$0")/lib.sh"
SVC=$1
SHARED=${2:-}
FILES=/usr/share/clamav-testfiles
[ -d "$FILES" ] || skip_all "no $FILES (Debian package clamav-testfiles)"
command -v clamscan >/dev/null || skip_all "no clamscan (Debian package clamav)"
command -v sigtool >/dev/null || skip_all "no sigtool (Debian package clamav)"
cd "$T_TMP"
export TMPDIR=$T_TMP
EXE=$FILES/clam.exe
ZIP=$FILES/clam.zip
skip() { echo "skip - $*"; }

# "path: verdict" lines, sorted, of one scanner
verdicts() {  # verdicts OUT scanner args...
	local out=$1
	shift
	"$@" >"$out.raw" 2>"$out.err" || true
	grep -E ': (.* FOUND|OK|.* ERROR)$' "$out.raw" | sort >"$out"
}
# compare WHAT "CLAMSCAN OPTS" "AMPSCANSVC OPTS" FILES...: cs.txt, sv.txt
compare() {
	local what=$1 cs=$2 sv=$3
	shift 3
	# shellcheck disable=SC2086
	verdicts cs.txt clamscan --no-summary --stdout $cs "$@"
	# shellcheck disable=SC2086
	verdicts sv.txt "$SVC" --scan --engine clamav --allow-unsigned $sv "$@"
	if [ "$(wc -l <cs.txt)" = "$#" ] && cmp -s cs.txt sv.txt; then
		ok "$what: same as clamscan ($(grep -c FOUND cs.txt) FOUND of $#)"
	else
		not_ok "$what: verdicts differ from clamscan"
		diff cs.txt sv.txt | head -20 | sed 's/^/    /'
		sed 's/^/    clamscan err: /' cs.txt.err | head -5
		sed 's/^/    ampscansvc err: /' sv.txt.err | head -5
	fi
}
# clamscan's verdict for one file, as compare left it in cs.txt
cs_says() {  # cs_says WHAT FILE VERDICT
	if grep -qxF "$2: $3" cs.txt; then
		ok "$1: clamscan says $(basename "$2"): $3"
	else
		not_ok "$1: clamscan does not say $(basename "$2"): $3 (the case proves nothing)"
		sed 's/^/    /' cs.txt | head -5
	fi
}
db() {  # db DIR FILE LINE...: a database directory with one file
	mkdir -p "$1"
	local d=$1 f=$2
	shift 2
	printf '%s\n' "$@" >>"$d/$f"
}

md5=$(md5sum <"$EXE" | cut -d' ' -f1)
sha=$(sha256sum <"$EXE" | cut -d' ' -f1)
size=$(stat -c %s "$EXE")
# clam.exe's one PE section, its import table hash, as sigtool prints them
sect=$(sigtool --mdb "$EXE" 2>&1 | sed -n 's/.*Section{0}: \([0-9]*\):.*/\1/p' | head -1)
imp=$(sigtool --imp "$EXE" 2>&1 | sed -n 's/.*Imphash: \([0-9a-f]*:[0-9]*\).*/\1/p' | head -1)
check "sigtool gives clam.exe's section size (512)" [ "$sect" = 512 ]
check "sigtool gives clam.exe's import hash" [ -n "$imp" ]
# the section's raw bytes start at file offset 0 (PointerToRawData 1, aligned)
sect256=$(head -c "$sect" "$EXE" | sha256sum | cut -d' ' -f1)

# ---- hash, section, import, logical, yara, container, body signatures
db hdbstar hdb.hdb "$md5:*:Test.HdbStar:73"
db hsb hsb.hsb "$sha:$size:Test.Hsb"
db mdb mdb.mdb "$sect:$(head -c "$sect" "$EXE" | md5sum | cut -d' ' -f1):Test.Mdb"
db msb msb.msb "$sect:$sect256:Test.Msb:73"
db imp imp.imp "$imp:Test.Imp"
db ldb ldb.ldb 'Test.Ldb;Engine:51-255,Target:1;0&1;4b45524e454c3332;5b434c414d41565d'
db yar t.yar 'rule TestYar { strings: $a = "KERNEL32" condition: $a }'
db yara t.yara 'rule TestYara { strings: $a = { 5b 43 4c 41 4d 41 56 5d } condition: $a and uint16(0) == 0x5a4d }'
db cdb cdb.cdb 'Test.Cdb:CL_TYPE_ZIP:*:clam\.exe:*:*:*:*:*:*'
# "CLAMessageBox" anywhere; "KERNEL32" at 192; mov ebx at EP+0, xor eax at EP+5
db ndb0star t.ndb "Test.Ndb0Star:0:*:434c414d657373616765426f78"
db ndb0abs t.ndb "Test.Ndb0Abs:0:192:4b45524e454c3332"
db ndb1star t.ndb "Test.Ndb1Star:1:*:4b45524e454c3332"
db ndb1ep5 t.ndb "Test.Ndb1Ep5:1:EP+5:33c050508bf3"
# case DIR NAME: clam.exe and clam.zip (clam.exe inside) both detected as NAME
for c in hdbstar:HdbStar hsb:Hsb mdb:Mdb msb:Msb imp:Imp ldb:Ldb yar:YARA.TestYar \
	yara:YARA.TestYara ndb0star:Ndb0Star ndb0abs:Ndb0Abs ndb1star:Ndb1Star ndb1ep5:Ndb1Ep5; do
	t=${c%%:*} name=${c#*:}
	case $name in YARA.*) ;; *) name=Test.$name ;; esac
	compare "$t" "-d $t" "--defs $t" "$EXE" "$ZIP"
	cs_says "$t" "$EXE" "$name.UNOFFICIAL FOUND"
	cs_says "$t" "$ZIP" "$name.UNOFFICIAL FOUND"
done
compare cdb "-d cdb" "--defs cdb" "$EXE" "$ZIP"
cs_says cdb "$ZIP" "Test.Cdb.UNOFFICIAL FOUND"
cs_says cdb "$EXE" "OK"

# ---- mail: target 4, phishing (.pdb) and its allow list (.wdb)
# An HTML mail whose link text shows one domain (www.paypal.com) while its
# href goes to another: with paypal.com a protected domain (.pdb H:), the
# phishing heuristic names it Heuristics.Phishing.Email.SpoofedDomain;
# a .wdb entry for that real/display pair makes it clean again.
cat >phish.eml <<'MAIL'
From: "Example Bank" <service@bank.example>
To: user@example.org
Subject: Please confirm your account
Date: Mon, 1 Jan 2024 10:00:00 +0000
Message-ID: <1@bank.example>
MIME-Version: 1.0
Content-Type: text/html; charset=us-ascii

<html><body>
<p>Dear customer, confirm your account at
<a href="http://login.attacker.example.net/confirm">http://www.paypal.com/confirm</a>
today.</p>
</body></html>
MAIL
# absolute paths: clamscan prints a relative one as given on some machines
# and made absolute on others (a fresh Debian 12 root); ampscansvc as given
PHISH=$PWD/phish.eml
db ndb4star t.ndb "Test.Ndb4Star:4:*:$(printf 'confirm your account' | od -An -tx1 | tr -d ' \n')"
compare ndb4star "-d ndb4star" "--defs ndb4star" "$EXE" "$PHISH"
cs_says ndb4star "$PHISH" "Test.Ndb4Star.UNOFFICIAL FOUND"
cs_says ndb4star "$EXE" OK
db pdb t.pdb "H:paypal.com"
compare pdb "-d pdb" "--defs pdb" "$ZIP" "$PHISH"
cs_says pdb "$PHISH" "Heuristics.Phishing.Email.SpoofedDomain FOUND"
db wdb a.pdb "H:paypal.com"
db wdb b.wdb "M:login.attacker.example.net:www.paypal.com"
compare "pdb + wdb" "-d wdb" "--defs wdb" "$ZIP" "$PHISH"
cs_says "pdb + wdb" "$PHISH" OK

# ---- .ftm: file types of our own.  A lone .ftm replaces libclamav's
# built-in types (the canaries then refuse it: engine_clamav.sh), so this
# one also names zip and mail; its third line makes a file that starts
# "AMPTEST-MAIL" a mail, which enables a target-4 (mail) body signature on
# a file libclamav would otherwise take for plain text.
printf 'AMPTEST-MAIL\nampscan ftm marker line\n' >ftm.txt
FTMF=$PWD/ftm.txt
ftmhex=$(printf 'ampscan ftm marker' | od -An -tx1 | tr -d ' \n')
db ftm a.ftm '0:0:504b0304:Test.Zip:CL_TYPE_ANY:CL_TYPE_ZIP' \
	'0:0:46726f6d3a20:Test.Mail:CL_TYPE_ANY:CL_TYPE_MAIL' \
	"0:0:$(printf 'AMPTEST-MAIL' | od -An -tx1 | tr -d ' \n'):Test.AmpMail:CL_TYPE_ANY:CL_TYPE_MAIL"
db ftm b.ndb "Test.FtmMail:4:*:$ftmhex"
db ftmoff b.ndb "Test.FtmMail:4:*:$ftmhex"
compare "ndb target 4 without the .ftm" "-d ftmoff" "--defs ftmoff" "$FTMF" "$ZIP"
cs_says "ndb target 4 without the .ftm" "$FTMF" OK
compare "ftm + ndb target 4" "-d ftm" "--defs ftm" "$FTMF" "$ZIP"
cs_says "ftm + ndb target 4" "$FTMF" "Test.FtmMail.UNOFFICIAL FOUND"

# ---- allow lists: .fp (MD5) and .sfp (SHA-256) over a detection, .ign2
db fp a.hdb "$md5:$size:Test.Hdb"
db sfp a.hsb "$sha:$size:Test.Hsb"
db ign2 a.ndb "Test.Ndb0Star:0:*:434c414d657373616765426f78"
for t in fp sfp ign2; do
	compare "$t: the detection alone" "-d $t" "--defs $t" "$EXE"
	cs_says "$t: the detection alone" "$EXE" "$(sed -n 's/^\([^:]*:\)\{0,2\}\(Test\.[A-Za-z0-9]*\).*/\2/p' $t/a.* | head -1).UNOFFICIAL FOUND"
done
db fp b.fp "$md5:$size:Clean.Fp"
db sfp b.sfp "$sha:$size:Clean.Sfp"
db ign2 b.ign2 "Test.Ndb0Star"
for t in fp sfp ign2; do
	compare "$t: allow-listed" "-d $t" "--defs $t" "$EXE" "$ZIP"
	cs_says "$t: allow-listed" "$EXE" OK
done

# ---- PUA types: loaded only with --detect-pua (clamscan --detect-pua=yes)
db hdu t.hdu "$md5:$size:Test.Hdu"
db hsu t.hsu "$sha:$size:Test.Hsu"
db ldu t.ldu 'Test.Ldu;Engine:51-255,Target:1;0&1;4b45524e454c3332;5b434c414d41565d'
for t in hdu hsu ldu; do
	compare "$t, PUA off" "-d $t" "--defs $t" "$EXE" "$ZIP"
	cs_says "$t, PUA off" "$EXE" OK
	compare "$t, PUA on" "-d $t --detect-pua=yes" "--defs $t --detect-pua" "$EXE" "$ZIP"
	cs_says "$t, PUA on" "$EXE" "Test.${t^}.UNOFFICIAL FOUND"
done

expect_status 2 "--detect-pua with the builtin engine: refused" \
	"$SVC" --scan --engine builtin --detect-pua --allow-unsigned --defs hdu "$EXE"
check "--detect-pua refused: says why" grep -q 'detect-pua needs the clamav engine' "$T_TMP/err"

# ---- heuristics: an encrypted zip (python's zipfile cannot encrypt)
if command -v zip >/dev/null; then
	cp "$EXE" clam.exe
	zip -q -P secret enc.zip clam.exe
	compare "encrypted zip, default options" "-d hsb" "--defs hsb" "$PWD/enc.zip"
	cs_says "encrypted zip, default options" "$PWD/enc.zip" OK
	clamscan --no-summary --stdout -d hsb --alert-encrypted=yes enc.zip >enc.txt 2>&1 || true
	check "clamscan --alert-encrypted=yes: Heuristics.Encrypted.Zip" grep -q 'Heuristics.Encrypted.Zip FOUND' enc.txt
else
	skip "encrypted zip: no zip(1) to make one"
fi

# ---- bytecode: ClamAV's test bytecode containers (official, signed)
BC=$SHARED/testdata/real-cvd
if [ -n "$SHARED" ] && [ -f "$BC/bytecode-clamav-unittest.cvd" ]; then
	# Their bytecodes detect nothing on these files (clamscan neither); two of
	# them hold an .hdb of ClamAV's test file, which finds all 44.  The load
	# itself checks libclamav's count against the header's (engine_stage.c).
	mapfile -t ALL < <(find "$FILES" -maxdepth 1 -type f | sort)
	for f in bytecode-clamav-unittest bytecode-artefactual-2015 bytecode-mko-x-2021; do
		mkdir "$f"
		cp "$BC/$f.cvd" "$f/bytecode.cvd"
		compare "$f over clamav-testfiles" "-d $f" "--defs $f" "${ALL[@]}"
	done
else
	skip "bytecode: no ../shared/testdata/real-cvd (../shared absent)"
fi

finish
