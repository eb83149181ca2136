#!/usr/bin/env bash
# Detection parity with ClamAV: ampscansvc --scan and clamscan -d on the same
# definitions and the same files give the same verdicts.
#   worker_parity.sh AMPSCANSVC SHARED_DIR
. "$(dirname "$0")/lib.sh"
SVC=$1
SHARED=$2
TF=/usr/share/clamav-testfiles
command -v clamscan >/dev/null || { not_ok "clamscan missing (tools/bootstrap)"; finish; exit; }
[ -d "$TF" ] || { not_ok "$TF missing (tools/bootstrap installs clamav-testfiles)"; finish; exit; }

# files of clamav-testfiles that libarchive can open, or plain.  Left out:
# clam.impl.zip (PKWARE "implode", which libarchive does not decompress),
# clam.arj, .chm, .sis, .tnef, mail, OLE2/PDF/RTF/HTML, packed PE and
# installers: formats ClamAV parses itself and libarchive does not.
files="clam.exe clam.zip clam.7z clam.cab clam.tar.gz clam.exe.bz2 clam.bz2.zip
clam.bin-be.cpio clam.bin-le.cpio clam.newc.cpio clam.odc.cpio
clam_cache_emax.tgz"

compare() {  # compare LABEL OURS-ARGS -- CLAMSCAN-ARGS
	local label=$1; shift
	local ours=() theirs=()
	while [ "$1" != -- ]; do ours+=("$1"); shift; done; shift
	theirs=("$@")
	for f in $files; do
		a=$("$SVC" --scan --engine builtin --allow-partial "${ours[@]}" "$TF/$f" 2>/dev/null | sed 's/\.UNOFFICIAL//')
		b=$(clamscan --no-summary "${theirs[@]}" "$TF/$f" 2>/dev/null | sed 's/\.UNOFFICIAL//')
		check "$label: $f: same verdict ($a)" [ "$a" = "$b" ]
	done
	printf '%s' "$EICAR" >"$T_TMP/eicar.com"
	a=$("$SVC" --scan --engine builtin --allow-partial "${ours[@]}" "$T_TMP/eicar.com" 2>/dev/null | sed 's/\.UNOFFICIAL//')
	b=$(clamscan --no-summary "${theirs[@]}" "$T_TMP/eicar.com" 2>/dev/null | sed 's/\.UNOFFICIAL//')
	check "$label: EICAR: same verdict ($a)" [ "$a" = "$b" ]
	check "$label: EICAR is found" sh -c "echo '$a' | grep -q FOUND"
}
EICAR='X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'

# a hash database of clam.exe
printf '%s:%s:ClamAV-Test-File-Hash\n' "$(md5sum "$TF/clam.exe" | cut -d' ' -f1)" \
	"$(stat -c %s "$TF/clam.exe")" >"$T_TMP/clam.hdb"
printf '44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n' >>"$T_TMP/clam.hdb"
compare "clam.hdb" --allow-unsigned --defs "$T_TMP/clam.hdb" -- -d "$T_TMP/clam.hdb"
check "clam.hdb: clam.zip is found" sh -c "'$SVC' --scan --engine builtin --allow-unsigned --defs '$T_TMP/clam.hdb' '$TF/clam.zip' | grep -q 'ClamAV-Test-File-Hash FOUND'"

T6=$SHARED/testdata/real-cvd/freshclam-tests/test-6.cvd
if [ -f "$T6" ]; then
	compare "test-6.cvd" --defs "$T6" -- -d "$T6"
else
	echo "SKIPPED: test-6.cvd comparisons (shared test data absent)"
fi
finish
