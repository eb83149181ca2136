#!/usr/bin/env bash
# Paths a client hands to SCAN (issue 8, "Security checks"): ampdaemon opens
# them as root, so a symlink into /etc/shadow, a FIFO, a device, a path
# through a symlinked directory or a file swapped while it is scanned must
# give a clear reply at once, never hang, never send back a byte of what it
# read (the reply is a verdict), and never scan something other than what
# it opened.
#   security_paths.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
dl_init "$1" "$2"
cd "$T_TMP"
dl_config
dl_start || { not_ok "ampdaemon starts"; finish; exit 1; }
check "workers READY" dl_wait_ready 2

mkdir -p p/d
# a secret the scan user may not read, with a line we would recognise
printf 'SECRET-LINE-%s\n' "$$" >p/secret && chmod 600 p/secret
ln -s "$T_TMP/p/secret" p/link-secret
ln -s /etc/shadow p/link-shadow
ln -s "$T_TMP/p" p/d/dirlink
mkfifo p/fifo
cp files/eicar.txt p/a; cp files/clean.txt p/b

python3 - "$T_TMP/run/clamd.sock" "$T_TMP" "$$" >"$T_TMP/py.out" 2>&1 <<'PY'
import os, socket, sys, threading, time
sock, T, pid = sys.argv[1], sys.argv[2], sys.argv[3]
secret = ('SECRET-LINE-%s' % pid).encode()
shadow = open('/etc/shadow', 'rb').read() if os.path.exists('/etc/shadow') else b''
fails = 0
def res(ok, what, extra=''):
    global fails
    print(('ok   - ' if ok else 'FAIL - ') + what + ('' if ok else ' ' + extra))
    fails += not ok
def req(cmd, timeout=10):
    s = socket.socket(socket.AF_UNIX); s.settimeout(timeout)
    t0 = time.time(); s.connect(sock); s.sendall(cmd)
    out = b''
    while True:
        b = s.recv(65536)
        if not b: break
        out += b
    s.close()
    return out, time.time() - t0
def leaks(out):
    return secret in out or any(l and l in out for l in shadow.split(b'\n') if len(l) > 8)

for name, want in (('link-secret', b'Not a regular file ERROR'),
                   ('link-shadow', b'Not a regular file ERROR'),
                   ('fifo', b'Not a regular file ERROR')):
    path = (T + '/p/' + name).encode()
    out, dt = req(b'zSCAN ' + path + b'\0')
    res(out == path + b': ' + want + b'\0' and dt < 2, 'SCAN %s -> "%s" at once' % (name, want.decode()), repr((out, dt)))
    res(not leaks(out), 'SCAN %s: nothing of its content in the reply' % name)
for dev in ('/dev/zero', '/dev/urandom', '/dev/null', '/dev/tty'):
    out, dt = req(b'zSCAN ' + dev.encode() + b'\0')
    res(out.endswith(b'ERROR\0') and dt < 2, 'SCAN %s -> an ERROR at once, no hang' % dev, repr((out, dt)))
# a directory walk skips symlinks, FIFOs and devices as clamd does
out, dt = req(b'zCONTSCAN ' + (T + '/p').encode() + b'\0')
res(b'link-secret' not in out and b'fifo' not in out and not leaks(out) and dt < 5,
    'CONTSCAN of the directory: the symlinks and the FIFO skipped, nothing leaked', repr(out))
# a symlinked directory in the middle of the path: followed, as clamd does;
# the reply is still only a verdict
path = (T + '/p/d/dirlink/secret').encode()
out, dt = req(b'zSCAN ' + path + b'\0')
res(out == path + b': OK\0' and not leaks(out), 'SCAN through a symlinked directory: a verdict only', repr(out))
# a file swapped (renamed) while clients scan it: each reply is a verdict
# on what was opened, or "no such file": never a hang, never an error of ours
stop = False
def swapper():
    while not stop:
        try:
            os.rename(T + '/p/a', T + '/p/t'); os.rename(T + '/p/b', T + '/p/a')
            os.rename(T + '/p/t', T + '/p/b')
        except OSError:
            pass
th = threading.Thread(target=swapper); th.start()
path = (T + '/p/a').encode()
bad = []
n = 0
t_end = time.time() + 3
while time.time() < t_end:
    out, dt = req(b'zSCAN ' + path + b'\0')
    n += 1
    if not (out == path + b': OK\0' or out == path + b': Eicar-Signature FOUND\0' or
            out.endswith(b'FOUND\0') or b'No such file' in out) or dt > 5:
        bad.append((out, dt))
stop = True; th.join()
res(not bad and n > 20, 'SCAN of a file swapped %d times meanwhile: every reply a verdict or "no such file"' % n, repr(bad[:3]))
sys.exit(1 if fails else 0)
PY
rc=$?
cat "$T_TMP/py.out"
T_PASS=$((T_PASS + $(grep -c '^ok' "$T_TMP/py.out")))
T_FAIL=$((T_FAIL + $(grep -c '^FAIL' "$T_TMP/py.out")))
[ "$rc" = 0 ] || [ "$(grep -c '^FAIL' "$T_TMP/py.out")" != 0 ] || not_ok "the python checks ran (exit $rc)"
timeout 10 "$AMPCTL" --socket "$DL_CTL" scan "$T_TMP/p/link-secret" >"$T_TMP/out" 2>&1
# ampctl is root's (the control socket admits root only): a symlink named on
# its command line is followed, as clamscan does by default; still a verdict
check "ampctl scan of a symlink (root's tool): a verdict on its target" grep -qx "$T_TMP/p/link-secret: OK" "$T_TMP/out"
check "ampctl scan of the symlink: nothing of the content in the output" bash -c "! grep -q SECRET '$T_TMP/out'"
dl_stop

# ---- the sockets: made with their mode and group at bind; their directory
# and the state directories must be root's and closed to group and others
echo "# sockets and trusted directories"
dl_new_user SOCKU s
useradd -M -N -s /usr/sbin/nologin "$SOCKU" 2>/dev/null
groupadd "$SOCKU" 2>/dev/null
dl_config LocalSocketGroup "$SOCKU" LocalSocketMode 640
check "ampdaemon starts with LocalSocketGroup $SOCKU, LocalSocketMode 640" dl_start
check "the control socket: 600, root:root" test "$(stat -c '%a %U %G' "$DL_CTL")" = "600 root root"
check "the scan socket: 640, root:$SOCKU" test "$(stat -c '%a %U %G' "$T_TMP/run/clamd.sock")" = "640 root $SOCKU"
dl_stop
# t_refused WHAT REASON: ampdaemon does not start, saying REASON
t_refused() {
	: >"$T_TMP/daemon.out"
	if dl_start; then
		dl_stop
		not_ok "$1: ampdaemon must not start"
		return
	fi
	check "$1: ampdaemon refuses to start" bash -c "! kill -0 $DL_PID 2>/dev/null"
	check "$1: the reason is said" grep -q -- "$2" "$T_TMP/daemon.out"
}
chmod 777 run
t_refused "the sockets' directory mode 0777" "run: writable by others (mode 0777): refused"
chmod 775 run
t_refused "the sockets' directory mode 0775" "run: writable by its group (mode 0775): refused"
chmod 755 run
chown "$SOCKU" run
t_refused "the sockets' directory owned by $SOCKU" "run: owned by uid $(id -u "$SOCKU"), not root: refused"
chown root run
chmod 1777 state
t_refused "StateDir mode 1777" "state: writable by others (mode 1777): refused"
chmod 750 state
chmod 770 defs/incoming
t_refused "DefinitionsDir/incoming mode 0770" "incoming: writable by its group (mode 0770): refused"
chmod 750 defs/incoming
chown "$SOCKU" log
t_refused "LogDir owned by $SOCKU" "log: owned by uid $(id -u "$SOCKU"), not root: refused"
chown root log
check "with every directory put right, ampdaemon starts again" dl_start
check "workers READY" dl_wait_ready 2
dl_stop
userdel "$SOCKU" 2>/dev/null
groupdel "$SOCKU" 2>/dev/null
finish
