#!/usr/bin/env bash
# The scan socket out of descriptors: ampdaemon under a small RLIMIT_NOFILE
# and more clients than it can hold.  accept() fails with EMFILE while the
# backlog keeps the socket readable: the daemon must pause accepting, not
# spin, and serve again once descriptors are free.
#   scan_emfile.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
dl_init "$1" "$2"
cd "$T_TMP"
dl_config CreateScanUser yes
prlimit --nofile=48:48 "$AMPDAEMON" --foreground --config "$DL_CONF" >>"$T_TMP/daemon.out" 2>&1 &
DL_PID=$!
DL_DAEMON_PIDS+=("$DL_PID")
for _ in $(seq 200); do [ -S "$DL_CTL" ] && break; sleep 0.05; done
check "ampdaemon (RLIMIT_NOFILE 48) starts" dl_wait_ready 2
python3 - "$T_TMP/run/clamd.sock" "$DL_PID" >"$T_TMP/py.out" 2>&1 <<'PY'
import socket, sys, time
def cpu(pid):
    f = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()
    return int(f[11]) + int(f[12])
path, pid = sys.argv[1], sys.argv[2]
conns = []
for i in range(80):   # more than the daemon can hold: the backlog fills
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(2)
    try:
        s.connect(path)
        conns.append(s)
    except OSError:
        break
c0 = cpu(pid)
time.sleep(3)
print('ticks', cpu(pid) - c0)
for s in conns:
    s.close()
time.sleep(0.5)
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(path)
s.send(b'zPING\0')
print('reply', s.recv(100))
PY
ticks=$(sed -n 's/^ticks //p' "$T_TMP/py.out")
echo "    ampdaemon CPU ticks over 3 s without descriptors: ${ticks:-?} (100 a second is a busy loop)"
check "no busy loop while accept() fails with EMFILE (< 50 ticks in 3 s)" test "${ticks:-999}" -lt 50
check "serving again once the clients left (PING -> PONG)" grep -q "reply b'PONG" "$T_TMP/py.out"
check "the log says the scan socket paused accepting, once" test "$(grep -c 'scan socket: accept: .*pausing 0.1 s at a time' "$DL_LOG")" = 1
check "and that it accepts again" grep -q 'scan socket: accepting again' "$DL_LOG"
dl_stop
finish
