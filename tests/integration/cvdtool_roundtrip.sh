#!/usr/bin/env bash
# Containers we build, checked by us and by ClamAV's own tools:
# build -> verify (with and without the key), --unsigned -> sigtool/clamscan,
# sign -> .sign verify against our own CA, keygen.
#   cvdtool_roundtrip.sh CVDTOOL
. "$(dirname "$0")/lib.sh"
CVDTOOL=$1
for t in sigtool clamscan openssl; do
	command -v $t >/dev/null || { not_ok "$t is not installed (tools/bootstrap)"; finish; exit; }
done
cd "$T_TMP"
mkdir db
printf '44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n# comment\n' >db/demo.hdb
printf 'Demo.Body-1:0:*:414d5053434e2d44454d4f2d424f4459\nDemo.Body-2:0:EOF-4:74657374\n' >db/demo.ndb
printf 'Some.Other.Type;Engine:51-255,Target:0;0;41424344\n' >db/demo.ldb
printf 'X5O!P%%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' >eicar.com
printf 'xxAMPSCN-DEMO-BODYyy' >body.bin
printf 'nothing to see here\n' >clean.txt

expect_status 0 "keygen" "$CVDTOOL" keygen op.key op.pub
check "keygen: private key is mode 600" [ "$(stat -c %a op.key)" = 600 ]
expect_status 1 "keygen refuses to overwrite" "$CVDTOOL" keygen op.key op2.pub
expect_status 1 "keygen refuses 1024 bits" "$CVDTOOL" keygen --bits 1024 small.key small.pub

expect_status 0 "build a signed .cvd" "$CVDTOOL" build demo.cvd --from db --key op.key --version 5
expect_status 0 "verify with the key trusted" "$CVDTOOL" verify --trusted-key op.pub demo.cvd
check "verify names the trusted key" grep -q 'signed with trusted key op.pub' "$T_TMP/out"
expect_status 1 "verify without trusting the key" "$CVDTOOL" verify demo.cvd
check "the reason is the header signature" grep -q 'FAILED (signature)' "$T_TMP/out"
"$CVDTOOL" keygen other.key other.pub >/dev/null
expect_status 1 "verify trusting another key" "$CVDTOOL" verify --trusted-key other.pub demo.cvd
"$CVDTOOL" info --trusted-key op.pub demo.cvd >ours.txt 2>&1
sigtool --info demo.cvd >theirs.txt 2>/dev/null
check "sigtool --info reads our signed header: same fields" sh -c 'head -8 ours.txt | cmp -s - theirs.txt'
check "cvdtool info with the key trusted says OK" grep -q '^Verification OK.$' ours.txt
expect_status 0 "list-sigs of our build" "$CVDTOOL" list-sigs --trusted-key op.pub demo.cvd
check "list-sigs names every signature" sh -c "sort '$T_TMP/out' | tr '\n' ' ' | grep -q '^Demo.Body-1 Demo.Body-2 Eicar-Test-Signature Some.Other.Type \$'"
expect_status 2 "build refuses a bad output name (usage)" "$CVDTOOL" build demo.cud --from db --key op.key
expect_status 1 "build refuses a missing directory" "$CVDTOOL" build x.cvd --from nodir --key op.key
check "no temporary file is left behind" sh -c '! ls | grep -q tmp'

expect_status 0 "build --unsigned" "$CVDTOOL" build demo.cud --from db --unsigned --version 2
expect_status 1 "verify refuses unsigned by default" "$CVDTOOL" verify demo.cud
check "the reason is unsigned" grep -q 'FAILED (unsigned)' "$T_TMP/out"
expect_status 0 "verify --allow-unsigned accepts the .cud" "$CVDTOOL" verify --allow-unsigned demo.cud
"$CVDTOOL" info demo.cud >ours.txt 2>&1
sigtool --info demo.cud >theirs.txt 2>&1
check "sigtool --info accepts our .cud, same lines as cvdtool info" cmp -s ours.txt theirs.txt
expect_status 1 "clamscan -d demo.cud detects (exit 1 = found)" clamscan --no-summary -d demo.cud eicar.com body.bin clean.txt
check "clamscan found the EICAR hash signature" grep -q 'eicar.com: Eicar-Test-Signature.UNOFFICIAL FOUND' "$T_TMP/out"
check "clamscan found the body signature" grep -q 'body.bin: Demo.Body-1.UNOFFICIAL FOUND' "$T_TMP/out"
check "clamscan: the clean file is OK" grep -q 'clean.txt: OK' "$T_TMP/out"

# .cvd.sign with our own CA: root -> signing certificate
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj /CN=ampscan-test-root >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -keyout signer.key -out signer.csr -subj /CN=ampscan-test-signer >/dev/null 2>&1
printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n' >ext.cnf
openssl x509 -req -in signer.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out signer.crt -days 30 -extfile ext.cnf >/dev/null 2>&1
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca2.key -out ca2.crt -days 30 -subj /CN=other-root >/dev/null 2>&1
mkdir certs certs2; cp ca.crt certs/; cp ca2.crt certs2/
expect_status 0 "sign demo.cvd" "$CVDTOOL" sign demo.cvd --key signer.key --cert signer.crt
check "sign wrote demo.cvd.sign" grep -q '^#clamsign-1.0' demo.cvd.sign
expect_status 0 "the .sign verifies against our root" "$CVDTOOL" verify --certs-dir certs demo.cvd
check "signer is the signing certificate" grep -q 'signed by certificate .*ampscan-test-signer' "$T_TMP/out"
expect_status 1 "the .sign is rejected against another root (hard fail)" "$CVDTOOL" verify --certs-dir certs2 --trusted-key op.pub demo.cvd
check "the reason is the .sign" grep -q 'FAILED (sign)' "$T_TMP/out"
expect_status 0 "--no-sign falls back to the header signature" "$CVDTOOL" verify --certs-dir certs2 --no-sign --trusted-key op.pub demo.cvd
# change byte 200 (in the header's signature) to a different value, whatever it was
cp demo.cvd demo-copy.cvd
flip_byte demo-copy.cvd 200
check "the copy differs from the original" sh -c '! cmp -s demo.cvd demo-copy.cvd'
expect_status 1 "a changed byte breaks the .sign" "$CVDTOOL" verify --certs-dir certs --sign demo.cvd.sign demo-copy.cvd
expect_status 1 "sign refuses a certificate that does not match the key" "$CVDTOOL" sign demo.cvd --key op.key --cert signer.crt -o x.sign
expect_status 2 "unknown command is a usage error" "$CVDTOOL" frobnicate
expect_status 0 "--help" "$CVDTOOL" --help
finish
