#!/usr/bin/env bash
# Whose rights a path command runs with (issue 17, attack 4): an
# unprivileged client in the scan socket's group scans only what it could
# read itself.  A directory of root's (0700) answers "Permission denied"
# for SCAN, CONTSCAN, MULTISCAN and ALLMATCHSCAN, never a name inside it,
# a verdict or "OK", and a missing path below it answers the same as an
# existing one (no existence oracle); a file it cannot read is "Access
# denied" (clamd's words); procfs files are refused.  Root and a
# TrustedScanUsers account still scan everything; the client scans its own
# files normally.
#   scan_rights.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
dl_init "$1" "$2"
cd "$T_TMP"

dl_new_user CU c
dl_new_user TU t
useradd -M -d /nonexistent -s /usr/sbin/nologin -U "$CU" || skip_all "useradd $CU failed"
useradd -M -d /nonexistent -s /usr/sbin/nologin -U -G "$CU" "$TU" || skip_all "useradd $TU failed"

EICAR=$T_TMP/files/eicar.txt
SEC=$T_TMP/secdir PUB=$T_TMP/pub HOMEDIR=$T_TMP/home
mkdir -p "$SEC/sub" "$PUB/ok" "$HOMEDIR"
cp "$EICAR" "$SEC/e.com"; cp "$EICAR" "$SEC/sub/e2.com"; echo clean >"$SEC/c.txt"
chmod 700 "$SEC"
cp "$EICAR" "$PUB/unread.com"; chmod 600 "$PUB/unread.com"
cp "$EICAR" "$PUB/ok/e.com"; chmod 644 "$PUB/ok/e.com"; chmod 755 "$PUB" "$PUB/ok"
cp "$EICAR" "$HOMEDIR/mine.com"; chown -R "$CU:$CU" "$HOMEDIR"; chmod 700 "$HOMEDIR"

SOCK=$T_TMP/run/clamd.sock
dl_config CreateScanUser yes LocalSocketGroup "$CU" TrustedScanUsers "$TU"
check "ampdaemon starts" dl_start
check "both workers become READY" dl_wait_ready 2

cat >"$T_TMP/ask.py" <<'PYEOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(30)
s.connect(sys.argv[1])
s.sendall(b'z' + sys.argv[2].encode() + b'\0')
got = b''
while True:
    b = s.recv(65536)
    if not b:
        break
    got += b
sys.stdout.write(got.replace(b'\0', b'\n').decode(errors='replace'))
PYEOF
chmod 644 "$T_TMP/ask.py"
# as U: the reply to a z command, one line per reply
ask_as() {
	local u=$1
	shift
	if [ "$u" = root ]; then
		timeout 60 python3 "$T_TMP/ask.py" "$SOCK" "$*"
	else
		# the system's python: root's may live where the user cannot go
		timeout 60 setpriv --reuid "$u" --regid "$u" --init-groups \
			/usr/bin/python3 "$T_TMP/ask.py" "$SOCK" "$*"
	fi
}

check "the client really cannot list the secret directory" \
	bash -c "! setpriv --reuid $CU --regid $CU --init-groups ls $SEC >/dev/null 2>&1"

for cmd in SCAN CONTSCAN MULTISCAN ALLMATCHSCAN; do
	r=$(ask_as "$CU" "$cmd $SEC")
	check "$cmd of root's 0700 directory by the client: Permission denied" \
		grep -q "^$SEC: File path check failure: Permission denied. ERROR$" <<<"$r"
	check "... and no name from inside it, no verdict, no OK ($cmd)" \
		bash -c '! grep -q -E "e.com|c.txt|sub|FOUND| OK$" <<<"$1"' _ "$r"
	r=$(ask_as "$CU" "$cmd $SEC/e.com")
	check "$cmd of EICAR inside it: Permission denied, not FOUND" \
		grep -qx "$SEC/e.com: File path check failure: Permission denied. ERROR" <<<"$r"
	r2=$(ask_as "$CU" "$cmd $SEC/nothere.com")
	check "$cmd of a missing file inside it answers the same (no existence oracle)" \
		test "${r//e.com/X}" = "${r2//nothere.com/X}"
	r=$(ask_as "$CU" "$cmd $PUB/unread.com")
	check "$cmd of a file it cannot read: Access denied (clamd's words), not FOUND" \
		grep -qx "$PUB/unread.com: Access denied. ERROR" <<<"$r"
	r=$(ask_as "$CU" "$cmd $PUB")
	check "$cmd of a readable directory: its readable EICAR FOUND" \
		grep -q "^$PUB/ok/e.com: .* FOUND$" <<<"$r"
	check "... and the unreadable file inside it: Access denied" \
		grep -qx "$PUB/unread.com: Access denied. ERROR" <<<"$r"
	r=$(ask_as "$CU" "$cmd $HOMEDIR")
	check "$cmd of the client's own 0700 directory: FOUND" \
		grep -q "^$HOMEDIR/mine.com: .* FOUND$" <<<"$r"
done
chmod 700 "$PUB/ok"
r=$(ask_as "$CU" "CONTSCAN $PUB")
check "a subdirectory the client cannot list: File path check failure: Permission denied" \
	grep -qx "$PUB/ok: File path check failure: Permission denied. ERROR" <<<"$r"
check "... and nothing from inside it" bash -c '! grep -q "e.com" <<<"$1"' _ "$r"
chmod 755 "$PUB/ok"

for p in /proc/self/environ /proc/1/environ /proc/1/mem /proc/kmsg; do
	r=$(ask_as "$CU" "SCAN $p")
	check "SCAN $p by the client: an ERROR, never OK" \
		bash -c 'grep -q " ERROR$" <<<"$1" && ! grep -q " OK$" <<<"$1"' _ "$r"
done
r=$(ask_as "$CU" "CONTSCAN /proc/1")
check "CONTSCAN /proc/1 by the client: refused" grep -q "ERROR$" <<<"$r"

for u in root "$TU"; do
	r=$(ask_as "$u" "CONTSCAN $SEC")
	check "CONTSCAN of the secret directory by $u (trusted): both EICARs FOUND" \
		test "$(grep -c ' FOUND$' <<<"$r")" = 2
	r=$(ask_as "$u" "SCAN $PUB/unread.com")
	check "SCAN of the 0600 file by $u (trusted): FOUND" grep -q "FOUND$" <<<"$r"
done

# clamdscan itself, as the client
printf 'LocalSocket %s\n' "$SOCK" >"$T_TMP/clamdscan.conf"
chmod 644 "$T_TMP/clamdscan.conf"
if [ -x /usr/bin/clamdscan ]; then
	out=$(timeout 60 setpriv --reuid "$CU" --regid "$CU" --init-groups \
		/usr/bin/clamdscan --config-file="$T_TMP/clamdscan.conf" "$SEC" 2>&1)
	rc=$?
	check "clamdscan of the secret directory as the client: exit 2 (an error), not 0 ($rc)" test "$rc" = 2
	check "... it says Permission denied and names nothing inside" \
		bash -c 'grep -q "Permission denied" <<<"$1" && ! grep -q "e.com" <<<"$1"' _ "$out"
	out=$(timeout 60 setpriv --reuid "$CU" --regid "$CU" --init-groups \
		/usr/bin/clamdscan --config-file="$T_TMP/clamdscan.conf" "$HOMEDIR" 2>&1)
	check "clamdscan of the client's own directory: Infected files: 1" grep -q "Infected files: 1" <<<"$out"
fi

check "the daemon is alive" kill -0 "$DL_PID"
dl_stop_checked
finish
