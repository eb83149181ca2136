#!/usr/bin/env bash
# The scan socket on TCP (TCPSocket, TCPAddr; issue 18) and INSTREAM past
# StreamMaxLength, against a real ampdaemon:
#   1. without TCPSocket nothing listens on TCP; a client that keeps
#      writing past StreamMaxLength on the unix socket reads the limit
#      error (10 of 10), and one that never stops is closed at the bound;
#   2. a busy port stops the start with an error naming the address;
#   3. TCPSocket on 127.0.0.1 and ::1: PING, VERSION, INSTREAM (EICAR found,
#      a clean file OK), a session, from a raw python client and from
#      Debian's clamdscan --stream; SCAN refused, FILDES refused, SHUTDOWN
#      refused over TCP; MaxConnectionsPerUser counted per address; the
#      limit error over TCP 10 of 10; the log names the peer;
#   4. TCPAllowPathCommands yes: SCAN over TCP runs with nobody's rights.
#   scan_tcp.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
dl_init "$1" "$2"
cd "$T_TMP"

SOCK=$T_TMP/run/clamd.sock
export SOCK FILES=$T_TMP/files T_TMP

# ports free now (the kernel's choice; a race with another test is unlikely)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
BUSY=$(free_port)
export PORT
HAVE_V6=0
python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null && HAVE_V6=1
export HAVE_V6

echo "a clean file" >files/clean2.txt
cp files/eicar.txt files/secret-eicar.txt
chmod 600 files/secret-eicar.txt   # root's only: nobody cannot read it
chmod 644 files/clean2.txt

cat >"$T_TMP/tcpc.py" <<'EOF'
"""Clients of the scan socket, unix or TCP; result lines "ok<TAB>what" or
"FAIL<TAB>what<TAB>detail" that the shell counts."""
import os, socket, struct, threading, time

SOCK = os.environ['SOCK']
PORT = int(os.environ['PORT'])
FILES = os.environ['FILES']
EICAR = open(FILES + '/eicar.txt', 'rb').read()
LIM = 1 << 20   # StreamMaxLength 1M


def res(good, what, detail=''):
    line = ('ok' if good else 'FAIL') + '\t' + what
    if not good and detail:
        line += '\t' + detail.replace('\n', ' ').replace('\t', ' ')
    print(line, flush=True)
    return good


def conn(where, timeout=10.0):
    if where == 'unix':
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(SOCK)
    elif where == 'v6':
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.connect(('::1', PORT))
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.connect(('127.0.0.1', PORT))
    s.settimeout(timeout)
    return s


def read_all(s, timeout=10.0):
    out = b''
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return out, 'timeout'
        s.settimeout(left)
        try:
            b = s.recv(65536)
        except socket.timeout:
            return out, 'timeout'
        except ConnectionResetError:
            return out, 'reset'
        if not b:
            return out, 'eof'
        out += b


def xchg(where, data, timeout=10.0):
    s = conn(where, timeout)
    s.sendall(data)
    r = read_all(s, timeout)
    s.close()
    return r


def chunks(data, size=4096):
    out = b''
    for i in range(0, len(data), size):
        part = data[i:i + size]
        out += struct.pack('>I', len(part)) + part
    return out + struct.pack('>I', 0)


def over_limit(where):
    """INSTREAM written on past StreamMaxLength (3 MiB in 64 KiB chunks),
    then read: (reply, how, send error or None)."""
    s = conn(where, 20)
    err = None
    try:
        s.sendall(b'zINSTREAM\0')
        part = b'x' * 65536
        for _ in range(3 * LIM // len(part)):
            s.sendall(struct.pack('>I', len(part)) + part)
    except OSError as e:
        err = repr(e)
    got, how = read_all(s, 20)
    s.close()
    return got, how, err


def over_limit_10(where):
    bad = []
    for i in range(10):
        got, how, err = over_limit(where)
        if err is not None or got != b'INSTREAM size limit exceeded. ERROR\0':
            bad.append((i, got, how, err))
    res(not bad, '%s: a client writing 2 MiB past StreamMaxLength, then reading, gets the limit error 10 of 10' % where,
        repr(bad[:3]))


def endless(where):
    """Never stops writing: the server ends the connection at its bound
    (bytes or time), and serves others meanwhile."""
    s = conn(where, 30)
    s.sendall(b'zINSTREAM\0')
    part = struct.pack('>I', 65536) + b'y' * 65536
    t0 = time.monotonic()
    ended = None
    pong = []

    def pinger():
        time.sleep(0.2)
        pong.append(xchg(where, b'zPING\0', 10)[0])
    th = threading.Thread(target=pinger)
    th.start()
    while time.monotonic() - t0 < 60:
        try:
            s.sendall(part)
        except OSError as e:
            ended = repr(e)
            break
    th.join()
    s.close()
    res(ended is not None, '%s: a client that never stops writing past the limit is closed at the bound' % where,
        'still writing after 60 s')
    res(pong == [b'PONG\0'], '%s: meanwhile another client is served (PING)' % where, repr(pong))
EOF

py_checks() {
	local line what detail
	while IFS= read -r line; do
		case $line in
		ok$'\t'*) ok "${line#ok$'\t'}" ;;
		FAIL$'\t'*)
			line=${line#FAIL$'\t'}
			what=${line%%$'\t'*}
			detail=${line#"$what"}
			not_ok "$what"
			[ -n "$detail" ] && echo "    ${detail#$'\t'}"
			;;
		*) echo "    $line" ;;
		esac
	done < <(cd "$T_TMP" && PYTHONPATH=$T_TMP python3 - "$@" 2>&1)
}

# tcp_listeners PID: the TCP sockets PID listens on (from /proc)
tcp_listeners() {
	python3 - "$1" <<'EOF'
import os, sys
pid = sys.argv[1]
inodes = set()
for fd in os.listdir('/proc/%s/fd' % pid):
    try:
        l = os.readlink('/proc/%s/fd/%s' % (pid, fd))
    except OSError:
        continue
    if l.startswith('socket:['):
        inodes.add(l[8:-1])
n = 0
for f in ('/proc/net/tcp', '/proc/net/tcp6'):
    try:
        lines = open(f).read().splitlines()[1:]
    except OSError:
        continue
    for ln in lines:
        p = ln.split()
        if p[3] == '0A' and p[9] in inodes:   # LISTEN
            n += 1
print(n)
EOF
}

# ---- 1. no TCPSocket: nothing on TCP; the limit on the unix socket -----------------
dl_config Workers 1 StreamMaxLength 1M
check "ampdaemon starts without TCPSocket" dl_start
dl_wait_ready 1 || not_ok "a worker READY"
check "without TCPSocket, ampdaemon listens on no TCP socket" \
	test "$(tcp_listeners "$DL_PID")" = 0
check "without TCPSocket, nothing answers on the chosen port" \
	python3 -c "import socket,sys; s=socket.socket(); sys.exit(0 if s.connect_ex(('127.0.0.1', $PORT)) != 0 else 1)"
py_checks <<'EOF'
from tcpc import *
over_limit_10('unix')
endless('unix')
got, how = xchg('unix', b'zPING\0')
res(got == b'PONG\0', 'unix: PING after the limit tests', repr((got, how)))
EOF
dl_stop

# ---- 2. a busy port: the start fails, naming the address ----------------------------
python3 -c "
import socket, time, os
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $BUSY)); s.listen(1)
open('$T_TMP/busy.ready', 'w').close()
while not os.path.exists('$T_TMP/busy.stop'): time.sleep(0.1)
" &
HOLDER=$!
for _ in $(seq 100); do [ -e "$T_TMP/busy.ready" ] && break; sleep 0.05; done
dl_config Workers 1 TCPSocket "$BUSY"
rc=0
timeout 60 "$AMPDAEMON" --foreground --config "$DL_CONF" >"$T_TMP/busy.out" 2>&1 || rc=$?
check "a busy TCPSocket port stops the start (exit $rc)" test "$rc" != 0
check "... with an error naming the address and the reason" \
	grep -q "127.0.0.1:$BUSY: bind: Address already in use" "$T_TMP/busy.out" "$DL_LOG"
check "... and leaves no scan socket behind" test ! -e "$SOCK"
touch "$T_TMP/busy.stop"
wait "$HOLDER" 2>/dev/null

# ---- 3. TCPSocket on loopback ---------------------------------------------------------
ADDRS=127.0.0.1
[ "$HAVE_V6" = 1 ] && ADDRS="127.0.0.1, ::1"
dl_config Workers 1 StreamMaxLength 1M TCPSocket "$PORT" TCPAddr "$ADDRS" \
	MaxConnectionsPerUser 3 EnableShutdownCommand yes
check "ampdaemon starts with TCPSocket $PORT, TCPAddr $ADDRS" dl_start
dl_wait_ready 1 || not_ok "a worker READY"
check "it listens on TCP: one socket per address" \
	test "$(tcp_listeners "$DL_PID")" = "$(echo "$ADDRS" | tr ',' '\n' | wc -l)"
check "the log says where it listens" grep -q "listening on TCP 127.0.0.1:$PORT" "$DL_LOG"
py_checks <<'EOF'
import os
from tcpc import *
wheres = ['tcp'] + (['v6'] if os.environ['HAVE_V6'] == '1' else [])
for w in wheres:
    got, how = xchg(w, b'zPING\0')
    res(got == b'PONG\0' and how == 'eof', w + ': zPING -> PONG', repr((got, how)))
    got, how = xchg(w, b'nVERSION\n')
    res(got.startswith(b'ClamAV ') and got.endswith(b'\n'), w + ': nVERSION', repr(got))
    got, how = xchg(w, b'zINSTREAM\0' + chunks(EICAR))
    res(got.startswith(b'stream: ') and got.endswith(b' FOUND\0'), w + ': INSTREAM of EICAR -> FOUND', repr(got))
    got, how = xchg(w, b'zINSTREAM\0' + chunks(b'a clean file\n' * 1000))
    res(got == b'stream: OK\0', w + ': INSTREAM of a clean file -> OK', repr(got))
# a session: PING, INSTREAM, VERSION, END
s = conn('tcp')
s.sendall(b'zIDSESSION\0zPING\0zINSTREAM\0' + chunks(EICAR) + b'zINSTREAM\0' +
          chunks(b'clean') + b'zEND\0')
got, how = read_all(s)
s.close()
parts = got.split(b'\0')[:-1]
res(len(parts) == 3 and parts[0] == b'1: PONG' and parts[1].startswith(b'2: stream: ')
    and parts[1].endswith(b' FOUND') and parts[2] == b'3: stream: OK' and how == 'eof',
    'tcp: IDSESSION with PING and two INSTREAMs, then END', repr((got, how)))
# path commands and FILDES refused, SHUTDOWN refused
for cmd in (b'SCAN', b'CONTSCAN', b'MULTISCAN', b'ALLMATCHSCAN'):
    path = (FILES + '/eicar.txt').encode()
    got, how = xchg('tcp', b'z' + cmd + b' ' + path + b'\0')
    want = path + b': path commands are not accepted over TCP (TCPAllowPathCommands no). ERROR\0'
    res(got == want and how == 'eof', 'tcp: ' + cmd.decode() + ' refused', repr((got, how)))
got, how = xchg('tcp', b'zFILDES\0x')
res(got == b'FILDES: not available over TCP (no descriptor can pass). ERROR\0', 'tcp: FILDES refused', repr(got))
got, how = xchg('tcp', b'zSHUTDOWN\0')
res(got == b'COMMAND UNAVAILABLE\0', 'tcp: SHUTDOWN refused even with EnableShutdownCommand yes', repr(got))
got, how = xchg('unix', b'zPING\0')
res(got == b'PONG\0', 'the daemon still serves after the TCP SHUTDOWN', repr(got))
# STATS over TCP: the pool, no file names
got, how = xchg('tcp', b'zSTATS\0')
res(got.startswith(b'POOLS: ') and got.endswith(b'END\0'), 'tcp: STATS', repr(got[:80]))
# MaxConnectionsPerUser 3, counted per remote address
held = [conn('tcp') for _ in range(3)]
for h in held:
    h.sendall(b'zIDSESSION\0')
time.sleep(0.3)
got, how = xchg('tcp', b'zPING\0')
res(got.startswith(b'Too many connections from this user (MaxConnectionsPerUser)'),
    'tcp: a 4th connection from 127.0.0.1 is refused (MaxConnectionsPerUser 3)', repr(got))
got, how = xchg('unix', b'zPING\0')
res(got == b'PONG\0', 'meanwhile root on the unix socket is served', repr(got))
if os.environ['HAVE_V6'] == '1':
    got, how = xchg('v6', b'zPING\0')
    res(got == b'PONG\0', 'meanwhile ::1 (another address) is served', repr(got))
for h in held:
    h.close()
time.sleep(0.3)
got, how = xchg('tcp', b'zPING\0')
res(got == b'PONG\0', 'tcp: served again once those closed', repr(got))
over_limit_10('tcp')
endless('tcp')
EOF
check "the budget's log line names the TCP peer" \
	grep -Eq "budget connections_per_user: .*\(TCP 127\.0\.0\.1:[0-9]+\)" "$DL_LOG"

# Debian's clamdscan over TCP
cat >"$T_TMP/clamd-tcp.conf" <<CONF
TCPSocket $PORT
TCPAddr 127.0.0.1
CONF
chmod 644 "$T_TMP/clamd-tcp.conf"
CS="timeout 60 clamdscan --config-file=$T_TMP/clamd-tcp.conf"
expect_status 0 "clamdscan --ping over TCP" $CS --ping 1
check "... says PONG" grep -q PONG "$T_TMP/out"
expect_status 0 "clamdscan --version over TCP" $CS --version
check "... in clamd's shape (ClamAV ...)" grep -q '^ClamAV ' "$T_TMP/out"
expect_status 1 "clamdscan --stream of EICAR over TCP exits 1" $CS --stream --no-summary "$T_TMP/files/eicar.txt"
check "... FOUND" grep -q "eicar.txt: .* FOUND" "$T_TMP/out"
check "ampdaemon.log names the stream as clamd does: instream(127.0.0.1@PORT)" \
	grep -Eq "instream\(127\.0\.0\.1@[0-9]+\): Eicar.* FOUND" "$DL_LOG"
expect_status 0 "clamdscan --stream of a clean file over TCP exits 0" $CS --stream --no-summary "$T_TMP/files/clean2.txt"
check "... OK" grep -q "clean2.txt: OK" "$T_TMP/out"
expect_status 2 "clamdscan (a path command) over TCP is refused: exit 2" $CS --no-summary "$T_TMP/files/eicar.txt"
check "... with the reason" grep -q "not accepted over TCP" "$T_TMP/out" "$T_TMP/err"
dl_stop_checked

# ---- 4. TCPAllowPathCommands yes: nobody's rights -----------------------------------------
dl_config Workers 1 TCPSocket "$PORT" TCPAllowPathCommands yes
check "ampdaemon starts with TCPAllowPathCommands yes" dl_start
dl_wait_ready 1 || not_ok "a worker READY"
py_checks <<'EOF'
from tcpc import *
path = (FILES + '/eicar.txt').encode()
got, how = xchg('tcp', b'zSCAN ' + path + b'\0')
res(got.startswith(path + b': ') and got.endswith(b' FOUND\0'), 'tcp: SCAN of a world-readable EICAR -> FOUND', repr(got))
got, how = xchg('tcp', b'zCONTSCAN ' + FILES.encode() + b'\0')
res(b'eicar.txt: ' in got and b'FOUND' in got, 'tcp: CONTSCAN of the directory', repr(got))
path = (FILES + '/secret-eicar.txt').encode()
got, how = xchg('tcp', b'zSCAN ' + path + b'\0')
res(got == path + b': Access denied. ERROR\0', "tcp: SCAN of root's 0600 file -> Access denied (nobody's rights)", repr(got))
got, how = xchg('unix', b'zSCAN ' + path + b'\0')
res(got.endswith(b' FOUND\0'), 'unix: root scans it', repr(got))
EOF
expect_status 1 "clamdscan (CONTSCAN) over TCP with TCPAllowPathCommands yes exits 1 on EICAR" \
	$CS --no-summary "$T_TMP/files/eicar.txt"
dl_stop_checked

finish
