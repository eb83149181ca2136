#!/usr/bin/env bash
# ampctl without ampdaemon: usage, argument checks, connection errors that
# name the socket, and the control protocol against a tiny python3 server
# that checks the request it gets and answers O/E/X frames.
#   ampctl_cli.sh AMPCTL
. "$(dirname "$0")/lib.sh"
AMPCTL=$(realpath "$1")
command -v python3 >/dev/null || skip_all "python3 not found"
cd "$T_TMP"
SRV=
trap '[ -n "$SRV" ] && kill "$SRV" 2>/dev/null; rm -rf "$T_TMP"' EXIT

expect_status 0 "--help exits 0" "$AMPCTL" --help
for c in status faults events scan update reload repair-account diag; do
	check "--help lists $c" grep -qE "^  $c( |\$)" "$T_TMP/out"
done
check "--help gives the exit statuses" grep -q '0 ok, 1 findings' "$T_TMP/out"
expect_status 0 "--version exits 0" "$AMPCTL" --version
expect_status 2 "no command" "$AMPCTL"
expect_status 2 "unknown command" "$AMPCTL" --socket /nonexistent/x frobnicate
check "unknown command: says so" grep -q "unknown command 'frobnicate'" "$T_TMP/err"
check "unknown command: usage" grep -q '^usage: ampctl' "$T_TMP/err"
expect_status 2 "scan without a path" "$AMPCTL" --socket /nonexistent/x scan --json
check "scan: no PATH given" grep -q 'scan: no PATH given' "$T_TMP/err"
expect_status 2 "an option the command does not have" "$AMPCTL" --socket /nonexistent/x status --all
check "names the option" grep -q "status: unknown option '--all'" "$T_TMP/err"
expect_status 2 "--lang other than en or zh-TW" "$AMPCTL" --socket /nonexistent/x faults --lang fr
expect_status 2 "an unknown global option" "$AMPCTL" --frob status
expect_status 2 "--socket /nonexistent/x status" "$AMPCTL" --socket /nonexistent/x status
check "the message names the socket and asks about ampdaemon" grep -qF \
	'ampctl: cannot connect to ampdaemon at /nonexistent/x: No such file or directory (is ampdaemon running?)' "$T_TMP/err"
check "nothing on stdout" [ ! -s "$T_TMP/out" ]
expect_status 2 "an explicit --config that cannot be read" "$AMPCTL" --config "$T_TMP/none.conf" status
check "config_load's message" grep -q 'none.conf: cannot open' "$T_TMP/err"
printf 'ControlSocket %s/ctl-from-config.sock\n' "$T_TMP" >ampdaemon.conf
expect_status 2 "--config: ControlSocket is used" "$AMPCTL" --config ampdaemon.conf status
check "the message names the configured socket" grep -q "at $T_TMP/ctl-from-config.sock:" "$T_TMP/err"

# A fake ampdaemon: one connection, checks the request, answers.
#   fake_daemon SOCKET MODE ARG...   (MODE exit: O, E, X 1; noexit: O, close)
fake_daemon() {
	rm -f "$1"
	python3 - "$@" <<'EOF' &
import socket, struct, sys
path, mode, want = sys.argv[1], sys.argv[2], [a.encode() for a in sys.argv[3:]]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(1)
s.settimeout(30)
c, _ = s.accept()
c.settimeout(30)
def read(n):
    b = b''
    while len(b) < n:
        x = c.recv(n - len(b))
        if not x:
            sys.exit('fake daemon: short request')
        b += x
    return b
def frame(t, p):
    c.sendall(struct.pack('>I', len(p)) + t + p)
h = read(5)
p = read(struct.unpack('>I', h[:4])[0])
argv = p.split(b'\0')[:-1] if p.endswith(b'\0') else None
if h[4:5] != b'Q' or argv != want:
    frame(b'E', b'fake daemon: unexpected request %r %r\n' % (h[4:5], argv))
    frame(b'X', b'\x02')
elif mode == 'exit':
    frame(b'O', b'x: OK\n')
    frame(b'E', b'warn\n')
    frame(b'X', b'\x01')
else:
    frame(b'O', b'partial\n')
c.close()
EOF
	SRV=$!
	for _ in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.05; done
	return 1
}

CWD=$(pwd -P)
check "fake daemon listening" fake_daemon "$T_TMP/ctl.sock" exit scan "$CWD/rel"
expect_status 1 "scan rel: the daemon's exit status" timeout 30 "$AMPCTL" --socket "$T_TMP/ctl.sock" scan rel
check "O frames go to stdout" [ "$(cat "$T_TMP/out")" = "x: OK" ]
check "E frames go to stderr" [ "$(cat "$T_TMP/err")" = "warn" ]
wait "$SRV"; SRV=

# option values travel as separate strings, whatever the spelling
check "fake daemon listening" fake_daemon "$T_TMP/ctl.sock" exit faults --lang zh-TW --json
expect_status 1 "faults --lang=zh-TW --json" timeout 30 "$AMPCTL" --socket "$T_TMP/ctl.sock" faults --lang=zh-TW --json
wait "$SRV"; SRV=
check "fake daemon listening" fake_daemon "$T_TMP/ctl.sock" exit events -n 5 --follow
expect_status 1 "events -n5 --follow" timeout 30 "$AMPCTL" --socket "$T_TMP/ctl.sock" events -n5 --follow
wait "$SRV"; SRV=

check "fake daemon listening" fake_daemon "$T_TMP/ctl.sock" exit update "$CWD/sub/../new.cvd"
expect_status 1 "update FILE: made absolute, not resolved" timeout 30 "$AMPCTL" --socket "$T_TMP/ctl.sock" update sub/../new.cvd
wait "$SRV"; SRV=

check "fake daemon listening" fake_daemon "$T_TMP/ctl.sock" noexit status --json
expect_status 2 "a connection closed without an exit status is an error" timeout 30 "$AMPCTL" --socket "$T_TMP/ctl.sock" status --json
check "the output before it is shown" [ "$(cat "$T_TMP/out")" = "partial" ]
check "ampdaemon closed the connection" grep -q "ampctl: $T_TMP/ctl.sock: ampdaemon closed the connection" "$T_TMP/err"
wait "$SRV"; SRV=
finish
