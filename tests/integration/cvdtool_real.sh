#!/usr/bin/env bash
# cvdtool against the real, officially signed containers of ../shared and
# against Debian's sigtool on the same files.
#   cvdtool_real.sh CVDTOOL SHARED_DIR
. "$(dirname "$0")/lib.sh"
CVDTOOL=$1
REAL=$2/testdata/real-cvd
[ -d "$REAL" ] || skip_all "shared test data absent ($REAL)"
command -v sigtool >/dev/null || { not_ok "sigtool is not installed (tools/bootstrap installs clamav)"; finish; exit; }

cd "$REAL"
containers=$(ls *.cvd freshclam-tests/*.cvd)

# info: the same bytes as sigtool --info, stdout and exit status
for f in $containers; do
	"$CVDTOOL" info "$f" >"$T_TMP/ours" 2>"$T_TMP/ours.err"; a=$?
	sigtool --info "$f" >"$T_TMP/theirs" 2>/dev/null; b=$?
	check "info $f: same output as sigtool --info" cmp -s "$T_TMP/ours" "$T_TMP/theirs"
	check "info $f: exit status $a = sigtool's $b = 0" [ "$a" = 0 -a "$b" = 0 ]
	expect_status 0 "verify $f with the built-in official keys" "$CVDTOOL" verify "$f"
	check "verify $f says signed with the official keys" grep -q 'OK: .*official ClamAV keys' "$T_TMP/out"
done

# .cvd.sign: chained to the test root, not to the production root
mkdir -p "$T_TMP/certs-test" "$T_TMP/certs-prod"
cp freshclam-tests/clamav-test.crt "$T_TMP/certs-test/"
cp freshclam-tests/clamav-prod.crt "$T_TMP/certs-prod/"
for n in 1 2 3 4 5 6; do
	f=freshclam-tests/test-$n.cvd
	expect_status 0 "test-$n.cvd.sign verifies against clamav-test.crt" \
		"$CVDTOOL" verify --certs-dir "$T_TMP/certs-test" "$f"
	check "test-$n: signer is the test CVD signing certificate" grep -q 'signed by certificate .*ClamAV TEST CVD Signing' "$T_TMP/out"
	expect_status 1 "test-$n.cvd.sign is rejected against clamav-prod.crt" \
		"$CVDTOOL" verify --certs-dir "$T_TMP/certs-prod" "$f"
	check "test-$n: the reason names the .sign" grep -q 'FAILED (sign): .*test-'$n'.cvd.sign' "$T_TMP/out"
done
# one byte of the .cvd changed (in the header's builder, in the payload, the last byte)
for off in 100 2000 last; do
	cp freshclam-tests/test-6.cvd freshclam-tests/test-6.cvd.sign "$T_TMP/"
	chmod u+w "$T_TMP/test-6.cvd"
	size=$(stat -c %s "$T_TMP/test-6.cvd")
	[ "$off" = last ] && off=$((size - 1))
	byte=$(dd if="$T_TMP/test-6.cvd" bs=1 skip="$off" count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
	printf "$(printf '\\%03o' $(( (byte + 1) % 256 )))" | dd of="$T_TMP/test-6.cvd" bs=1 seek="$off" conv=notrunc 2>/dev/null
	expect_status 1 "test-6.cvd with byte $off changed is rejected by its .sign" \
		"$CVDTOOL" verify --certs-dir "$T_TMP/certs-test" "$T_TMP/test-6.cvd"
	check "byte $off: the reason is the .sign" grep -q 'FAILED (sign)' "$T_TMP/out"
done

# list-sigs: the same names as sigtool (bytecode .cbc names aside: we do not
# parse bytecode, see ARCHITECTURE.md)
for f in freshclam-tests/test-*.cvd safebrowsing-mko-x-2021.cvd; do
	"$CVDTOOL" list-sigs "$f" | sort >"$T_TMP/ours"
	sigtool --list-sigs="$f" 2>/dev/null | sort >"$T_TMP/theirs"
	check "list-sigs $f: same names as sigtool --list-sigs" cmp -s "$T_TMP/ours" "$T_TMP/theirs"
done

# unpack: the same files as sigtool --unpack
mkdir "$T_TMP/ours-unpack" "$T_TMP/theirs-unpack"
expect_status 0 "unpack test-6.cvd" "$CVDTOOL" unpack freshclam-tests/test-6.cvd -C "$T_TMP/ours-unpack"
(cd "$T_TMP/theirs-unpack" && sigtool --unpack "$REAL/freshclam-tests/test-6.cvd" >/dev/null 2>&1)
check "unpack test-6.cvd: same files and bytes as sigtool --unpack" diff -r "$T_TMP/ours-unpack" "$T_TMP/theirs-unpack"
expect_status 1 "unpack refuses to overwrite an existing member" \
	"$CVDTOOL" unpack freshclam-tests/test-6.cvd -C "$T_TMP/ours-unpack"

# failures: ERROR on stderr, exit status 1, like sigtool
cp freshclam-tests/test-6.cvd "$T_TMP/bad.cvd"; chmod u+w "$T_TMP/bad.cvd"
printf 'Y' | dd of="$T_TMP/bad.cvd" bs=1 seek=3000 conv=notrunc 2>/dev/null
expect_status 1 "info on a corrupted container exits 1" "$CVDTOOL" info "$T_TMP/bad.cvd"
check "info on a corrupted container: ERROR: on stderr naming MD5" grep -q '^ERROR: payload MD5 mismatch' "$T_TMP/err"
check "info on a corrupted container: header still shown, no verdict" sh -c "grep -q '^Version: 6' '$T_TMP/out' && ! grep -q 'Verification OK' '$T_TMP/out'"
expect_status 1 "info on a missing file exits 1" "$CVDTOOL" info "$T_TMP/none.cvd"
check "info on a missing file: ERROR names the file" grep -q "^ERROR: .*none.cvd: No such file" "$T_TMP/err"

# --json: one object per file
expect_status 0 "verify --json" "$CVDTOOL" verify --json freshclam-tests/test-6.cvd
check "verify --json is valid JSON with the version and members" python3 -c '
import json,sys
o=json.load(open(sys.argv[1]))
assert o["ok"] and o["header"]["version"]==6 and len(o["members"])==20
assert any(t["ext"]=="ldb" and not t["loaded"] for t in o["types"])' "$T_TMP/out"
finish
