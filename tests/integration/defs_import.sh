#!/usr/bin/env bash
# ImportDirectory (issue 18): Debian's freshclam keeps a directory up to
# date from a mirror on 127.0.0.1 (import_mirror.py: ClamAV's test-1.cvd,
# then test-6's header advertised with the cdiffs test-2..6), its
# NotifyClamd naming a clamd.conf with our LocalSocket; ampdaemon imports
# from that directory:
#   - freshclam's first test.cvd (version 1, the active one) is skipped as
#     not newer, nothing rejected;
#   - the test.cld freshclam builds from the cdiffs (version 6, trusted for
#     its .info DSIG) is activated: clam.exe is detected;
#   - tampered containers placed there (a header claiming version 7, a
#     flipped payload byte) are rejected and quarantined as copies, never
#     activated; an unchanged file is not imported again (a RELOAD, a
#     later change, a restart: StateDir/import.seen);
#   - the directory's files are byte-identical and keep their inodes;
#   - ampctl status has an import block (watched, the last read and why,
#     the files known and judged, the last imported with its version, the
#     last rejected with its reason) and the metrics file counts them.
#   defs_import.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
REAL=$(cd "$2/.." && pwd)/shared/testdata/real-cvd/freshclam-tests
[ -f "$REAL/test-6.cdiff" ] || skip_all "../shared/testdata/real-cvd/freshclam-tests is absent"
command -v freshclam >/dev/null || skip_all "freshclam is not installed"
command -v python3 >/dev/null || skip_all "python3 is not installed"
[ -f /usr/share/clamav-testfiles/clam.exe ] || skip_all "clamav-testfiles is not installed"
dl_init "$1" "$2"
MIRROR_PID=
stop_mirror() {
	[ -n "$MIRROR_PID" ] || return 0
	t_kill_children TERM "$MIRROR_PID"
	wait "$MIRROR_PID" 2>/dev/null
	MIRROR_PID=
}
trap 'stop_mirror; dl_cleanup' EXIT
cd "$T_TMP"
CLAM=/usr/share/clamav-testfiles/clam.exe
FC=$T_TMP/fcdb
WWW=$T_TMP/www
mkdir -p "$FC" "$WWW" certs metrics
rm -f defs/active/*
cp "$REAL/clamav-test.crt" certs/
cp "$REAL/test-1.cvd" defs/active/test.cvd

# ---- the mirror and freshclam ----------------------------------------------------
cp "$REAL/test-1.cvd" "$WWW/test.cvd"
python3 "$HERE/import_mirror.py" "$WWW" "$T_TMP/port" 2>"$T_TMP/mirror.log" &
MIRROR_PID=$!
for _ in $(seq 100); do [ -s "$T_TMP/port" ] && break; sleep 0.05; done
[ -s "$T_TMP/port" ] || { not_ok "the mirror starts"; finish; exit 1; }
PORT=$(cat "$T_TMP/port")
echo "LocalSocket $T_TMP/run/clamd.sock" >"$T_TMP/clamd.conf"
cat >"$T_TMP/freshclam.conf" <<CONF
DatabaseMirror http://127.0.0.1:$PORT
DNSDatabaseInfo no
DatabaseDirectory $FC
DatabaseOwner root
NotifyClamd $T_TMP/clamd.conf
LogVerbose yes
CONF
fresh() { timeout 120 freshclam --no-dns --config-file="$T_TMP/freshclam.conf" --update-db=test >"$T_TMP/out" 2>&1; }

status_text() { dl_ctl status 2>/dev/null; }
# status_has ERE: a line of ampctl status matches it (waits a little: a read is 0.5 s after a change)
status_has() { local i; for i in $(seq 100); do status_text | grep -qE -- "$1" && return 0; sleep 0.1; done; return 1; }
imp() { dl_status_py "s['import']$1"; }
# the last rejection in status: FILE, its version, and the reason of its definitions_rejected event
rejected_is() {
	local reason
	reason=$(evq "[e['reason'] for e in E if e['event'] == 'definitions_rejected' and e['file'] == '$FC/$1'][-1]")
	[ -n "$reason" ] && [ "$(imp "['last_rejected']['file']")" = "$1" ] &&
		[ "$(imp "['last_rejected']['version']")" = "$2" ] &&
		[ "$(REASON=$reason dl_status_py "__import__('os').environ['REASON'] in s['import']['last_rejected']['reason']")" = True ] &&
		status_text | grep -qF "  last rejected: " &&
		status_text | grep -F "  last rejected: " | grep -qF " $1 (version $2): "
}
# prom_is 'METRIC' VALUE [SECONDS]: the metrics file says so (written 5 s after a change)
prom_is() {
	local i
	for i in $(seq $((${3:-30} * 10))); do
		grep -qxF -- "$1 $2" "$PROM" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
PROM=$T_TMP/metrics/ampscan.prom
dl_config WorkerLaunch exec TrialTimeout 60s ImportDirectory "$FC" MetricsFile "$PROM"
dl_start || { not_ok "ampdaemon starts"; finish; exit 1; }
check "workers READY on test-1" dl_wait_ready 2 30
check "status: an import block, watched" status_has "^import: $FC, watched \\(inotify\\)$"
check "status: read at start, nothing known yet" status_has "^  read: [0-9T:.-]+Z \\(start\\); 0 file\\(s\\) known, 0 judged; since start 0 imported, 0 rejected, 0 skipped, 0 I/O error\\(s\\)$"
check "status --json: the import object" dl_wait "s['import']['directory'] == '$FC' and s['import']['watched'] and s['import']['watch_error'] is None and s['import']['retry_at'] is None and s['import']['last_imported'] is None"

n_events() { evq "sum(1 for e in E if e['event'] == '$1')"; }
version_is() {  # version_is N: the active test container, no update going on
	dl_wait "[d['version'] for d in s['definitions']['databases'] if d['name'] == 'test'] == [$1] and s['update']['in_progress'] == False and s['update']['queued'] == 0" "${2:-60}"
}
scan_says() { dl_ctl scan "$1" 2>&1 | grep -qE "$2"; }
log_has() { grep -qF -- "$1" "$DL_LOG"; }
wait_log() { local i; for i in $(seq 300); do log_has "$1" && return 0; sleep 0.1; done; return 1; }
snapshot() { (cd "$FC" && for f in *; do printf '%s %s %s\n' "$f" "$(stat -c '%i %s %Y' "$f")" "$(sha256sum <"$f")"; done); }

# ---- freshclam's first download: version 1, as active -----------------------------------
check "freshclam downloads test.cvd (version 1)" fresh
check "freshclam notified ampdaemon (RELOAD on our socket)" grep -q "Clamd successfully notified" "$T_TMP/out"
check "test.cvd version 1 is skipped as not newer" wait_log "import: $FC/test.cvd: not newer, skipped (version 1, the active test.cvd is version 1)"
check "still on version 1" version_is 1
check "nothing rejected, nothing quarantined" test "$(n_events definitions_rejected)" = 0 -a -z "$(ls -A defs/quarantine)"
check "test-1: clam.exe is not detected" scan_says "$CLAM" ': OK$'
check "status: test.cvd counted as skipped, judged" dl_wait "s['import']['results']['skipped'] == 1 and s['import']['files_judged'] == 1 and s['import']['last_read']['why'] in ('inotify', 'RELOAD', 'after an import')"

# ---- the cdiffs: freshclam builds test.cld version 6 -----------------------------------
cp "$REAL/test-6.cvd" "$WWW/test.cvd.advertised"
for n in 2 3 4 5 6; do cp "$REAL/test-$n.cdiff" "$WWW/"; done
check "freshclam updates test.cld to version 6 from the cdiffs" fresh
check "freshclam's test.cld is there, its test.cvd gone" test -f "$FC/test.cld" -a ! -e "$FC/test.cvd"
check "ampdaemon ends on version 6" version_is 6 120
check "activated from ImportDirectory's test.cld" ev_true \
	"any(e['event'] == 'definitions_activated' and e['source'] == '$FC/test.cld' for e in E)"
check "test-6: clam.exe detected" scan_says "$CLAM" 'FOUND$'
check "test.cld is active" test -f defs/active/test.cld
check "status: the last imported is test.cld, version 6" status_has "^  last imported: [0-9T:.-]+Z test\\.cld \\(version 6\\): "
check "status --json: imported 1, its verdict" dl_wait "s['import']['results']['imported'] == 1 and s['import']['last_imported']['file'] == 'test.cld' and s['import']['last_imported']['version'] == 6 and s['import']['last_rejected'] is None"
check "metrics: one imported, one skipped, watched" prom_is 'ampscan_import_files_total{result="imported"}' 1
check "metrics: the skipped one" prom_is 'ampscan_import_files_total{result="skipped"}' 1
check "metrics: the watch" prom_is ampscan_import_watched 1

# ---- tampered files: rejected, never activated, the directory untouched ------------------
cp "$REAL/test-6.cvd" "$T_TMP/t7.cvd"
python3 - "$T_TMP/t7.cvd" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
i = bytes(b[:512]).index(b':6:')
b[i + 1] = ord('7')          # the header claims version 7: its signature fails
open(p, 'wb').write(b)
PY
cp "$REAL/test-6.cvd" "$T_TMP/tamp.cvd"
flip_byte "$T_TMP/tamp.cvd" 2000
rej0=$(n_events definitions_rejected)
cp "$T_TMP/t7.cvd" "$FC/.t7" && mv "$FC/.t7" "$FC/test.cvd"
cp "$T_TMP/tamp.cvd" "$FC/.tamp" && mv "$FC/.tamp" "$FC/tamp.cvd"
before=$(snapshot)
check "both tampered files are rejected" ev_wait \
	"sum(1 for e in E if e['event'] == 'definitions_rejected') >= $rej0 + 2" 60
check "the rejections name them" ev_true \
	"sorted(e['file'] for e in E if e['event'] == 'definitions_rejected')[-2:] == ['$FC/tamp.cvd', '$FC/test.cvd']"
check "still on version 6 (the tampered version 7 never activated)" version_is 6
check "active/ holds no test.cvd" test ! -e defs/active/test.cvd
check "quarantined as copies: two files and their reasons" test "$(ls defs/quarantine | wc -l)" = 4
check "ImportDirectory's files are byte-identical (tampered copies)" \
	cmp -s "$FC/test.cvd" "$T_TMP/t7.cvd"
check "ImportDirectory's tamp.cvd is byte-identical" cmp -s "$FC/tamp.cvd" "$T_TMP/tamp.cvd"
check "ImportDirectory keeps every name, inode, size, mtime, byte" test "$(snapshot)" = "$before"
check "status: two rejected" dl_wait "s['import']['results']['rejected'] == 2 and s['import']['last_rejected']['file'] in ('test.cvd', 'tamp.cvd')"

# ---- unchanged files are not imported again ------------------------------------------
dl_ctl reload >"$T_TMP/out" 2>&1
check "status: read again on RELOAD" dl_wait "s['import']['last_read']['why'] == 'RELOAD'"
cp "$T_TMP/tamp.cvd" "$FC/.tamp2" && mv "$FC/.tamp2" "$FC/tamp2.cvd"
check "a later tampered file is rejected" ev_wait \
	"sum(1 for e in E if e['event'] == 'definitions_rejected') >= $rej0 + 3" 60
check "after RELOAD and a change: only the new file was imported" \
	test "$(n_events definitions_rejected)" = $((rej0 + 3))
check "test.cld was imported once" test "$(grep -c "import: $FC/test.cld" "$DL_LOG")" = 1
check "still on version 6" version_is 6
check "ImportDirectory unchanged after all" test "$(snapshot | grep -v '^tamp2.cvd ')" = "$before"
check "status: the last rejected is tamp2.cvd (version 6), with its event's reason" rejected_is tamp2.cvd 6
check "status: 4 files known, all judged; 1 imported, 3 rejected, 1 skipped" status_has "; 4 file\\(s\\) known, 4 judged; since start 1 imported, 3 rejected, 1 skipped, 0 I/O error\\(s\\)$"
check "status: no retry, no I/O error" test -z "$(status_text | grep -E '^  (retry|last I/O error):')"
check "metrics: three rejected" prom_is 'ampscan_import_files_total{result="rejected"}' 3

# ---- a restart: what was judged is not judged again (StateDir/import.seen) -------------
check "import.seen names the judged files" grep -q "^tamp2.cvd " "$DL_STATE/import.seen"
dl_stop
dl_start || { not_ok "ampdaemon starts again"; finish; exit 1; }
check "restarted: workers READY on version 6" version_is 6
check "restarted: read at start; import.seen's 4 files judged, none again" dl_wait "s['import']['last_read'] is not None and s['import']['last_read']['why'] == 'start' and s['import']['files_judged'] == 4 and sum(s['import']['results'].values()) == 0"
cp "$T_TMP/tamp.cvd" "$FC/.tamp3" && mv "$FC/.tamp3" "$FC/tamp3.cvd"
check "restarted: a new tampered file is rejected" ev_wait \
	"sum(1 for e in E if e['event'] == 'definitions_rejected') >= $rej0 + 4" 60
check "restarted: the files judged before were not imported again" \
	test "$(n_events definitions_rejected)" = $((rej0 + 4))
check "restarted: test.cld was not imported again" test "$(grep -c "import: $FC/test.cld" "$DL_LOG")" = 1
check "restarted: status counts only tamp3.cvd" rejected_is tamp3.cvd 6
check "restarted: metrics count only tamp3.cvd" prom_is 'ampscan_import_files_total{result="rejected"}' 1

stop_mirror
dl_stop_checked
check "the metrics file left at stop keeps ImportDirectory's lines" \
	grep -qxF 'ampscan_import_files_total{result="rejected"} 1' "$PROM"
check "... and says ampscan_up 0" grep -qxF 'ampscan_up 0' "$PROM"
finish
