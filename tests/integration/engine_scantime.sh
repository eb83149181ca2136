#!/usr/bin/env bash
# MaxScanTime (clamd's key, milliseconds) with Engine clamav: libclamav's
# CL_ENGINE_MAX_SCANTIME in the worker, below ScanTimeout so the worker
# answers before ampdaemon kills it.  What clamd 1.x answers (measured with
# Debian's clamd, MaxScanTime 1, a 3000-member zip with clam.exe last):
# without AlertExceedsMax `OK` (the part scanned in time decides), with it
# `Heuristics.Limits.Exceeded.MaxScanTime FOUND`.  Test builds read a file
# holding AMPSCAN-TEST-SLOWREAD-MARKER at 20 ms a read, so a 1 ms limit
# trips however fast the machine is.
#   engine_scantime.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
BUILD=$1
SRC=$2
SVC=$BUILD/bin/ampscansvc
command -v python3 >/dev/null || skip_all "python3 missing"

# a stored zip: the marker first, EICAR last
mkzip() {
	python3 - "$1" "$2" <<-'PY'
	import sys, zipfile
	with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_STORED) as z:
	    if sys.argv[2] == 'slow':
	        z.writestr('a-marker.txt', b'AMPSCAN-TEST-SLOWREAD-MARKER\n')
	    for i in range(20):
	        z.writestr('f%02d.txt' % i, b'filler %d ' % i * 100)
	    z.writestr('zz/eicar.com', b'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*')
	PY
}

# ---- ampscansvc --scan (clamav) by hand ---------------------------------------------
mkzip "$T_TMP/slow.zip" slow
mkzip "$T_TMP/fast.zip" fast
DEFS=(--defs "$SRC/tools/demo-defs" --allow-unsigned)
expect_status 1 "no MaxScanTime given (120 s): EICAR found in the slow zip" \
	"$SVC" --scan "${DEFS[@]}" "$T_TMP/slow.zip"
check "... its name" grep -q 'slow.zip: Eicar-Test-Signature' "$T_TMP/out"
expect_status 0 "--max-scan-time 1: OK, as clamd answers" \
	"$SVC" --scan "${DEFS[@]}" --max-scan-time 1 "$T_TMP/slow.zip"
check "... logged: limit exceeded: MaxScanTime" grep -q 'slow.zip: limit exceeded: MaxScanTime' "$T_TMP/err"
expect_status 1 "--max-scan-time 1 --alert-exceeds-max: FOUND" \
	"$SVC" --scan "${DEFS[@]}" --max-scan-time 1 --alert-exceeds-max "$T_TMP/slow.zip"
check "... Heuristics.Limits.Exceeded.MaxScanTime" \
	grep -qx "$T_TMP/slow.zip: Heuristics.Limits.Exceeded.MaxScanTime FOUND" "$T_TMP/out"

# ---- ampdaemon.conf -----------------------------------------------------------------
dl_init "$BUILD" "$SRC"
cd "$T_TMP" || exit 1
SCR=$T_TMP/scratch
mkdir -p "$SCR"
printf 'Workers 1\n\nMaxScanTime 120000\n' >mst.conf
expect_status 1 "MaxScanTime 120000 with ScanTimeout 120s: refused" \
	"$AMPDAEMON" --check-config --config mst.conf
check "... naming the line and both keys" grep -q \
	'mst.conf:3: MaxScanTime 120000 (line 3) is not below ScanTimeout 120s (default)' "$T_TMP/err"
printf 'ScanTimeout 30s\n' >mst2.conf
expect_status 0 "ScanTimeout 30s alone: accepted" "$AMPDAEMON" --check-config --config mst2.conf
check "... MaxScanTime defaults to 27000 (ScanTimeout less a tenth)" grep -qx 'MaxScanTime 27000' "$T_TMP/out"

# ---- the clamav worker ------------------------------------------------------------------
cp "$T_TMP/slow.zip" "$T_TMP/fast.zip" files/
chmod 644 files/*.zip
MET=$T_TMP/metrics.prom
ACONF=$T_TMP/clamdscan.conf
echo "LocalSocket $T_TMP/run/clamd.sock" >"$ACONF"
for alert in no yes; do
	rm -f "$MET"
	dl_config CreateScanUser yes Engine clamav ScratchDir "$SCR" Workers 1 \
		MaxScanTime 1 AlertExceedsMax $alert MetricsFile "$MET"
	check "ampdaemon starts (MaxScanTime 1, AlertExceedsMax $alert)" dl_start
	check "its worker becomes READY" dl_wait_ready 1 60
	# WorkerLaunch loader (the default): the worker is a fork of the
	# loader, so its command line is the loader's (--loader ...)
	wpid=$(dl_worker_pids | awk '{print $1}')
	check "the worker was given --max-scan-time 1" \
		bash -c "tr '\\0' ' ' </proc/$wpid/cmdline | grep -q -- '--max-scan-time 1 '"
	timeout 60 clamdscan -c "$ACONF" --no-summary "$T_TMP/files/slow.zip" >v.out 2>&1 || true
	if [ $alert = no ]; then
		check "the slow zip: OK, as clamd answers" grep -qxF "$T_TMP/files/slow.zip: OK" v.out
	else
		check "the slow zip: Heuristics.Limits.Exceeded.MaxScanTime FOUND" \
			grep -qxF "$T_TMP/files/slow.zip: Heuristics.Limits.Exceeded.MaxScanTime FOUND" v.out
	fi
	check "ampscansvc.log: limit exceeded: MaxScanTime" \
		bash -c "grep -q 'slow.zip: limit exceeded: MaxScanTime' '$DL_SVCLOG'"
	dl_stop_checked
	check "the metrics file counts it: ampscan_limits_exceeded_total 1" \
		grep -qx 'ampscan_limits_exceeded_total 1' "$MET"
	: >"$DL_SVCLOG"
done
finish
