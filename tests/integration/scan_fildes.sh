#!/usr/bin/env bash
# What a worker may be handed (issue 17, first part): a FILDES descriptor
# that is not open for reading (O_PATH, O_WRONLY), not a regular file (a
# pipe, a directory) or a file of the kernel's own filesystems (procfs,
# sysfs), and a SCAN path on procfs or sysfs, are refused with an ERROR
# before any worker sees them: never "OK", never a cached verdict.  And a
# file name cannot forge a reply line: its control characters are escaped.
#   scan_fildes.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
dl_init "$1" "$2"
cd "$T_TMP"

SOCK=$T_TMP/run/clamd.sock
export SOCK FILES=$T_TMP/files
# an unprivileged client, in the socket's group (attack 1 of issue 17 as
# a local user would try it: O_PATH needs only search permission)
dl_new_user CU c
useradd -M -d /nonexistent -s /usr/sbin/nologin -U "$CU" || skip_all "useradd $CU failed"
dl_config CreateScanUser yes LocalSocketGroup "$CU"
check "ampdaemon starts" dl_start
check "both workers become READY" dl_wait_ready 2

cat >"$T_TMP/fildes.py" <<'EOF'
"""FILDES and SCAN with descriptors and paths a worker must never see;
one line per check: "ok<TAB>what" or "FAIL<TAB>what<TAB>detail"."""
import os, re, socket, sys

SOCK = os.environ['SOCK']
FILES = os.environ['FILES']
EICAR = FILES + '/eicar.txt'
FOUND = rb'Eicar-Test-Signature(\.Body)?(\.UNOFFICIAL)? FOUND'


def res(good, what, detail=''):
    print(('ok' if good else 'FAIL') + '\t' + what +
          ('' if good else '\t' + repr(detail)), flush=True)


def ask(cmd, fd=None):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(SOCK)
    s.sendall(cmd)
    if fd is not None:
        socket.send_fds(s, [b'x'], [fd])
    got = b''
    while True:
        b = s.recv(4096)
        if not b:
            break
        got += b
    s.close()
    return got


def fildes(fd):
    return ask(b'zFILDES\0', fd)


fd = os.open(EICAR, os.O_RDONLY)
got = fildes(fd)
res(re.fullmatch(rb'fd\[[0-9]+\]: ' + FOUND + rb'\0', got) is not None,
    'FILDES of EICAR opened O_RDONLY -> FOUND (the control)', got)
os.close(fd)

for what, flags in (('O_PATH', os.O_PATH), ('O_WRONLY', os.O_WRONLY)):
    for rnd in (1, 2):   # twice: nothing is cached either way
        fd = os.open(EICAR, flags)
        got = fildes(fd)
        os.close(fd)
        res(re.fullmatch(rb'fd\[[0-9]+\]: Descriptor not open for reading ERROR\0', got)
            is not None, 'FILDES of EICAR opened %s (round %d) -> "Descriptor not open for '
            'reading ERROR", not OK' % (what, rnd), got)

r, w = os.pipe()
os.write(w, open(EICAR, 'rb').read())
got = fildes(r)
res(re.fullmatch(rb'fd\[[0-9]+\]: Not a regular file ERROR\0', got) is not None,
    'FILDES of a pipe holding EICAR -> "Not a regular file ERROR"', got)
os.close(r)
os.close(w)

fd = os.open(FILES, os.O_RDONLY | os.O_DIRECTORY)
got = fildes(fd)
res(re.fullmatch(rb'fd\[[0-9]+\]: Not a regular file ERROR\0', got) is not None,
    'FILDES of a directory -> "Not a regular file ERROR"', got)
os.close(fd)

for path, fs in (('/proc/self/environ', b'procfs'), ('/proc/self/status', b'procfs'),
                 ('/sys/kernel/mm/transparent_hugepage/enabled', b'sysfs')):
    if not os.path.exists(path):
        res(True, 'FILDES/SCAN of %s: absent here, skipped' % path)
        continue
    fd = os.open(path, os.O_RDONLY)
    got = fildes(fd)
    os.close(fd)
    res(re.fullmatch(rb'fd\[[0-9]+\]: Not scanned: a file of ' + fs + rb' ERROR\0', got)
        is not None, 'FILDES of %s -> "Not scanned: a file of %s ERROR"' % (path, fs.decode()), got)
    # the daemon's own /proc/self is not the client's: name the file itself
    got = ask(b'zSCAN ' + path.encode() + b'\0')
    res(re.fullmatch(re.escape(path.encode()) + rb': Not scanned: a file of ' + fs +
                     rb' ERROR\0', got) is not None,
        'SCAN %s -> "Not scanned: a file of %s ERROR"' % (path, fs.decode()), got)

for path, fs in (('/proc', b'procfs'), ('/proc/1', b'procfs'), ('/sys/kernel', b'sysfs')):
    got = ask(b'zCONTSCAN ' + path.encode() + b'\0')
    res(re.fullmatch(re.escape(path.encode()) + rb': Not scanned: a directory of ' + fs +
                     rb' ERROR\0', got) is not None,
        'CONTSCAN %s -> "Not scanned: a directory of %s ERROR", nothing walked' %
        (path, fs.decode()), got)

# a file name with a newline cannot forge a reply line (n framing): EICAR
# named "x\nforged: OK" is one FOUND line with the newline escaped
d = FILES + '/nl'
os.makedirs(d, exist_ok=True)
forged = d + '/x\nforged: OK'
with open(forged, 'wb') as out:
    out.write(open(EICAR, 'rb').read())
got = ask(b'nCONTSCAN ' + d.encode() + b'\n')
res(re.fullmatch(re.escape((d + '/x\\nforged: OK').encode()) + rb': ' + FOUND + rb'\n',
                 got) is not None,
    'nCONTSCAN of EICAR named "x<newline>forged: OK" -> one FOUND line, the newline as \\n', got)
os.unlink(forged)

# control characters in names are escaped in every framing and every
# command that names files: newline, carriage return, ESC, DEL, and a name
# that carries a whole forged "...: Eicar... FOUND" reply
d = FILES + '/ctl'
os.makedirs(d, exist_ok=True)
names = ['x\nforged: OK', 'y\rz: Eicar-Test-Signature FOUND', 'c\x01\x1b[2K\x7fd']
shown = [b'x\\nforged: OK', b'y\\rz: Eicar-Test-Signature FOUND', b'c\\x01\\x1b[2K\\x7fd']
for n in names:
    with open(d + '/' + n, 'wb') as out:
        out.write(open(EICAR, 'rb').read())
want = sorted(d.encode() + b'/' + s for s in shown)


def lines_ok(got, term, prefix=rb''):
    parts = got.split(term)
    if parts[-1] != b'':
        return False
    seen = []
    for p in parts[:-1]:
        m = re.fullmatch(prefix + rb'(.*): ' + FOUND, p, re.S)
        if m is None:
            return False
        seen.append(m.group(1))
    return sorted(set(seen)) == want   # ALLMATCHSCAN: a line per match


for cmd in (b'CONTSCAN', b'MULTISCAN', b'ALLMATCHSCAN'):
    for frame, term in ((b'n', b'\n'), (b'z', b'\0'), (b'', b'\n')):
        got = ask(frame + cmd + b' ' + d.encode() + (b'\0' if frame == b'z' else b'\n'))
        res(lines_ok(got, term),
            '%s%s of 3 EICAR files with control characters in their names -> 3 FOUND lines, escaped' %
            (frame.decode() or 'bare ', cmd.decode()), got)
got = ask(b'zIDSESSION\0' + b''.join(b'zSCAN ' + d.encode() + b'/' + n.encode() + b'\0'
                                     for n in names) + b'zEND\0')
parts = got.split(b'\0')
byid = {p.split(b': ', 1)[0]: p for p in parts[:-1]}   # any order
ok = len(parts) == 4 and parts[3] == b'' and all(
    re.fullmatch(b'%d: ' % (i + 1) + re.escape(d.encode() + b'/' + shown[i]) + rb': ' + FOUND,
                 byid.get(b'%d' % (i + 1), b'')) is not None for i in range(3))
res(ok, 'IDSESSION: zSCAN of each -> "N: <name escaped>: FOUND", ids kept', got)
bad = d + '/gone\n' + d + '/x: OK'
for frame, term in ((b'z', b'\0'),):
    got = ask(frame + b'SCAN ' + bad.encode() + b'\0')
    res(re.fullmatch(re.escape((d + '/gone\\n' + d + '/x: OK').encode()) + rb': [^\n\0]+ ERROR\0', got) is not None,
        'zSCAN of a missing path with a newline -> one ERROR reply, the newline as \\n', got)
for n in names:
    os.unlink(d + '/' + n)

# after all that, EICAR by path and by a readable descriptor: still FOUND
got = ask(b'zSCAN ' + EICAR.encode() + b'\0')
res(re.fullmatch(re.escape(EICAR.encode()) + rb': ' + FOUND + rb'\0', got) is not None,
    'SCAN of EICAR afterwards -> FOUND (no clean verdict was cached)', got)
fd = os.open(EICAR, os.O_RDONLY)
got = fildes(fd)
os.close(fd)
res(re.fullmatch(rb'fd\[[0-9]+\]: ' + FOUND + rb'\0', got) is not None,
    'FILDES O_RDONLY of EICAR afterwards -> FOUND', got)
res(ask(b'zPING\0') == b'PONG\0', 'PING -> PONG')
EOF

python3 "$T_TMP/fildes.py" >"$T_TMP/fildes.out" 2>&1
while IFS=$'\t' read -r st what detail; do
	case $st in
	ok) ok "$what" ;;
	FAIL) not_ok "$what: ${detail:-}" ;;
	*) not_ok "client: $st $what ${detail:-}" ;;
	esac
done <"$T_TMP/fildes.out"
# the same attack by the unprivileged user, on a root-only EICAR file in a
# directory it may search: refused, and root's scans still find it after
install -d -m 755 "$T_TMP/files/secret"
install -m 600 "$FILES/eicar.txt" "$T_TMP/files/secret/eicar.txt"
cat >"$T_TMP/opath.py" <<'EOF'
import os, socket, sys
sock, path = sys.argv[1:]
for rnd in (1, 2):
    fd = os.open(path, os.O_PATH)
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(sock)
    s.sendall(b'zFILDES\0')
    socket.send_fds(s, [b'x'], [fd])
    got = b''
    while True:
        b = s.recv(4096)
        if not b:
            break
        got += b
    os.close(fd)
    print(got.decode(errors='replace').rstrip('\0'))
EOF
out=$(timeout 60 setpriv --reuid "$CU" --regid "$CU" --init-groups \
	/usr/bin/python3 "$T_TMP/opath.py" "$SOCK" "$T_TMP/files/secret/eicar.txt" 2>&1)
check "unprivileged FILDES of an O_PATH descriptor of a root-only EICAR, twice: refused, never OK ($out)" \
	test "$(grep -c 'Descriptor not open for reading ERROR' <<<"$out")" = 2
out=$(dl_ctl scan "$T_TMP/files/secret/eicar.txt" 2>&1)
check "root's ampctl scan of that file afterwards: FOUND ($out)" grep -q 'FOUND' <<<"$out"
out=$(printf 'zSCAN %s\0' "$T_TMP/files/secret/eicar.txt" | timeout 60 /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read())
print(s.recv(4096).decode(errors="replace"))' "$SOCK")
check "root's zSCAN of that file afterwards: FOUND ($out)" grep -q 'FOUND' <<<"$out"
check "the client ran its checks (18 or more lines)" test "$(grep -c '' "$T_TMP/fildes.out")" -ge 18
check "ampdaemon.log: no worker was handed any of them (no scan of fd ERROR in the workers)" \
	bash -c "! grep -q 'Descriptor not open\\|Not scanned' '$DL_SVCLOG'"
dl_stop_checked
finish
