#!/usr/bin/env python3
"""Start-to-ready time and peak RSS of a scan engine, for `tools/bench engine`.

    ready.py worker [options] -- ampscansvc --worker --defs DIR ...
    ready.py clamd  [options] --sock PATH -- clamd -c CONF

worker: each run makes a SOCK_SEQPACKET socketpair, starts the command with
its end as fd 3 (posix_spawn), and times from just before the spawn to the
arrival of the READY message (checked: magic, type, length, decoded).
clamd: each run starts the command and, every 10 ms, connects to the local
socket and sends zPING; the time is from just before the spawn to the PONG.

Then, the process still running, its /proc/PID/status VmHWM and VmRSS are
read; then it is stopped (worker: the socket is closed and it must exit 0;
clamd: SIGTERM, SIGKILL after 30 s).  One untimed warm-up run, then --runs
timed ones.  Printed as JSON: the median and every time in ms, the largest
VmHWM and VmRSS in kB, and (worker) the decoded READY.

Options:
  --runs N          timed runs (default 5)
  --warmup N        untimed runs first (default 1)
  --log FILE        the engine's stdout and stderr (default /dev/null)
  --pid-file FILE   holds the running engine's pid (for a caller's trap)
  --timeout S       give up on a run after S seconds (default 600)
  --scan-list FILE  (worker) after the last run's READY, send every file in
                    FILE (one path per line) as a SCAN request with its
                    descriptor, one at a time; report the time, the
                    verdicts and VmHWM afterwards
  --verdicts FILE   (worker, with --scan-list) write "path: OK" lines etc.
  --open-fd N=PATH  (worker) PATH (a directory) opened read-only as fd N
                    in the child: `--engine clamav --defs-dir-fd N`
  --scratch N=ROOT  (worker) a new empty directory under ROOT for each run,
                    opened as fd N in the child (`--scratch-fd N`) and
                    removed after the run

The engine is always stopped, on error and on SIGINT/SIGTERM too.
"""
import argparse
import fcntl
import json
import os
import shutil
import signal
import socket
import statistics
import struct
import sys
import tempfile
import time

WPROTO_MAGIC = 0x57504D41
WPROTO_HDR = 24
WPROTO_MAX_MSG = 65536
WPROTO_READY, WPROTO_SCAN, WPROTO_RESULT = 1, 2, 3
VERDICTS = {0: "OK", 1: "FOUND", 2: "ERROR"}


class Fail(Exception):
    pass


def on_signal(signum, frame):
    raise Fail("interrupted by signal %d" % signum)


# ---- the worker protocol (wproto.h) ------------------------------------

class Reader:
    def __init__(self, body):
        self.b, self.o = body, 0

    def take(self, n):
        if self.o + n > len(self.b):
            raise Fail("malformed message: field past the end")
        v = self.b[self.o:self.o + n]
        self.o += n
        return v

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def u64(self):
        return struct.unpack("<Q", self.take(8))[0]

    def str(self):
        n = struct.unpack("<H", self.take(2))[0]
        return self.take(n).decode("utf-8", "replace")

    def done(self):
        if self.o != len(self.b):
            raise Fail("malformed message: %d bytes left over" % (len(self.b) - self.o))


def msg_open(msg):
    if len(msg) < WPROTO_HDR:
        raise Fail("short message (%d bytes)" % len(msg))
    magic, mtype, _flags, blen, _res, mid = struct.unpack("<IHHIIQ", msg[:WPROTO_HDR])
    if magic != WPROTO_MAGIC or blen != len(msg) - WPROTO_HDR:
        raise Fail("bad message header")
    return mtype, mid, Reader(msg[WPROTO_HDR:])


def decode_ready(r):
    m = {"proto": r.u32(), "version": r.str(), "dbs": [], "types": {}}
    for _ in range(r.u32()):
        m["dbs"].append({"name": r.str(), "version": r.u32(), "kind": r.str()})
    for _ in range(r.u32()):
        t = r.str()
        m["types"][t] = {"loaded": r.u64(), "not_loaded": r.u64()}
    r.done()
    return m


def encode_scan(mid, name):
    n = name.encode("utf-8", "surrogateescape")[:4096]
    body = struct.pack("<IH", 0, len(n)) + n
    return struct.pack("<IHHIIQ", WPROTO_MAGIC, WPROTO_SCAN, 0, len(body), 0, mid) + body


def decode_result(r):
    verdict, names = r.u32(), []
    for _ in range(r.u32()):
        names.append((r.str(), r.str()))
    note = r.str()
    r.done()
    return verdict, names, note


# ---- processes ---------------------------------------------------------

def proc_mem(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem"):
                out[k] = int(v.split()[0])
    if "VmHWM" not in out or "VmRSS" not in out:
        raise Fail("no VmHWM/VmRSS in /proc/%d/status" % pid)
    return out


class Engine:
    """A started engine process; stop() is safe to call more than once."""

    def __init__(self, argv, log, pid_file, dup_to_3=None, dirs=()):
        self.pid_file = pid_file
        lf = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        acts = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, lf, 1), (os.POSIX_SPAWN_DUP2, lf, 2)]
        if dup_to_3 is not None:
            acts.append((os.POSIX_SPAWN_DUP2, dup_to_3, 3))
        # directories opened in the child at fixed numbers (not inherited
        # descriptors: a POSIX_SPAWN_OPEN leaves close-on-exec clear)
        for n, path in dirs:
            acts.append((os.POSIX_SPAWN_OPEN, n, path, os.O_RDONLY | os.O_DIRECTORY, 0))
        try:
            self.pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=acts)
        finally:
            os.close(lf)
        self.status = None
        if pid_file:
            with open(pid_file, "w") as f:
                f.write("%d\n" % self.pid)

    def poll(self):
        if self.status is None:
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(st)
        return self.status

    def wait(self, timeout):
        end = time.monotonic() + timeout
        while self.poll() is None and time.monotonic() < end:
            time.sleep(0.005)
        return self.status

    def stop(self, sig=signal.SIGTERM):
        if self.poll() is None:
            os.kill(self.pid, sig)
            if self.wait(30) is None:
                os.kill(self.pid, signal.SIGKILL)
                self.wait(30)
        if self.pid_file:
            try:
                os.unlink(self.pid_file)
            except FileNotFoundError:
                pass


def worker_run(a, scan=False):
    """One worker start; returns (ms, mem, ready[, scan stats])."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    # Not 3 itself: dup2(3, 3) would leave close-on-exec set.
    cfd = fcntl.fcntl(child.fileno(), fcntl.F_DUPFD_CLOEXEC, 10)
    child.close()
    eng = None
    dirs = list(a.open_fd)
    scratch = [(n, tempfile.mkdtemp(prefix="scratch-", dir=root)) for n, root in a.scratch]
    dirs += scratch
    try:
        t0 = time.perf_counter_ns()
        eng = Engine(a.cmd, a.log, a.pid_file, dup_to_3=cfd, dirs=dirs)
        os.close(cfd)
        cfd = -1
        parent.settimeout(a.timeout)
        msg = parent.recv(WPROTO_MAX_MSG)
        t1 = time.perf_counter_ns()
        if not msg:
            eng.wait(5)
            raise Fail("the worker closed the socket before READY (exit %s; see %s)"
                       % (eng.status, a.log))
        mtype, _mid, r = msg_open(msg)
        if mtype != WPROTO_READY:
            raise Fail("first message is type %d, not READY" % mtype)
        ready = decode_ready(r)
        mem = proc_mem(eng.pid)
        out = {"ms": (t1 - t0) / 1e6, "mem": mem, "ready": ready}
        if scan:
            out["scan"] = worker_scan(a, parent, eng)
        parent.close()
        st = eng.wait(30)
        if st != 0:
            raise Fail("the worker exited with %s after its socket closed" % st)
        return out
    finally:
        if cfd >= 0:
            os.close(cfd)
        parent.close()
        if eng:
            eng.stop(signal.SIGKILL)
        for _n, d in scratch:
            shutil.rmtree(d, ignore_errors=True)


def worker_scan(a, sock, eng):
    with open(a.scan_list, "rb") as f:
        paths = [os.fsdecode(p) for p in f.read().split(b"\n") if p]
    counts = {"OK": 0, "FOUND": 0, "ERROR": 0}
    lines, nbytes = [], 0
    sock.settimeout(a.timeout)
    t0 = time.perf_counter_ns()
    for i, p in enumerate(paths, 1):
        try:
            fd = os.open(p, os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as e:
            counts["ERROR"] += 1
            lines.append("%s: %s ERROR" % (p, e.strerror))
            continue
        try:
            nbytes += os.fstat(fd).st_size
            socket.send_fds(sock, [encode_scan(i, p)], [fd])
        finally:
            os.close(fd)
        msg = sock.recv(WPROTO_MAX_MSG)
        if not msg:
            raise Fail("the worker closed the socket during the scan (see %s)" % a.log)
        mtype, mid, r = msg_open(msg)
        if mtype != WPROTO_RESULT or mid != i:
            raise Fail("expected RESULT %d, got type %d id %d" % (i, mtype, mid))
        verdict, names, note = decode_result(r)
        v = VERDICTS.get(verdict, "ERROR")
        counts[v] += 1
        if v == "FOUND":
            lines.extend("%s: %s FOUND" % (p, n) for n, _ in names)
        elif v == "ERROR":
            lines.append("%s: %s ERROR" % (p, note))
        else:
            lines.append("%s: OK" % p)
    t1 = time.perf_counter_ns()
    mem = proc_mem(eng.pid)
    if a.verdicts:
        with open(a.verdicts, "w", errors="surrogateescape") as f:
            f.write("".join(l + "\n" for l in lines))
    return {"ms": (t1 - t0) / 1e6, "files": len(paths), "bytes": nbytes,
            "verdicts": counts, "mem": mem}


def clamd_ping(path, deadline):
    """True once clamd answers PONG; False if it cannot be reached yet."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except (FileNotFoundError, ConnectionRefusedError):
        s.close()
        return False
    try:
        # Connected: clamd may still be loading; the answer comes when it
        # reaches its accept loop.
        s.settimeout(max(0.1, deadline - time.monotonic()))
        s.sendall(b"zPING\0")
        buf = b""
        while not buf.endswith(b"\0"):
            d = s.recv(64)
            if not d:
                return False
            buf += d
        if buf != b"PONG\0":
            raise Fail("clamd answered %r to PING" % buf)
        return True
    except (ConnectionResetError, BrokenPipeError):
        return False
    finally:
        s.close()


def clamd_run(a):
    try:
        os.unlink(a.sock)
    except FileNotFoundError:
        pass
    eng = None
    try:
        t0 = time.perf_counter_ns()
        eng = Engine(a.cmd, a.log, a.pid_file)
        deadline = time.monotonic() + a.timeout
        while not clamd_ping(a.sock, deadline):
            if eng.poll() is not None:
                raise Fail("clamd exited with %s before answering PING (see %s)"
                           % (eng.status, a.log))
            if time.monotonic() > deadline:
                raise Fail("clamd did not answer PING in %d s" % a.timeout)
            time.sleep(0.010)
        t1 = time.perf_counter_ns()
        mem = proc_mem(eng.pid)
        return {"ms": (t1 - t0) / 1e6, "mem": mem}
    finally:
        if eng:
            eng.stop()


def fd_path(v):
    n, sep, path = v.partition("=")
    if not sep or not n.isdigit() or int(n) < 4 or not path:
        raise argparse.ArgumentTypeError("want N=PATH with N >= 4, not %r" % v)
    return int(n), path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kind", choices=("worker", "clamd"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--log", default="/dev/null")
    ap.add_argument("--pid-file")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--sock")
    ap.add_argument("--scan-list")
    ap.add_argument("--verdicts")
    ap.add_argument("--open-fd", type=fd_path, action="append", default=[])
    ap.add_argument("--scratch", type=fd_path, action="append", default=[])
    ap.add_argument("cmd", nargs="+")
    a = ap.parse_args()
    if a.kind == "clamd" and not a.sock:
        ap.error("clamd needs --sock")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        runs = []
        for i in range(a.warmup + a.runs):
            last = i == a.warmup + a.runs - 1
            r = worker_run(a, scan=last and bool(a.scan_list)) if a.kind == "worker" \
                else clamd_run(a)
            if i >= a.warmup:
                runs.append(r)
    except (Fail, OSError, socket.timeout, KeyboardInterrupt) as e:
        sys.stderr.write("ready.py: %s: %s\n" % (a.kind, e or type(e).__name__))
        return 1
    out = {
        "median_ms": statistics.median(r["ms"] for r in runs),
        "ms": [round(r["ms"], 2) for r in runs],
        "vmhwm_kb": max(r["mem"]["VmHWM"] for r in runs),
        "vmrss_kb": max(r["mem"]["VmRSS"] for r in runs),
        # the run with the largest VmHWM: its RSS split (anonymous, file, shm)
        "mem": max((r["mem"] for r in runs), key=lambda m: m["VmHWM"]),
    }
    if a.kind == "worker":
        out["ready"] = runs[-1]["ready"]
        if "scan" in runs[-1]:
            out["scan"] = runs[-1]["scan"]
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
