#!/usr/bin/env bash
# The scan log (issue 18, docs/logging.md): every detection on the scan
# socket is a line of ampdaemon.log in clamd's shape with the client's uid
# ("PATH: SIG FOUND (uid N)"), for SCAN, CONTSCAN, INSTREAM
# ("instream(local)") and FILDES (the descriptor's path); a clean result
# only with LogClean yes; LogVerbose adds the command, the worker and the
# times; a stream over StreamMaxLength is a warning naming the limit; a
# file name cannot forge a log line; the same lines reach stderr (the
# journal under systemd); the log is root's, not the clients'.
#   scan_log.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
dl_init "$1" "$2"
cd "$T_TMP"

SOCK=$T_TMP/run/clamd.sock
FILES=$T_TMP/files
export SOCK FILES
dl_new_user CU c
useradd -M -d /nonexistent -s /usr/sbin/nologin -U "$CU" || skip_all "useradd $CU failed"
CUID=$(id -u "$CU")
CGID=$(id -g "$CU")
PY=/usr/bin/python3   # not a root-only shim
mkdir -p "$FILES/tree/sub" "$FILES/nl"
cp "$FILES/eicar.txt" "$FILES/tree/sub/deep.com"
cp "$FILES/eicar.txt" "$FILES/fd-eicar.txt"
cp "$FILES/eicar.txt" "$FILES/nl/x
forged: OK"
chmod -R a+rX "$FILES"

cat >"$T_TMP/client.py" <<'EOF'
"""Asks the scan socket; prints each reply (repr) on a line."""
import os, socket, struct, sys

SOCK, FILES = os.environ['SOCK'], os.environ['FILES']
EICAR = open(FILES + '/eicar.txt', 'rb').read()


def ask(cmd, fd=None, data=None, chunk=4096):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(SOCK)
    s.sendall(cmd)
    if fd is not None:
        socket.send_fds(s, [b'x'], [fd])
    if data is not None:
        try:
            for i in range(0, len(data), chunk):
                part = data[i:i + chunk]
                s.sendall(struct.pack('>I', len(part)) + part)
            s.sendall(struct.pack('>I', 0))
        except OSError:
            pass   # over the limit: the server stops reading
    got = b''
    while True:
        try:
            b = s.recv(4096)
        except OSError:
            break
        if not b:
            break
        got += b
    s.close()
    print(repr(got), flush=True)


for what in sys.argv[1:]:
    if what == 'scan':
        ask(b'zSCAN ' + FILES.encode() + b'/eicar.txt\0')
    elif what == 'contscan':
        ask(b'zCONTSCAN ' + FILES.encode() + b'/tree\0')
    elif what == 'instream':
        ask(b'zINSTREAM\0', data=EICAR)
    elif what == 'fildes':
        fd = os.open(FILES + '/fd-eicar.txt', os.O_RDONLY)
        ask(b'zFILDES\0', fd=fd)
        os.close(fd)
    elif what == 'memfd':
        fd = os.memfd_create('logtest')
        os.write(fd, EICAR)
        os.lseek(fd, 0, 0)
        ask(b'zFILDES\0', fd=fd)
        os.close(fd)
    elif what == 'clean':
        ask(b'zSCAN ' + FILES.encode() + b'/clean.txt\0')
    elif what == 'clean2':
        ask(b'zSCAN ' + FILES.encode() + b'/clean2.txt\0')
    elif what == 'big':
        ask(b'zINSTREAM\0', data=b'\0' * (200 * 1024), chunk=16384)
    elif what == 'newline':
        ask(b'nCONTSCAN ' + FILES.encode() + b'/nl\n')
    elif what == 'session':
        ask(b'zIDSESSION\0zSCAN ' + FILES.encode() + b'/clean2.txt\0zSCAN ' +
            FILES.encode() + b'/eicar.txt\0zEND\0')
EOF

as_client() { setpriv --reuid="$CUID" --regid="$CGID" --clear-groups "$PY" "$T_TMP/client.py" "$@"; }
# the log's scan lines: "<time> ampdaemon[pid]: LEVEL: " taken off
scanlines() { sed -n 's/^[^ ]* ampdaemon\[[0-9]*\]: //p' "$DL_LOG"; }
has_line() { scanlines >"$T_TMP/out"; grep -qxF -- "$1" "$T_TMP/out"; }
has_re() { scanlines >"$T_TMP/out"; grep -qxE -- "$1" "$T_TMP/out"; }
count_re() { scanlines | grep -cE -- "$1"; }
SIG='Eicar-Test-Signature(\.Body)?(\.UNOFFICIAL)?'
re_esc() { printf '%s' "$1" | sed 's/[][\.*^$+?(){}|/]/\\&/g'; }
F=$(re_esc "$FILES")

# ---- the defaults: detections and errors, no clean results
dl_config CreateScanUser yes LocalSocketGroup "$CU" StreamMaxLength 64K
check "ampdaemon starts" dl_start
check "both workers become READY" dl_wait_ready 2

as_client scan contscan instream fildes memfd clean >"$T_TMP/replies" 2>&1
check "the client's replies: SCAN, CONTSCAN, INSTREAM, FILDES x2 FOUND, clean OK" \
	sh -c '[ "$(grep -c "FOUND" "$1")" = 5 ] && grep -q "clean.txt: OK" "$1"' sh "$T_TMP/replies"
check "SCAN: '<path>: SIG FOUND (uid $CUID)' at info" \
	has_re "info: $F/eicar\.txt: $SIG FOUND \(uid $CUID\)"
check "CONTSCAN: the file found in the walk, with the uid" \
	has_re "info: $F/tree/sub/deep\.com: $SIG FOUND \(uid $CUID\)"
check "INSTREAM: 'instream(local): SIG FOUND (uid $CUID)', as clamd names a local stream" \
	has_re "info: instream\(local\): $SIG FOUND \(uid $CUID\)"
check "FILDES: the descriptor's path, as clamd logs it" \
	has_re "info: $F/fd-eicar\.txt: $SIG FOUND \(uid $CUID\)"
check "FILDES of a memfd: '/memfd:logtest (deleted)'" \
	has_re "info: /memfd:logtest \(deleted\): $SIG FOUND \(uid $CUID\)"
n=$(count_re " FOUND \(uid ")
check "exactly 5 FOUND lines (got $n)" test "$n" = 5
check "no line names clean.txt by default" sh -c '! grep -q "clean\.txt" "$1"' sh "$DL_LOG"

as_client big >"$T_TMP/replies.big" 2>&1
check "INSTREAM over StreamMaxLength: the client gets the limit error" \
	grep -q "INSTREAM size limit exceeded. ERROR" "$T_TMP/replies.big"
check "INSTREAM over StreamMaxLength: a warning naming the limit and the uid" \
	has_re "warning: instream\(local\): INSTREAM size limit exceeded: .*StreamMaxLength \(65536 bytes\).*\(uid $CUID\)"

as_client newline >"$T_TMP/replies.nl" 2>&1
check "a name with a newline: one FOUND line, the newline written \\n" \
	has_re "info: $F/nl/x\\\\nforged: OK: $SIG FOUND \(uid $CUID\)"
check "  and no forged line starting 'forged: OK'" \
	sh -c '! grep -q "^forged" "$1"' sh "$DL_LOG"
check "  every line of the log starts with a time stamp" \
	sh -c '! grep -qvE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[^ ]* ampdaemon\[[0-9]+\]: " "$1"' sh "$DL_LOG"

check "stderr (the journal under systemd) has the same FOUND lines" \
	grep -qE "info: $F/eicar\.txt: $SIG FOUND \(uid $CUID\)" "$T_TMP/daemon.out"
check "ampdaemon.log is root's, mode 0640" \
	test "$(stat -c '%U %a' "$DL_LOG")" = "root 640"
check "the client cannot read the log" \
	sh -c '! setpriv --reuid="$1" --regid="$2" --clear-groups cat "$3" >/dev/null 2>&1' sh "$CUID" "$CGID" "$DL_LOG"
check "stops cleanly" dl_stop_checked

# ---- LogClean yes, LogVerbose yes
: >"$DL_LOG"
dl_config CreateScanUser yes LocalSocketGroup "$CU" StreamMaxLength 64K LogClean yes LogVerbose yes
check "ampdaemon starts (LogClean, LogVerbose)" dl_start
check "both workers become READY" dl_wait_ready 2
# a new file: never in the clean-file cache (which outlives a restart)
echo "another clean file" >"$FILES/clean2.txt"
chmod 644 "$FILES/clean2.txt"
as_client clean2 clean2 session >"$T_TMP/replies2" 2>&1
check "LogClean: '<path>: OK (uid N, ...)', LogVerbose: pid, SCAN, worker, times" \
	has_re "info: $F/clean2\.txt: OK \(uid $CUID, pid [0-9]+, SCAN, worker [0-9]+, waited [0-9]+\.[0-9]{3} ms, scanned [0-9]+\.[0-9]{3} ms\)"
check "LogVerbose: the second scan of the unchanged file came from the clean-file cache" \
	has_re "info: $F/clean2\.txt: OK \(uid $CUID, pid [0-9]+, SCAN, clean-file cache, waited [0-9.]+ ms\)"
check "LogVerbose in a session: the command and its id" \
	has_re "info: $F/eicar\.txt: $SIG FOUND \(uid $CUID, pid [0-9]+, SCAN #2, worker [0-9]+, .*\)"
check "stops cleanly" dl_stop_checked

finish
