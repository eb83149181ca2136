#!/usr/bin/env python3
"""A definitions update reaching the scanners, for `tools/bench update`.

    update.py [options] --file F --ampdaemon P --ampctl P --amp-conf CONF
              --amp-v1 CVD --amp-v2 CVD --clamd-db DIR --clamd-sock S
              --clamd-v1 CUD --clamd-v2 CUD --clamd-pid-file F -- CLAMD...

Each run, for ampdaemon and then for clamd, on a server started afresh
with version 1 of the set active and READY (both stopped afterwards):

  ampdaemon  `ampctl update V2`: timed from just before ampctl starts to
             its answer, which comes once the workers are READY on the new
             set (the old ones serve until then).  Broken down on one
             clock (CLOCK_REALTIME), in phases: stage (to the last write
             of the staged copy: the mtime of the container now in
             active/), verify (to the trial, `ampscansvc --trial`, first
             seen by the process sampler: verify, version, candidate
             set), trial (to the trial last seen), index (to the mtime
             of active/ampscan.idx: the start of the index's write, which
             is one write() of the whole image), activation (to the log's
             "rollover: starting": the index written and fsync'd, the
             journal, previous/, the renames), rollover (to "rollover: N
             worker(s) READY"), answer (to ampctl's exit).  The log's
             "update FILE: STEP" lines cannot be used: ampdaemon reads the
             pipeline child's reports when the child has exited, so they
             all carry the same time.  The trial's times are the
             sampler's (+-50 ms).
  clamd      V2 renamed over the container in its DatabaseDirectory
             (untimed), then zRELOAD; timed from just before the RELOAD to
             the first VERSION reply naming version 2 (polled every
             --poll-ms on new connections; clamd reloads in a thread and
             swaps the engine when it is loaded).

During each update, from --lead seconds before it until --lead after:

  client   a FILDES request of a 4 KiB file (--file) on a new connection,
           one started every --interval-ms (at once when the previous one
           took longer), as latency.py sends it; each one's start, end,
           reply.  Reported over the update window (requests started in
           it): count, errors (a failed connect or send, no reply, or a
           reply not ending in ": OK"), p50, p99, max latency, and the
           longest time without a completed good reply; and errors, max
           and longest time without a reply over the window and the
           --lead after it (an old engine being freed).
  sampler  every --sample-ms, the server's process tree (the pid and its
           descendants, from /proc/*/stat): the sum of VmRSS, RssAnon and
           (smaps_rollup) Pss, the processes by kind.  Reported: the peak
           sums in the window and the tree at the RSS peak.  clamd's
           VmHWM is reset (clear_refs 5) before the RELOAD and read after.
  CPU      ampdaemon: utime+stime+cutime+cstime of the daemon (the
           pipeline child and the trial, the retired workers once reaped)
           minus what the old workers had used before, plus the new
           workers'; clamd: its utime+stime.  Over the update window.

Prints JSON: per run and server the numbers above, and the medians.
The servers are stopped on error and on SIGINT/SIGTERM too.
"""
import argparse
import array
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

HZ = os.sysconf("SC_CLK_TCK")


class Fail(Exception):
    pass


def on_signal(signum, frame):
    raise Fail("interrupted by signal %d" % signum)


def pct(v, p):
    """Nearest-rank percentile of a sorted list."""
    if not v:
        return None
    k = max(1, -(-len(v) * p // 100))
    return v[int(k) - 1]


def r3(x):
    return None if x is None else round(x, 3)


# ---- the clamd protocol ------------------------------------------------------

def request(path, cmd, timeout=10.0):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(b"z" + cmd + b"\0")
        buf = b""
        while not buf.endswith(b"\0"):
            b = s.recv(4096)
            if not b:
                break
            buf += b
    return buf.rstrip(b"\0").decode("utf-8", "replace")


def version_of(reply):
    """The definitions' version in a VERSION reply ("ClamAV 1.4.6/2/..."), or None."""
    m = re.match(r"^[^/]*/(\d+)/", reply)
    return int(m.group(1)) if m else None


def fildes(path, file, timeout=10.0):
    """One FILDES request: (start, end, reply or None, error or None)."""
    fd = os.open(file, os.O_RDONLY | os.O_CLOEXEC)
    t0 = time.time()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(path)
            s.sendall(b"zFILDES\0")
            s.sendmsg([b"\0"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                 array.array("i", [fd]))])
            buf = b""
            while not buf.endswith(b"\0"):
                b = s.recv(4096)
                if not b:
                    break
                buf += b
        r = buf.rstrip(b"\0").decode("utf-8", "replace")
        return t0, time.time(), r, None
    except OSError as e:
        return t0, time.time(), None, "%s: %s" % (type(e).__name__, e)
    finally:
        os.close(fd)


class Client(threading.Thread):
    """FILDES requests paced every interval seconds until stopped."""

    def __init__(self, sock, file, interval):
        super().__init__(daemon=True)
        self.sock, self.file, self.interval = sock, file, interval
        self.stop = threading.Event()
        self.recs = []

    def run(self):
        nxt = time.monotonic()
        while not self.stop.is_set():
            self.recs.append(fildes(self.sock, self.file))
            nxt += self.interval
            d = nxt - time.monotonic()
            if d > 0:
                self.stop.wait(d)
            else:
                nxt = time.monotonic()


class VersionPoll(threading.Thread):
    """VERSION every interval seconds; the time of the first reply naming want."""

    def __init__(self, sock, want, interval):
        super().__init__(daemon=True)
        self.sock, self.want, self.interval = sock, want, interval
        self.stop = threading.Event()
        self.seen = None   # (time sent, time answered, reply)
        self.errors = 0
        self.polls = 0

    def run(self):
        while not self.stop.is_set() and self.seen is None:
            t0 = time.time()
            try:
                r = request(self.sock, b"VERSION")
                self.polls += 1
                if version_of(r) == self.want:
                    self.seen = (t0, time.time(), r)
                    return
            except OSError:
                self.errors += 1
            self.stop.wait(self.interval)


# ---- processes -----------------------------------------------------------------

def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def ppid_map():
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = read("/proc/%s/stat" % name)
        if not st:
            continue
        rest = st[st.rfind(b")") + 2:].split()
        kids.setdefault(int(rest[1]), []).append(int(name))
    return kids


def tree(root):
    kids, out, todo = ppid_map(), [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, ()))
    return out


def status_kb(pid, keys=("VmRSS", "RssAnon", "RssFile", "VmHWM")):
    st = read("/proc/%d/status" % pid)
    out = {}
    if st:
        for line in st.decode().splitlines():
            k, _, v = line.partition(":")
            if k in keys:
                out[k] = int(v.split()[0])
    return out


def pss_kb(pid):
    s = read("/proc/%d/smaps_rollup" % pid)
    if s:
        m = re.search(rb"^Pss:\s+(\d+)", s, re.M)
        if m:
            return int(m.group(1))
    return 0


def cpu_ticks(pid, children=False):
    st = read("/proc/%d/stat" % pid)
    if not st:
        return None
    f = st[st.rfind(b")") + 2:].split()
    # fields 14-17 of stat (utime stime cutime cstime) are f[11..14]
    t = int(f[11]) + int(f[12])
    if children:
        t += int(f[13]) + int(f[14])
    return t


def kind_of(pid, root):
    if pid == root:
        return "daemon"
    cmd = (read("/proc/%d/cmdline" % pid) or b"").split(b"\0")
    exe = os.path.basename(cmd[0].decode("utf-8", "replace")) if cmd and cmd[0] else "?"
    args = [a.decode("utf-8", "replace") for a in cmd[1:]]
    if exe == "ampscansvc":
        for k in ("--worker", "--trial", "--build-index", "--check"):
            if k in args:
                return k[2:]
        return "ampscansvc"
    if exe == "ampdaemon":
        return "ampdaemon-child"   # a fork: the update pipeline, the check
    return exe


class Sampler(threading.Thread):
    """The process tree of root, every interval seconds."""

    def __init__(self, root, interval):
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.stop = threading.Event()
        self.samples = []     # (t, rss, anon, pss, [(pid, kind, rss, anon, pss)])
        self.kinds = {}       # pid -> kind (cmdline read once)
        self.seen = {}        # pid -> [first seen, last seen]

    def run(self):
        while not self.stop.is_set():
            t = time.time()
            procs = []
            for p in tree(self.root):
                k = self.kinds.get(p)
                if k is None or k == "ampdaemon-child":
                    # a fork's cmdline changes when it execs: read it again
                    k = self.kinds[p] = kind_of(p, self.root)
                m = status_kb(p)
                if "VmRSS" not in m:
                    continue          # gone, or a zombie
                procs.append((p, k, m["VmRSS"], m.get("RssAnon", 0), pss_kb(p)))
                s = self.seen.setdefault(p, [t, t])
                s[1] = t
            self.samples.append((t, sum(x[2] for x in procs), sum(x[3] for x in procs),
                                 sum(x[4] for x in procs), procs))
            self.stop.wait(self.interval)

    def summary(self, t0, t1):
        win = [s for s in self.samples if t0 <= s[0] <= t1] or self.samples[-1:]
        before = [s for s in self.samples if s[0] < t0]
        after = [s for s in self.samples if s[0] > t1]
        peak = max(win, key=lambda s: s[1])
        return {
            "samples": len(win),
            "peak_rss_kb": peak[1],
            "peak_anon_kb": max(s[2] for s in win),
            "peak_pss_kb": max(s[3] for s in win),
            "peak_procs": max(len(s[4]) for s in win),
            "at_peak": [{"pid": p, "kind": k, "rss_kb": r, "anon_kb": a, "pss_kb": s}
                        for p, k, r, a, s in peak[4]],
            "before_rss_kb": before[-1][1] if before else None,
            "before_pss_kb": before[-1][3] if before else None,
            "after_rss_kb": after[-1][1] if after else None,
            "after_pss_kb": after[-1][3] if after else None,
        }

    def lifetimes(self, kind):
        """(first seen, last seen) of each process of a kind, by first sighting."""
        return sorted(tuple(v) for p, v in self.seen.items() if self.kinds.get(p) == kind)


def client_summary(recs, t0, t1, lead):
    good = lambda r: r[3] is None and r[2] and r[2].endswith(": OK")
    good_ends = sorted(r[1] for r in recs if good(r))

    def gap(a, b):
        """The longest stretch of [a, b] with no good reply completing, and its start."""
        pts = [a] + [e for e in good_ends if a < e < b] + [b]
        g = max(zip(pts, pts[1:]), key=lambda p: p[1] - p[0])
        return g[1] - g[0], g[0]

    win = [r for r in recs if t0 <= r[0] <= t1]
    lat = sorted((r[1] - r[0]) * 1000 for r in win)
    bad = [r for r in win if not good(r)]
    g, gat = gap(t0, t1)
    # the update and the lead after it (an old engine being freed, new
    # workers' first requests)
    ext = [r for r in recs if t0 <= r[0] <= t1 + lead]
    g2, g2at = gap(t0, t1 + lead)
    base = sorted((r[1] - r[0]) * 1000 for r in recs if r[0] < t0)
    return {
        "requests": len(win), "errors": len(bad),
        "first_error": (bad[0][3] or bad[0][2]) if bad else None,
        "p50_ms": r3(pct(lat, 50)), "p99_ms": r3(pct(lat, 99)),
        "max_ms": r3(lat[-1] if lat else None),
        "max_gap_ms": r3(g * 1000), "max_gap_at_ms": r3((gat - t0) * 1000),
        "after_errors": sum(1 for r in ext if not good(r)),
        "after_max_ms": r3(max((r[1] - r[0]) * 1000 for r in ext) if ext else None),
        "after_max_gap_ms": r3(g2 * 1000), "after_max_gap_at_ms": r3((g2at - t0) * 1000),
        "before_p50_ms": r3(pct(base, 50)), "before_requests": len(base),
        "first_reply": win[0][2] if win else None,
    }


def log_time(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=timezone.utc).timestamp()


def wait_for(what, fn, timeout, step=0.05, alive=None):
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if alive is not None and not alive():
            raise Fail("%s: the server exited" % what)
        if time.monotonic() > end:
            raise Fail("%s: not within %d s" % (what, timeout))
        time.sleep(step)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    st = read("/proc/%d/stat" % pid)
    return bool(st) and st[st.rfind(b")") + 2:st.rfind(b")") + 3] != b"Z"


def link_or_copy(src, dst):
    try:
        os.unlink(dst)
    except FileNotFoundError:
        pass
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


# ---- ampdaemon -------------------------------------------------------------------

class Amp:
    def __init__(self, a):
        self.a = a
        self.conf = a.amp_conf
        self.dir = os.path.dirname(self.conf)
        self.sock = os.path.join(self.dir, "clamd.sock")
        self.ctl = os.path.join(self.dir, "control.sock")
        self.pidfile = os.path.join(self.dir, "state", "ampdaemon.pid")
        self.log = os.path.join(self.dir, "log", "ampdaemon.log")
        self.pid = None
        self.kids = []

    def ampctl(self, *args, timeout=60):
        return subprocess.run([self.a.ampctl, "--socket", self.ctl] + list(args),
                              capture_output=True, text=True, timeout=timeout)

    def status(self):
        r = self.ampctl("status", "--json")
        try:
            return json.loads(r.stdout)
        except ValueError:
            return None

    def ready(self, n):
        s = self.status()
        return s is not None and sum(w["state"] == "ready" for w in s["workers"]) == n

    def start(self):
        for d in ("defs", "state", "log"):
            shutil.rmtree(os.path.join(self.dir, d), ignore_errors=True)
        os.makedirs(os.path.join(self.dir, "defs", "active"))
        link_or_copy(self.a.amp_v1, os.path.join(self.dir, "defs", "active",
                                                 os.path.basename(self.a.amp_v1)))
        r = subprocess.run([self.a.ampdaemon, "--config", self.conf],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise Fail("ampdaemon did not start (exit %d): %s (see %s)"
                       % (r.returncode, (r.stderr or r.stdout).strip(), self.log))
        self.pid = int(open(self.pidfile).read().split()[0])
        wait_for("ampdaemon's workers READY", lambda: self.ready(self.a.workers), 300,
                 0.1, lambda: pid_alive(self.pid))
        self.kids = tree(self.pid)[1:]

    def stop(self):
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        kids = set(self.kids) | set(tree(pid)[1:])
        if pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            end = time.monotonic() + 15
            while pid_alive(pid) and time.monotonic() < end:
                time.sleep(0.05)
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        for k in kids:   # workers outliving it (they should not)
            if b"ampscansvc" in (read("/proc/%d/cmdline" % k) or b""):
                try:
                    os.kill(k, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def run(self):
        a = self.a
        self.start()
        time.sleep(a.settle)
        v = version_of(request(self.sock, b"VERSION"))
        if v != a.v_old:
            raise Fail("ampdaemon: VERSION names version %s, not %d" % (v, a.v_old))
        log_off = os.path.getsize(self.log)
        samp = Sampler(self.pid, a.sample_ms / 1000)
        cli = Client(self.sock, a.file, a.interval_ms / 1000)
        samp.start()
        cli.start()
        time.sleep(a.lead)
        old = {p: cpu_ticks(p) for p in tree(self.pid)[1:]}
        old = {p: t for p, t in old.items() if t is not None}
        cpu0 = cpu_ticks(self.pid, children=True)
        vp = VersionPoll(self.sock, a.v_new, a.poll_ms / 1000)
        t0 = time.time()
        vp.start()
        r = subprocess.run([a.ampctl, "--socket", self.ctl, "update", a.amp_v2],
                           capture_output=True, text=True, timeout=a.timeout)
        t1 = time.time()
        new = [p for p in tree(self.pid)[1:] if p not in old]
        cpu1 = cpu_ticks(self.pid, children=True) - sum(old.values()) + \
            sum(cpu_ticks(p) or 0 for p in new)
        time.sleep(a.lead)
        cli.stop.set()
        vp.stop.set()
        samp.stop.set()
        for t in (cli, vp, samp):
            t.join(30)
        answer = (r.stdout + r.stderr).strip()
        if r.returncode != 0:
            raise Fail("ampctl update exited %d: %s" % (r.returncode, answer))
        if "now: %s:%d" % (a.db, a.v_new) not in answer:
            raise Fail("ampctl update: unexpected answer: %s" % answer)
        st = self.status() or {}
        on = [w.get("definitions") for w in st.get("workers", []) if w["state"] == "ready"]

        # the log, from where it was before the update
        with open(self.log, "rb") as f:
            f.seek(log_off)
            lines = f.read().decode("utf-8", "replace").splitlines()
        marks = {}
        for line in lines:
            ts = line.split(" ", 1)[0]
            for key, pat in (("queued", " definitions update "),
                             ("step_staging", ": staging"),
                             ("step_verifying", ": verifying"),
                             ("step_trial", ": trial"),
                             ("step_index", ": index"),
                             ("step_activating", ": activating"),
                             ("activated_event", '"event":"definitions_activated"'),
                             ("rollover_start", " rollover: starting "),
                             ("rollover_ready", " rollover: ")):
                if pat in line and key not in marks:
                    if key == "rollover_ready" and "READY on the new" not in line:
                        continue
                    marks[key] = log_time(ts)
        child = samp.lifetimes("ampdaemon-child")
        trial = samp.lifetimes("trial")
        ms = lambda t: r3((t - t0) * 1000) if t is not None else None

        # what the files say: the staged copy's last write (the container
        # in active/ is that copy, renamed), the index's write (one write()
        # of the image: its mtime is that write's start), the last change
        # of active/ (the activation's renames)
        def mtime(*p):
            try:
                t = os.stat(os.path.join(self.dir, "defs", *p)).st_mtime_ns / 1e9
            except OSError:
                return None
            return t if t >= t0 else None
        steps = {
            "staged_ms": ms(mtime("active", os.path.basename(a.amp_v2))),
            "pipeline_child_seen_ms": ms(child[0][0]) if child else None,
            "trial_seen_ms": ms(trial[0][0]) if trial else None,
            "trial_last_seen_ms": ms(trial[-1][1]) if trial else None,
            "index_written_ms": ms(mtime("active", "ampscan.idx")),
            "active_changed_ms": ms(mtime("active")),
            "version_new_ms": ms(vp.seen[1]) if vp.seen else None,
            "pipeline_child_last_seen_ms": ms(child[-1][1]) if child else None,
            "answer_ms": ms(t1),
        }
        steps.update({k + "_ms": ms(v) for k, v in marks.items()})

        def span(a, b):
            x, y = steps.get(a + "_ms"), steps.get(b + "_ms")
            return r3(y - x) if x is not None and y is not None else None
        # the pipeline logs each step as it starts (ampdaemon.log, ms)
        phases = {
            "stage": span("queued", "step_verifying"),
            "verify": span("step_verifying", "step_trial"),
            "trial": span("step_trial", "step_index"),
            "index": span("step_index", "step_activating"),
            "activation": span("step_activating", "rollover_start"),
            "rollover": span("rollover_start", "rollover_ready"),
            "answer": span("rollover_ready", "answer"),
        }
        return {
            "ms": (t1 - t0) * 1000, "answer": answer,
            "workers_on": on, "steps": steps, "phases": phases,
            "cpu_s": round(cpu1 - cpu0, 0) / HZ if cpu0 is not None else None,
            "client": client_summary(cli.recs, t0, t1, a.lead),
            "mem": samp.summary(t0, t1),
            "version_polls": vp.polls, "version_poll_errors": vp.errors,
        }


# ---- clamd -----------------------------------------------------------------------

class Clamd:
    def __init__(self, a):
        self.a = a
        self.db = a.clamd_db
        self.sock = a.clamd_sock
        self.proc = None

    def start(self):
        for n in os.listdir(self.db):
            os.unlink(os.path.join(self.db, n))
        link_or_copy(self.a.clamd_v1, os.path.join(self.db, os.path.basename(self.a.clamd_v1)))
        try:
            os.unlink(self.sock)
        except FileNotFoundError:
            pass
        lf = open(self.a.clamd_out, "ab")
        try:
            self.proc = subprocess.Popen(self.a.clamd, stdin=subprocess.DEVNULL,
                                         stdout=lf, stderr=lf)
        finally:
            lf.close()
        with open(self.a.clamd_pid_file, "w") as f:
            f.write("%d\n" % self.proc.pid)

        def pong():
            try:
                return request(self.sock, b"PING", timeout=300) == "PONG"
            except OSError:
                return False
        wait_for("clamd PONG", pong, 300, 0.01, lambda: self.proc.poll() is None)

    def stop(self):
        if self.proc is None:
            return
        p, self.proc = self.proc, None
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(30)
        try:
            os.unlink(self.a.clamd_pid_file)
        except FileNotFoundError:
            pass

    def run(self):
        a = self.a
        self.start()
        pid = self.proc.pid
        time.sleep(a.settle)
        v = version_of(request(self.sock, b"VERSION"))
        if v != a.v_old:
            raise Fail("clamd: VERSION names version %s, not %d" % (v, a.v_old))
        # the new container in place (untimed): renamed over the old one
        name = os.path.basename(a.clamd_v1)
        tmp = os.path.join(self.db, ".new-" + name)
        link_or_copy(a.clamd_v2, tmp)
        os.rename(tmp, os.path.join(self.db, name))
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")    # VmHWM := VmRSS
        hwm0 = status_kb(pid).get("VmHWM")
        samp = Sampler(pid, a.sample_ms / 1000)
        cli = Client(self.sock, a.file, a.interval_ms / 1000)
        samp.start()
        cli.start()
        time.sleep(a.lead)
        cpu0 = cpu_ticks(pid)
        vp = VersionPoll(self.sock, a.v_new, a.poll_ms / 1000)
        t0 = time.time()
        reply = request(self.sock, b"RELOAD")
        vp.start()
        vp.join(a.timeout)
        t1 = vp.seen[1] if vp.seen else None
        cpu1 = cpu_ticks(pid)
        hwm = status_kb(pid).get("VmHWM")
        time.sleep(a.lead)
        cli.stop.set()
        vp.stop.set()
        samp.stop.set()
        for t in (cli, vp, samp):
            t.join(30)
        if reply != "RELOADING":
            raise Fail("clamd answered %r to RELOAD" % reply)
        if t1 is None:
            raise Fail("clamd: VERSION did not name version %d within %d s"
                       % (a.v_new, a.timeout))
        if self.proc.poll() is not None:
            raise Fail("clamd exited during the reload")
        return {
            "ms": (t1 - t0) * 1000, "answer": vp.seen[2],
            "cpu_s": (cpu1 - cpu0) / HZ,
            "client": client_summary(cli.recs, t0, t1, a.lead),
            "mem": dict(samp.summary(t0, t1), vmhwm_kb=hwm, vmhwm_before_kb=hwm0),
            "version_polls": vp.polls, "version_poll_errors": vp.errors,
        }


# ---- main --------------------------------------------------------------------------

def median_of(runs, path):
    vals = []
    for r in runs:
        v = r
        for k in path:
            v = v.get(k) if isinstance(v, dict) else None
        if v is not None:
            vals.append(v)
    return r3(statistics.median(vals)) if vals else None


MEDIANS = [
    ("ms",), ("cpu_s",),
    ("client", "requests"), ("client", "errors"), ("client", "p50_ms"),
    ("client", "p99_ms"), ("client", "max_ms"), ("client", "max_gap_ms"),
    ("client", "before_p50_ms"), ("client", "after_errors"), ("client", "after_max_ms"),
    ("client", "after_max_gap_ms"),
    ("mem", "peak_rss_kb"), ("mem", "peak_anon_kb"), ("mem", "peak_pss_kb"),
    ("mem", "before_rss_kb"), ("mem", "after_rss_kb"),
    ("mem", "before_pss_kb"), ("mem", "after_pss_kb"),
    ("mem", "vmhwm_kb"), ("mem", "vmhwm_before_kb"), ("mem", "peak_procs"),
]
STEPS = ["queued_ms", "staged_ms", "pipeline_child_seen_ms", "trial_seen_ms",
         "trial_last_seen_ms", "index_written_ms", "active_changed_ms", "version_new_ms",
         "activated_event_ms", "pipeline_child_last_seen_ms", "rollover_start_ms",
         "rollover_ready_ms", "answer_ms"]
PHASES = ["stage", "verify", "trial", "index", "activation", "rollover", "answer"]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--file", required=True, help="the client's 4 KiB file")
    ap.add_argument("--interval-ms", type=float, default=5)
    ap.add_argument("--sample-ms", type=float, default=50)
    ap.add_argument("--poll-ms", type=float, default=5)
    ap.add_argument("--lead", type=float, default=0.5,
                    help="seconds of client and sampler before and after an update")
    ap.add_argument("--settle", type=float, default=1.0,
                    help="seconds between READY and the update")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--db", default="daily", help="the database's name")
    ap.add_argument("--v-old", type=int, default=1)
    ap.add_argument("--v-new", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ampdaemon", required=True)
    ap.add_argument("--ampctl", required=True)
    ap.add_argument("--amp-conf", required=True,
                    help="ampdaemon.conf, in the directory of its defs/ state/ log/ "
                         "and sockets (emptied each run)")
    ap.add_argument("--amp-v1", required=True)
    ap.add_argument("--amp-v2", required=True)
    ap.add_argument("--clamd-db", required=True, help="clamd's DatabaseDirectory (emptied)")
    ap.add_argument("--clamd-sock", required=True)
    ap.add_argument("--clamd-v1", required=True)
    ap.add_argument("--clamd-v2", required=True)
    ap.add_argument("--clamd-out", default="/dev/null")
    ap.add_argument("--clamd-pid-file", required=True)
    ap.add_argument("--only", choices=("ampdaemon", "clamd"))
    ap.add_argument("clamd", nargs="+", help="the clamd command (clamd -c CONF)")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    out = {"runs": a.runs, "interval_ms": a.interval_ms, "sample_ms": a.sample_ms,
           "poll_ms": a.poll_ms, "lead_s": a.lead, "file_bytes": os.path.getsize(a.file),
           "servers": {"ampdaemon": {"runs": []}, "clamd": {"runs": []}}}
    servers = [("ampdaemon", Amp(a)), ("clamd", Clamd(a))]
    if a.only:
        servers = [s for s in servers if s[0] == a.only]
    try:
        for i in range(a.runs):
            for name, srv in servers:
                try:
                    r = srv.run()
                finally:
                    srv.stop()
                out["servers"][name]["runs"].append(r)
                sys.stderr.write("update.py: run %d %s: %.0f ms, %d requests, %d errors, "
                                 "max %.1f ms, peak RSS %.1f MB\n"
                                 % (i + 1, name, r["ms"], r["client"]["requests"],
                                    r["client"]["errors"], r["client"]["max_ms"] or 0,
                                    r["mem"]["peak_rss_kb"] / 1024))
    except (Fail, OSError, subprocess.TimeoutExpired, KeyboardInterrupt) as e:
        sys.stderr.write("update.py: %s\n" % (e or type(e).__name__))
        return 1
    for name, d in out["servers"].items():
        runs = d["runs"]
        if not runs:
            continue
        m = d["median"] = {}
        for path in MEDIANS:
            v = median_of(runs, path)
            if v is not None:
                m["_".join(path)] = v
        if name == "ampdaemon":
            m["steps"] = {k: median_of(runs, ("steps", k)) for k in STEPS}
            m["phases"] = {k: median_of(runs, ("phases", k)) for k in PHASES}
        # the run whose time is the median's (or the next above): its tree at the peak
        mid = sorted(runs, key=lambda r: r["ms"])[len(runs) // 2]
        d["median_run_at_peak"] = mid["mem"]["at_peak"]
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
