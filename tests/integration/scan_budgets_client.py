"""The unprivileged client of scan_budgets.sh (run as a test user).

  instream N MIB   N concurrent INSTREAMs of MIB MiB in 1 MiB chunks, never
                   ended: a line per stream, "held" once all was sent, or
                   "refused<TAB>reply"; then waits for stdin to close.
  sessions N       N idle IDSESSIONs, each answering a PING: "session" or
                   "refused<TAB>reply" per connection; they are kept alive
                   with PINGs until stdin closes.
  lifetime         one IDSESSION sending a PING every 0.2 s until the
                   server ends it: "ended<TAB>seconds<TAB>last reply".
  conns N          N plain connections left idle: "conns<TAB>silent<TAB>
                   refused<TAB>a refusal" after 3 s; waits for stdin.
  reloads N        N RELOADs, one connection each: "reloads<TAB>answers".
  stats            STATS: the reply, with its NULs and newlines escaped.
"""
import os, resource, select, socket, sys, threading, time

SOCK = os.environ['SOCK']
CHUNK = 1 << 20


def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(SOCK)
    return s


def read_all(s):
    got = b''
    try:
        while True:
            b = s.recv(4096)
            if not b:
                break
            got += b
    except OSError as e:
        got += ('<%s>' % type(e).__name__).encode()
    return got


def say(*f):
    # one line each: the replies' own NULs and newlines escaped
    print('\t'.join(str(x).replace('\0', '\\0').replace('\n', '\\n') for x in f),
          flush=True)


def wait_stdin():
    sys.stdin.read()


def instream(n, mib):
    data = b'\0' * CHUNK
    hdr = CHUNK.to_bytes(4, 'big')
    held = []

    def one():
        s = connect()
        try:
            s.sendall(b'zINSTREAM\0')
            for _ in range(mib):
                s.sendall(hdr + data)
        except OSError:
            say('refused', read_all(s).decode(errors='replace'))
            s.close()
            return
        # all sent: has the server answered anything (a refusal)?
        r, _, _ = select.select([s], [], [], 1.0)
        if r:
            say('refused', read_all(s).decode(errors='replace'))
            s.close()
            return
        held.append(s)
        say('held')

    ts = [threading.Thread(target=one) for _ in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wait_stdin()


def sessions(n):
    keep = []
    for _ in range(n):
        s = connect()
        try:
            s.sendall(b'zIDSESSION\0zPING\0')
            got = s.recv(4096)
        except OSError as e:
            got = ('<%s>' % type(e).__name__).encode()
        if got.endswith(b'PONG\0'):
            keep.append(s)
            say('session')
        else:
            say('refused', (got + read_all(s)).decode(errors='replace'))
            s.close()
    # kept alive with PINGs until told to stop
    stop = []
    t = threading.Thread(target=lambda: (wait_stdin(), stop.append(1)))
    t.start()
    while not stop:
        for s in keep:
            try:
                s.sendall(b'zPING\0')
                s.recv(4096)
            except OSError:
                pass
        time.sleep(0.5)


def lifetime():
    s = connect()
    t0 = time.monotonic()
    s.sendall(b'zIDSESSION\0')
    last = b''
    while time.monotonic() - t0 < 30:
        try:
            s.sendall(b'zPING\0')
        except OSError:
            pass
        r, _, _ = select.select([s], [], [], 0.2)
        if r:
            try:
                b = s.recv(4096)
            except OSError:   # reset: the server closed with PINGs unread
                b = b''
            if not b:
                say('ended', '%.2f' % (time.monotonic() - t0), last.decode(errors='replace'))
                return
            last = (last + b)[-200:]
    say('never ended', last.decode(errors='replace'))


def conns(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ss = []
    for _ in range(n):
        ss.append(connect())
    time.sleep(3)
    silent, refused, text = 0, 0, ''
    for s in ss:
        r, _, _ = select.select([s], [], [], 0)
        if r:
            refused += 1
            text = read_all(s).decode(errors='replace')
        else:
            silent += 1
    say('conns', silent, refused, text)
    wait_stdin()


def reloads(n):
    answers = []
    for _ in range(n):
        s = connect()
        s.sendall(b'zRELOAD\0')
        answers.append(read_all(s))
        s.close()
    say('reloads', sum(a == b'RELOADING\0' for a in answers))


def stats():
    s = connect()
    s.sendall(b'zSTATS\0')
    say('stats', read_all(s).decode(errors='replace'))


mode = sys.argv[1]
args = [int(a) for a in sys.argv[2:]]
{'instream': instream, 'sessions': sessions, 'lifetime': lifetime,
 'conns': conns, 'reloads': reloads, 'stats': stats}[mode](*args)
