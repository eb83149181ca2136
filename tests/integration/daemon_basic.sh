#!/usr/bin/env bash
# ampdaemon's process basics: --check-config, errors naming the line, the
# single-instance lock, SIGHUP log reopening, systemd notification, a clean
# stop on SIGTERM, and backgrounding.
#   daemon_basic.sh AMPDAEMON
. "$(dirname "$0")/lib.sh"
D=$1
cd "$T_TMP"
pids=()
cleanup_daemons() { t_kill_children 9 "${pids[@]}"; }
trap 'cleanup_daemons; rm -rf "$T_TMP"' EXIT

mkdir -p state log defs run
cat >ampdaemon.conf <<CONF
# test configuration
StateDir $T_TMP/state
LogDir $T_TMP/log
DefinitionsDir $T_TMP/defs
LocalSocket $T_TMP/run/clamd.sock
ControlSocket $T_TMP/run/control.sock
Workers 1
CONF
chmod 600 ampdaemon.conf

expect_status 0 "--check-config on a good file" "$D" --check-config --config ampdaemon.conf
check "--check-config prints the effective settings" grep -q '^Workers 1$' "$T_TMP/out"
check "--check-config prints defaults too" grep -q '^ScanTimeout 120s$' "$T_TMP/out"
cp ampdaemon.conf bad.conf
printf 'RestartDelayMin 10x\n' >>bad.conf
expect_status 1 "a bad value is refused" "$D" --check-config --config bad.conf
check "the error names the file, line and key" grep -q 'bad.conf:8: RestartDelayMin' "$T_TMP/err"
expect_status 1 "the daemon refuses to start on it" "$D" --foreground --config bad.conf
expect_status 2 "an unknown option is a usage error" "$D" --frobnicate
expect_status 0 "--help" "$D" --help

wait_for() {  # wait_for FILE PATTERN: up to 10 s
	for _ in $(seq 100); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# systemd notification: a datagram socket we listen on
python3 - "$T_TMP/notify.sock" >"$T_TMP/notify.out" 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(20)
for _ in range(2):
    try:
        print(s.recv(4096).decode().replace("\n", " "), flush=True)
    except socket.timeout:
        break
PY
listener=$!
for _ in $(seq 50); do [ -S "$T_TMP/notify.sock" ] && break; sleep 0.1; done

NOTIFY_SOCKET=$T_TMP/notify.sock "$D" --foreground --config ampdaemon.conf 2>"$T_TMP/fg.err" &
dpid=$!
pids+=($dpid)
check "the daemon becomes ready" wait_for log/ampdaemon.log 'ampdaemon\[[0-9]*\]: info: ready'
check "the pid file holds its pid" [ "$(cat state/ampdaemon.pid)" = "$dpid" ]
check "in the foreground the log goes to stderr too" wait_for "$T_TMP/fg.err" 'info: ready'
check "READY=1 was sent to NOTIFY_SOCKET" wait_for "$T_TMP/notify.out" 'READY=1'
expect_status 1 "a second instance is refused" "$D" --foreground --config ampdaemon.conf
check "it names the running pid" grep -q "another ampdaemon is running (pid $dpid" "$T_TMP/err"
mv log/ampdaemon.log log/ampdaemon.log.1
mv log/ampscansvc.log log/ampscansvc.log.1
kill -HUP $dpid
check "SIGHUP reopens the logs (logrotate)" wait_for log/ampdaemon.log 'SIGHUP: logs reopened'
check "... ampscansvc.log too" [ -f log/ampscansvc.log ]
check "... and the daemon is still running" kill -0 $dpid
kill -TERM $dpid
rc=0; wait $dpid || rc=$?
check "SIGTERM: exit status 0" [ "$rc" = 0 ]
check "STOPPING=1 was sent" wait_for "$T_TMP/notify.out" 'STOPPING=1'
check "the stop is logged" grep -q 'info: stopped' log/ampdaemon.log
check "the pid file is removed" [ ! -e state/ampdaemon.pid ]
check "faults.state was saved" [ -f state/faults.state ]
wait $listener 2>/dev/null

# without --foreground: returns once ready, keeps running
expect_status 0 "background start returns 0 once ready" "$D" --config ampdaemon.conf
bpid=$(cat state/ampdaemon.pid 2>/dev/null)
pids+=($bpid)
check "the background daemon runs" kill -0 "$bpid"
kill -TERM "$bpid"
for _ in $(seq 50); do kill -0 "$bpid" 2>/dev/null || break; sleep 0.1; done
check "and stops on SIGTERM" sh -c "! kill -0 $bpid 2>/dev/null"
finish
