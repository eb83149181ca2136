#!/usr/bin/env bash
# ampscansvc's one-shot modes: --scan (clamscan's output format and exit
# codes), --check (trial load), --build-index (and stale index detection).
#   worker_cli.sh AMPSCANSVC CVDTOOL SOURCE_DIR
. "$(dirname "$0")/lib.sh"
SVC=$1
CVDTOOL=$2
SRC=$3
cd "$T_TMP"
EICAR='X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
mkdir files defs
printf '%s' "$EICAR" >files/eicar.com
printf 'clean\n' >files/clean.txt
printf 'xx AMPSCN123DEMOx-cANARYyy' >files/canary.bin
"$CVDTOOL" keygen k.key k.pub >/dev/null
"$CVDTOOL" build defs/demo.cvd --from "$SRC/tools/demo-defs" --key k.key --version 4 >/dev/null

expect_status 1 "--scan: a detection exits 1" "$SVC" --scan --engine builtin --defs defs --trusted-key k.pub files/eicar.com
check "--scan: clamscan's line format" grep -qx 'files/eicar.com: Eicar-Test-Signature FOUND' "$T_TMP/out"
expect_status 0 "--scan: clean exits 0" "$SVC" --scan --engine builtin --defs defs --trusted-key k.pub files/clean.txt
check "--scan: path: OK" grep -qx 'files/clean.txt: OK' "$T_TMP/out"
expect_status 1 "--scan -r over a directory" "$SVC" --scan --engine builtin -r --defs defs --trusted-key k.pub files
check "-r: one line per file" [ "$(wc -l <"$T_TMP/out")" = 3 ]
check "-r: the canary body signature" grep -qx 'files/canary.bin: Ampscan.Demo.Canary FOUND' "$T_TMP/out"
expect_status 1 "--allmatch" "$SVC" --scan --engine builtin --allmatch --defs defs --trusted-key k.pub files/eicar.com
check "--allmatch: hash and body signatures both reported" sh -c "grep -q 'Eicar-Test-Signature FOUND' '$T_TMP/out' && grep -q 'Eicar-Test-Signature.Body FOUND' '$T_TMP/out'"
expect_status 2 "--scan: a missing file is an ERROR line, exit 2" "$SVC" --scan --engine builtin --defs defs --trusted-key k.pub files/none
check "--scan: ERROR names the reason" grep -qx 'files/none: No such file or directory ERROR' "$T_TMP/out"
mkfifo files/fifo
expect_status 2 "--scan: a FIFO is not a regular file" "$SVC" --scan --engine builtin --defs defs --trusted-key k.pub files/fifo
check "--scan: FIFO: Not a regular file ERROR" grep -qx 'files/fifo: Not a regular file ERROR' "$T_TMP/out"
rm files/fifo
expect_status 2 "--scan: untrusted container refused" "$SVC" --scan --engine builtin --defs defs files/clean.txt
check "--scan: the reason names the container" grep -q 'demo.cvd.*header signature' "$T_TMP/err"
expect_status 2 "--scan: a plain .hdb needs --allow-unsigned" "$SVC" --scan --engine builtin --defs "$SRC/tools/demo-defs/demo.hdb" files/clean.txt
check "--scan: says why" grep -q 'unsigned' "$T_TMP/err"
expect_status 1 "--scan: plain files with --allow-unsigned" "$SVC" --scan --engine builtin --allow-unsigned --defs "$SRC/tools/demo-defs/demo.hdb" files/eicar.com

expect_status 0 "--check: a good set" "$SVC" --check defs --engine builtin --trusted-key k.pub
check "--check: reports built (no index yet) and the version" grep -q 'OK (built) demo-4' "$T_TMP/out"
expect_status 0 "--build-index" "$SVC" --build-index defs --trusted-key k.pub
check "--build-index wrote ampscan.idx" [ -s defs/ampscan.idx ]
expect_status 0 "--check: uses the fresh index" "$SVC" --check defs --engine builtin --trusted-key k.pub
check "--check: (index)" grep -q 'OK (index)' "$T_TMP/out"
touch -d '2001-01-01' defs/demo.cvd
expect_status 0 "--check: a changed container makes the index stale" "$SVC" --check defs --engine builtin --trusted-key k.pub
check "--check: (built) again" grep -q 'OK (built)' "$T_TMP/out"
cp defs/demo.cvd defs/bad.cvd
flip_byte defs/bad.cvd 700
expect_status 2 "--check: a corrupt container fails the check" "$SVC" --check defs --engine builtin --trusted-key k.pub
check "--check: names the file and the reason" grep -q 'bad.cvd.*MD5' "$T_TMP/err"
rm defs/bad.cvd
printf 'garbage' >defs/ampscan.idx
expect_status 0 "--check: a corrupt index is ignored (rebuilt in memory)" "$SVC" --check defs --engine builtin --trusted-key k.pub
expect_status 2 "no mode is a usage error" "$SVC"
expect_status 0 "--help" "$SVC" --help
expect_status 0 "--version" "$SVC" --version
finish
