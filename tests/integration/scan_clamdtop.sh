#!/usr/bin/env bash
# Issue 18: what clamd's consumers read from the scan socket.
#   VERSION as c-icap's virus_scan module parses it ("ClamAV " first, a
#     version number after it, three '/'-separated fields, the second the
#     daily definitions' version); VERSIONCOMMANDS lists clamd 1.4's
#     commands; QUIT refused without EnableShutdownCommand; DETSTATS
#     closed without a reply.
#   STATS in clamd's layout: IDLE lines per worker, then with both workers
#     stopped (SIGSTOP) and three SCANs held: "\tSCAN <s> <file>" per
#     worker and the queued one, the files for root only (a client of
#     LocalSocketGroup sees the commands without them), MEMSTATS with
#     figures, ampscan's own version.
#   Debian's clamdtop, run in tmux against the socket, shows the rows.
#   scan_clamdtop.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
dl_init "$1" "$2"
cd "$T_TMP" || exit 1
SOCK=$T_TMP/run/clamd.sock
TMUX_L=amptop$$
WPIDS=
dt_cleanup() {
	# the workers stopped here must run again to be killed cleanly
	[ -n "$WPIDS" ] && kill -CONT $WPIDS 2>/dev/null
	tmux -L "$TMUX_L" kill-server 2>/dev/null
	dl_cleanup
}
trap dt_cleanup EXIT
trap 'exit 1' INT TERM HUP

dl_new_user CLI c
useradd -M -d /nonexistent -s /usr/sbin/nologin -U "$CLI" || skip_all "useradd $CLI failed"

# ---- definitions: custom.cvd (version 10, first by name), daily.cvd (11) -----------
mv "$T_TMP/defs/active/demo.cvd" "$T_TMP/defs/active/custom.cvd"
dl_build_cvd "$T_TMP/defs/active/daily.cvd" 11

cat >"$T_TMP/top.py" <<'EOF'
"""q CMD: one command, its whole reply on stdout (python's repr when -r)."""
import socket, sys
def q(data, timeout=30.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    s.settimeout(timeout)
    s.sendall(data)
    out = b''
    while True:
        b = s.recv(65536)
        if not b:
            return out
        out += b
cmd = sys.argv[2].encode().decode('unicode_escape').encode('latin1')
sys.stdout.buffer.write(q(cmd))
EOF
# the system's python: a user's shims (pyenv under /root) are closed to others
UPY=/usr/bin/python3
[ -x "$UPY" ] || UPY=$(command -v python3)
# ask [-u USER] CMD: the reply to CMD (escapes as in python: 'nSTATS\n')
ask() {
	if [ "$1" = -u ]; then
		timeout 60 setpriv --reuid="$2" --regid="$2" --init-groups "$UPY" "$T_TMP/top.py" "$SOCK" "$3"
	else
		timeout 60 python3 "$T_TMP/top.py" "$SOCK" "$1"
	fi
}

dl_config LocalSocketGroup "$CLI" EnableShutdownCommand no ScanTimeout 5m
check "ampdaemon starts" dl_start
check "both workers become READY" dl_wait_ready 2

# ---- VERSION, the c-icap way -------------------------------------------------------
ENGINE=$("$T_TMP/bin/ampscansvc" --version | sed -n 's/.*clamav (libclamav \([^,)]*\).*/\1/p')
export ENGINE
ask 'zVERSION\0' | tr -d '\0' >ver.out
VER=$(cat ver.out)
echo "    VERSION: '$VER' (libclamav $ENGINE)"
cicap() {   # the checks c-icap's clamd_get_versions() makes, and clamdtop's split
	python3 - "$VER" <<-'EOF'
	import re, sys
	v = sys.argv[1]
	assert v.startswith('ClamAV '), 'no "ClamAV " prefix'
	m = re.match(r'(\d+)\.(\d+)(?:\.(\d+))?', v[7:])
	assert m, 'no %d.%d after "ClamAV "'
	f = v.split('/')
	assert len(f) == 3, 'want three /-separated fields, got %d' % len(f)
	assert int(re.match(r'\d+', f[1]).group()) == 11, 'second field %r, want 11 (daily)' % f[1]
	assert re.fullmatch(r'[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}', f[2]), 'date %r' % f[2]
	EOF
}
check "VERSION parses as c-icap reads it: ClamAV x.y, 3 fields, daily's 11 second (not custom's 10)" cicap
check "VERSION names the workers' libclamav ($ENGINE)" test "${VER%%/*}" = "ClamAV $ENGINE"

ask 'nVERSIONCOMMANDS\n' >vc.out
check "VERSIONCOMMANDS: the version, then clamd 1.4.6's list (QUIT, DETSTATSCLEAR, DETSTATS in it)" \
	test "$(cat vc.out)" = "$VER| COMMANDS: SCAN QUIT RELOAD PING CONTSCAN VERSIONCOMMANDS VERSION END SHUTDOWN MULTISCAN FILDES STATS IDSESSION INSTREAM DETSTATSCLEAR DETSTATS ALLMATCHSCAN"
check "QUIT without EnableShutdownCommand: COMMAND UNAVAILABLE" \
	test "$(ask 'zQUIT\0' | tr -d '\0')" = "COMMAND UNAVAILABLE"
check "QUIT from a LocalSocketGroup client: COMMAND UNAVAILABLE" \
	test "$(ask -u "$CLI" 'nQUIT\n')" = "COMMAND UNAVAILABLE"
check "DETSTATS: closed without a reply, as clamd 1.4.6" test -z "$(ask 'nDETSTATS\n')"
check "ampdaemon still answers PONG" test "$(ask 'zPING\0' | tr -d '\0')" = PONG
check "ampdaemon still runs" kill -0 "$DL_PID"

# ---- STATS with idle workers --------------------------------------------------------
# stats_until PY-CONDITION [USER]: until STATS (as USER) satisfies it; the
# reply in stats.out (30 s at most)
stats_until() {
	local i
	for i in $(seq 300); do
		if [ -n "${2:-}" ]; then ask -u "$2" 'nSTATS\n' >stats.out; else ask 'nSTATS\n' >stats.out; fi
		python3 -c "
import re, sys
s = open('stats.out').read()
sys.exit(0 if ($1) else 1)" && return 0
		sleep 0.1
	done
	echo "    last STATS:"; sed 's/^/      /' stats.out
	return 1
}
check "STATS: the clamd header lines (POOLS, STATE, THREADS live 2 idle 2 max 2, QUEUE 0)" \
	stats_until "s.startswith('POOLS: 1\n\nSTATE: VALID PRIMARY\nTHREADS: live 2  idle 2 max 2 idle-timeout 30\nQUEUE: 0 items\n') and s.endswith('\nEND\n')"
check "STATS: a '\tIDLE <seconds> ' line per worker" \
	stats_until "len(re.findall(r'^\tIDLE \d+\.\d{6} \n', s, re.M)) == 2"
check "STATS: MEMSTATS with the pool's figures (clamdtop's eight-number form, used > 0)" \
	stats_until "re.search(r'^MEMSTATS: heap \d+\.\d{3}M mmap \d+\.\d{3}M used (\d+\.\d{3})M free \d+\.\d{3}M releasable \d+\.\d{3}M pools [1-9]\d* pools_used \d+\.\d{3}M pools_total \d+\.\d{3}M$', s, re.M) and float(re.search(r'used (\S+)M', s).group(1)) > 0"
check "STATS: ampscan's own version" grep -q "^AMPSCAN: version [0-9]" stats.out

# ---- clamdtop in tmux -----------------------------------------------------------------
HAVE_TOP=1
if ! command -v clamdtop >/dev/null || ! command -v tmux >/dev/null; then
	echo "skip - clamdtop or tmux missing (Debian packages clamav-daemon, tmux): the clamdtop checks are not run"
	HAVE_TOP=0
fi
# pane_until PY-CONDITION: until the clamdtop screen (p) satisfies it (60 s)
pane_until() {
	local i
	for i in $(seq 120); do
		tmux -L "$TMUX_L" capture-pane -p -t top >pane.out 2>/dev/null
		python3 -c "
import os, re, sys
p = open('pane.out').read()
sys.exit(0 if ($1) else 1)" && return 0
		sleep 0.5
	done
	echo "    clamdtop's screen:"; sed 's/^/      |/' pane.out
	return 1
}
if [ "$HAVE_TOP" = 1 ]; then
	tmux -L "$TMUX_L" new-session -d -s top -x 250 -y 50 "TERM=screen clamdtop $SOCK; sleep 600"
	# NO CONNTIME LIV IDL QUEUE MAXQ MEM ENGINE DBVER DBTIME HOST
	check "clamdtop: the pool's row (live 2, idle 2, MEM, engine $ENGINE, DBVER 11, local)" \
		pane_until "re.search(r'^ ?1 \d\d:\d\d:\d\d +2 +2 +\d+ +\d+ +[0-9.]+[MG] +' + re.escape(os.environ['ENGINE']) + r' +11 .* local', p, re.M)"
	check "clamdtop: an IDLE row per worker" pane_until "len(re.findall(r'^ IDLE +\d+\.\d+s', p, re.M)) == 2"
	check "clamdtop: the memory box (Pool: count ...)" pane_until "'Pool: count' in p and 'Mem:' in p"
fi

# ---- scans held: both workers stopped -------------------------------------------------
WPIDS=$(dl_worker_pids)
check "two worker pids ($WPIDS)" test "$(echo $WPIDS | wc -w)" = 2
kill -STOP $WPIDS
HELD=()
for i in 1 2 3; do
	echo "held file $i" >"$T_TMP/files/held-$i.txt"
	chmod 644 "$T_TMP/files/held-$i.txt"
	ask "zSCAN $T_TMP/files/held-$i.txt\\0" >"held-$i.out" &
	HELD+=($!)
done
check "STATS (root): three SCANs, two on the workers and one queued, with their files" \
	stats_until "'THREADS: live 2  idle 0 max 2' in s and 'QUEUE: 1 items' in s and len(re.findall(r'^\tSCAN \d+\.\d{6} $T_TMP/files/held-[123]\.txt\n', s, re.M)) == 3"
check "STATS (a LocalSocketGroup client): the three SCAN lines without their files" \
	stats_until "len(re.findall(r'^\tSCAN \d+\.\d{6} \n', s, re.M)) == 3 and 'held-' not in s and '$T_TMP' not in s" "$CLI"
if [ "$HAVE_TOP" = 1 ]; then
	check "clamdtop: a SCAN row per held file, with its name" \
		pane_until "len(re.findall(r'^ SCAN +\d+\.\d+s +\S*held-[123]\.txt', p, re.M)) == 3"
	tmux -L "$TMUX_L" send-keys -t top q
fi
kill -CONT $WPIDS
WPIDS=
wait "${HELD[@]}"
for i in 1 2 3; do
	check "held-$i.txt answered once the workers run: OK" \
		test "$(tr -d '\0' <"held-$i.out")" = "$T_TMP/files/held-$i.txt: OK"
done
check "STATS: the workers idle again" \
	stats_until "len(re.findall(r'^\tIDLE \d+\.\d{6} \n', s, re.M)) == 2 and 'QUEUE: 0 items' in s"

dl_stop_checked
finish
