#!/usr/bin/env python3
"""ampdaemon against clamd on a main.cvd-sized set, for `tools/bench scale`.

    scale.py --workdir DIR --ampdaemon P --ampctl P --clamd P --pub KEY
             --amp-v1 CVD --amp-v2 CVD --clamd-v1 CUD --clamd-v2 CUD
             --list FILES --probe FILE --marker FILE [options]

One server at a time, each started afresh in DIR (clamd; ampdaemon with
WorkerLaunch loader; ampdaemon with WorkerLaunch exec), Engine clamav,
Workers = MaxThreads = --workers:

  serving   from the start (just before the exec) to the first FILDES of
            --probe answered OK (polled every 100 ms on new connections);
            ampdaemon also to all its workers READY
  memory    at serving and after the scans: clamd's VmRSS and Pss; the
            pool's Pss (ampdaemon + its ampscansvc children, each from
            /proc/PID/smaps_rollup, read as root) and VmRSS summed, and
            `ampctl status --json`'s memory object
  scans     clamdscan --multiscan --fdpass -f --list, twice (the second
            pass meets ampdaemon's clean-file cache and libclamav's);
            the outputs are kept for verdicts.py (not in exec mode)
  respawn   (ampdaemon) SIGKILL of worker slot 1 when READY, --kills
            times (--exec-kills in exec mode): from just before the kill
            to the worker_ready event of its replacement (event times,
            ms); the parts: kill -> worker_started (ampdaemon reaps,
            backoff, asks for a worker; the event's time is taken before
            the spawn), the event's start_ms (spawn -> READY: fork or
            exec, then load (exec only), sandbox, canaries, READY), and
            in loader mode the replacement's first log line, written by
            the forked child once its fds are in place (ampscansvc.log's
            time stamp): spawn -> that line is the FORK round trip and
            the clone, that line -> READY its sandbox and canaries
  update    ampdaemon: `ampctl update --amp-v2` timed to its answer (new
            workers READY), then --marker (a file only v2 detects) must
            be FOUND; clamd: --clamd-v2 renamed over its container
            (untimed), zRELOAD, then FILDES of --marker every 100 ms until
            FOUND.  Peak VmRSS and Pss of the server's process tree
            sampled every 200 ms meanwhile (and clamd's VmHWM, reset
            before)

Prints JSON.  Everything it starts is stopped on exit, error or signal.
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


class Fail(Exception):
    pass


def on_signal(signum, frame):
    raise Fail("interrupted by signal %d" % signum)


def now_ms():
    return time.time() * 1000.0


def pct(v, p):
    v = sorted(v)
    if not v:
        return None
    k = max(1, -(-len(v) * p // 100))
    return v[int(k) - 1]


def r1(x):
    return None if x is None else round(x, 1)


def ev_ms(s):
    t = datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return t.timestamp() * 1000.0


# ---- the clamd protocol ---------------------------------------------------------

def fildes(path, file, timeout=30.0):
    """One FILDES of file: the reply, or None."""
    fd = os.open(file, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(path)
            s.sendall(b"zFILDES\0")
            s.sendmsg([b"\0"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])
            buf = b""
            while not buf.endswith(b"\0"):
                b = s.recv(4096)
                if not b:
                    break
                buf += b
        return buf.rstrip(b"\0").decode("utf-8", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)


def command(path, cmd, timeout=30.0):
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


def wait_serving(sock, probe, t0, limit_s, alive):
    """ms from t0 to the first FILDES of probe answered OK."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if not alive():
            raise Fail("the server exited before serving")
        if os.path.exists(sock):
            r = fildes(sock, probe, timeout=limit_s)
            if r is not None and r.endswith(": OK"):
                return now_ms() - t0
        time.sleep(0.1)
    raise Fail("not serving within %d s" % limit_s)


# ---- processes and memory --------------------------------------------------------

def read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return None


def descendants(root):
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        st = read("/proc/%s/stat" % d)
        if st is None:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def status_kb(pid, field):
    s = read("/proc/%d/status" % pid) or ""
    m = re.search(r"^%s:\s+(\d+)" % field, s, re.M)
    return int(m.group(1)) if m else 0


def pss_kb(pid):
    s = read("/proc/%d/smaps_rollup" % pid) or ""
    m = re.search(r"^Pss:\s+(\d+)", s, re.M)
    return int(m.group(1)) if m else 0


def comm(pid):
    return (read("/proc/%d/comm" % pid) or "").strip()


def tree_mem(root, only_svc=False):
    """(VmRSS kB, Pss kB, processes) over root and its descendants."""
    rss = pss = n = 0
    for p in descendants(root):
        if only_svc and p != root and comm(p) != "ampscansvc":
            continue
        rss += status_kb(p, "VmRSS")
        pss += pss_kb(p)
        n += 1
    return rss, pss, n


class Sampler(threading.Thread):
    """The peak VmRSS and Pss sums of a process tree, every interval."""

    def __init__(self, root, interval=0.2):
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.stop = threading.Event()
        self.peak_rss = self.peak_pss = 0
        self.samples = 0

    def run(self):
        while not self.stop.is_set():
            rss, pss, _ = tree_mem(self.root)
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_pss = max(self.peak_pss, pss)
            self.samples += 1
            self.stop.wait(self.interval)

    def done(self):
        self.stop.set()
        self.join()
        return {"peak_rss_kb": self.peak_rss, "peak_pss_kb": self.peak_pss, "samples": self.samples}


def kill_wait(pid, sig, secs):
    try:
        os.kill(pid, sig)
    except OSError:
        return True
    end = time.monotonic() + secs
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except OSError:
            return True
        time.sleep(0.05)
    return False


# ---- scans -----------------------------------------------------------------------

def scan_pass(conf, lst, out):
    t0 = time.monotonic()
    with open(out, "w") as o, open(out + ".err", "w") as e:
        rc = subprocess.run(["clamdscan", "-c", conf, "--multiscan", "--fdpass", "--no-summary",
                             "-f", lst], stdout=o, stderr=e).returncode
    ms = (time.monotonic() - t0) * 1000.0
    if rc > 2:
        raise Fail("clamdscan -c %s exited %d (see %s.err)" % (conf, rc, out))
    found = sum(1 for line in open(out, errors="replace") if line.endswith(" FOUND\n"))
    return {"ms": r1(ms), "rc": rc, "found": found, "out": out}


# ---- clamd -----------------------------------------------------------------------

class Clamd:
    def __init__(self, a):
        self.a = a
        self.dir = os.path.join(a.workdir, "clamd")
        self.sock = os.path.join(self.dir, "clamd.sock")
        self.conf = os.path.join(self.dir, "clamd.conf")
        self.proc = None

    def setup(self):
        db = os.path.join(self.dir, "db")
        os.makedirs(db, exist_ok=True)
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        shutil.copyfile(self.a.clamd_v1, os.path.join(db, "main.cud"))
        with open(self.conf, "w") as f:
            f.write("# tools/bench scale: a private clamd, never the system's\n"
                    "Foreground yes\nLocalSocket %s\nDatabaseDirectory %s\nLogFile %s/clamd.log\n"
                    "LogTime yes\nPidFile %s/clamd.pid\nTemporaryDirectory %s/tmp\nUser root\n"
                    "MaxThreads %d\nSelfCheck 0\n" % (self.sock, db, self.dir, self.dir, self.dir,
                                                     self.a.workers))

    def start(self):
        out = open(os.path.join(self.dir, "clamd.out"), "w")
        t0 = now_ms()
        self.proc = subprocess.Popen(["setpriv", "--pdeathsig", "KILL", self.a.clamd, "-c", self.conf],
                                     stdout=out, stderr=subprocess.STDOUT)
        with open(os.path.join(self.a.workdir, "clamd.child"), "w") as f:
            f.write("%d\n" % self.proc.pid)
        return t0

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.alive():
            if not kill_wait(self.proc.pid, signal.SIGTERM, 10):
                kill_wait(self.proc.pid, signal.SIGKILL, 5)
            self.proc.wait()

    def mem(self):
        p = self.proc.pid
        return {"rss_kb": status_kb(p, "VmRSS"), "pss_kb": pss_kb(p), "hwm_kb": status_kb(p, "VmHWM")}

    def run(self, full=True):
        a, r = self.a, {}
        self.setup()
        t0 = self.start()
        r["serving_ms"] = r1(wait_serving(self.sock, a.probe, t0, a.limit, self.alive))
        r["mem_serving"] = self.mem()
        r["pass1"] = scan_pass(self.conf, a.list, os.path.join(a.workdir, "out-clamd-1.txt"))
        r["pass2"] = scan_pass(self.conf, a.list, os.path.join(a.workdir, "out-clamd-2.txt"))
        r["mem_scanned"] = self.mem()
        r["version_before"] = command(self.sock, b"VERSION")
        r["update"] = self.update()
        r["version_after"] = command(self.sock, b"VERSION")
        self.stop()
        return r

    def update(self):
        a = self.a
        db = os.path.join(self.dir, "db")
        tmp = os.path.join(db, ".main.cud.new")
        shutil.copyfile(a.clamd_v2, tmp)
        os.rename(tmp, os.path.join(db, "main.cud"))
        before = fildes(self.sock, a.marker)
        if before is None or "FOUND" in before:
            raise Fail("clamd: the marker before the update: %r" % before)
        try:
            with open("/proc/%d/clear_refs" % self.proc.pid, "w") as f:
                f.write("5")
        except OSError:
            pass
        s = Sampler(self.proc.pid)
        s.start()
        t0 = now_ms()
        reply = command(self.sock, b"RELOAD")
        deadline = time.monotonic() + a.limit
        found = None
        while time.monotonic() < deadline and self.alive():
            r = fildes(self.sock, a.marker, timeout=a.limit)
            if r is not None and r.endswith(" FOUND"):
                found = now_ms() - t0
                break
            time.sleep(0.1)
        peak = s.done()
        if found is None:
            raise Fail("clamd: the marker not FOUND within %d s of RELOAD" % a.limit)
        peak["hwm_kb"] = status_kb(self.proc.pid, "VmHWM")
        return {"ms": r1(found), "reply": reply, "mem": peak, "mem_after": self.mem()}


# ---- ampdaemon -------------------------------------------------------------------

class Amp:
    def __init__(self, a, launch, spares=0):
        self.a, self.launch, self.spares = a, launch, spares
        self.name = launch if spares == 0 else "%s-spare" % launch
        self.dir = os.path.join(a.workdir, "amp-" + self.name)
        self.sock = os.path.join(self.dir, "clamd.sock")
        self.ctl = os.path.join(self.dir, "control.sock")
        self.conf = os.path.join(self.dir, "ampdaemon.conf")
        self.cconf = os.path.join(self.dir, "clamdscan.conf")
        self.pid = None

    def setup(self):
        d, a = self.dir, self.a
        for sub in ("defs/active", "scratch", "state", "log"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        os.chmod(os.path.join(d, "state"), 0o700)
        shutil.copyfile(a.amp_v1, os.path.join(d, "defs/active/main.cvd"))
        for extra in a.amp_extra:
            shutil.copyfile(extra, os.path.join(d, "defs/active", os.path.basename(extra)))
        with open(self.conf, "w") as f:
            f.write("ScanUser %s\nScanGroup %s\nCreateScanUser yes\nWorkers %d\nEngine clamav\n"
                    "WorkerLaunch %s\nDefinitionsDir %s/defs\nStateDir %s/state\nLogDir %s/log\n"
                    "LocalSocket %s\nControlSocket %s\nTrustedKeys %s\nScratchDir %s/scratch\n"
                    "ReadyTimeout %ds\nLoadTimeout %ds\nTrialTimeout %ds\nWorkerMemoryLimit 0\n"
                    "RestartDelayMin 1ms\nRestartDelayMax 1ms\nCrashThreshold 1000\nStableAfter 1s\n"
                    % (a.user, a.user, a.workers, self.launch, d, d, d, self.sock, self.ctl, a.pub,
                       d, a.limit, a.limit, a.limit))
            if self.launch == "loader":
                f.write("SpareWorkers %d\n" % self.spares)
            # BENCH_SCALE_CONF: more lines for ampdaemon.conf (tools/bench)
            for line in os.environ.get("BENCH_SCALE_CONF", "").split(";"):
                if line.strip():
                    f.write(line.strip() + "\n")
        os.chmod(self.conf, 0o600)
        with open(self.cconf, "w") as f:
            f.write("LocalSocket %s\n" % self.sock)

    def ctl_run(self, *args, timeout=60):
        return subprocess.run([self.a.ampctl, "--socket", self.ctl] + list(args),
                              capture_output=True, text=True, timeout=timeout)

    def status(self):
        try:
            r = self.ctl_run("status", "--json")
            return json.loads(r.stdout) if r.returncode == 0 else None
        except (ValueError, subprocess.TimeoutExpired, OSError):
            return None

    def ready(self, st):
        return [w for w in (st or {}).get("workers", []) if w["state"] == "ready"]

    def alive(self):
        try:
            os.kill(self.pid, 0)
            return True
        except OSError:
            return False

    def start(self):
        t0 = now_ms()
        r = subprocess.run([self.a.ampdaemon, "--config", self.conf], capture_output=True, text=True)
        if r.returncode != 0:
            raise Fail("ampdaemon (%s) did not start: %s %s" % (self.launch, r.stdout, r.stderr))
        self.pid = int(open(os.path.join(self.dir, "state/ampdaemon.pid")).read().split()[0])
        return t0

    def stop(self):
        if self.pid is None or not self.alive():
            return
        kids = [p for p in descendants(self.pid) if p != self.pid]
        if not kill_wait(self.pid, signal.SIGTERM, 15):
            kill_wait(self.pid, signal.SIGKILL, 5)
        for k in kids:
            if comm(k) == "ampscansvc":
                kill_wait(k, signal.SIGKILL, 2)

    def wait_all_ready(self, t0):
        deadline = time.monotonic() + self.a.limit
        while time.monotonic() < deadline:
            if not self.alive():
                raise Fail("ampdaemon (%s) exited (see %s/log)" % (self.launch, self.dir))
            if len(self.ready(self.status())) == self.a.workers:
                return now_ms() - t0
            time.sleep(0.1)
        raise Fail("ampdaemon (%s): the workers not READY within %d s" % (self.launch, self.a.limit))

    def mem(self):
        rss, pss, n = tree_mem(self.pid, only_svc=True)
        st = self.status() or {}
        return {"rss_kb": rss, "pss_kb": pss, "processes": n, "status": st.get("memory"),
                "loader": st.get("loader")}

    def settle_mem(self):
        """The pool's memory once every process reported (5 s poll) or 12 s."""
        end = time.monotonic() + 12
        while time.monotonic() < end:
            st = self.status() or {}
            m = st.get("memory") or {}
            if m.get("unreported", 1) == 0:
                break
            time.sleep(0.5)
        return self.mem()

    def run(self, full):
        a, r = self.a, {"launch": self.launch, "spares": self.spares}
        self.setup()
        t0 = self.start()
        r["serving_ms"] = r1(wait_serving(self.sock, a.probe, t0, a.limit, self.alive))
        r["all_ready_ms"] = r1(self.wait_all_ready(t0))
        r["mem_serving"] = self.settle_mem()
        if full:
            r["pass1"] = scan_pass(self.cconf, a.list, os.path.join(a.workdir, "out-%s-1.txt" % self.launch))
            r["pass2"] = scan_pass(self.cconf, a.list, os.path.join(a.workdir, "out-%s-2.txt" % self.launch))
            r["mem_scanned"] = self.settle_mem()
        r["respawn"] = self.respawn(a.kills if full or self.launch == "loader" else a.exec_kills)
        if full:
            r["update"] = self.update()
            r["mem_updated"] = self.settle_mem()
        self.stop()
        return r

    def fork_lines(self, since):
        """(time ms, pid) of each 'worker forked from the loader' line in ampscansvc.log."""
        out = []
        path = os.path.join(self.dir, "log/ampscansvc.log")
        for line in (read(path) or "").splitlines():
            if "worker forked from the loader" not in line:
                continue
            m = re.match(r"^(\S+Z)\s.*?pid[ =]?(\d+)", line)
            m2 = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z)", line)
            if not m2:
                continue
            t = ev_ms(m2.group(1))
            if t + 1 < since:
                continue
            pids = [int(x) for x in re.findall(r"\b(\d+)\b", line[len(m2.group(1)):])]
            out.append((t, pids, line))
        return out

    def respawn(self, kills):
        import queue
        a = self.a
        follow = subprocess.Popen([a.ampctl, "--socket", self.ctl, "events", "--follow", "-n", "0",
                                   "--json"], stdout=subprocess.PIPE, text=True)
        q = queue.Queue()

        def reader():
            for line in follow.stdout:
                try:
                    q.put(json.loads(line))
                except ValueError:
                    pass
        threading.Thread(target=reader, daemon=True).start()
        time.sleep(0.3)
        recs = []
        t_first = now_ms()
        try:
            for i in range(kills):
                st = self.status()
                w = [x for x in (st or {}).get("workers", []) if x["slot"] == 1]
                if not w or w[0]["state"] != "ready":
                    raise Fail("respawn: worker 1 is not ready (%s)" % (w[0]["state"] if w else "absent"))
                old = w[0]["pid"]
                t0 = now_ms()
                os.kill(old, signal.SIGKILL)
                deadline = time.monotonic() + a.limit
                rec = {"old": old}
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise Fail("respawn: no replacement READY within %d s (kill %d)" % (a.limit, i + 1))
                    try:
                        ev = q.get(timeout=left)
                    except queue.Empty:
                        continue
                    if ev.get("worker") != 1 or ev.get("pid") == old or ev.get("loader"):
                        continue
                    if ev.get("event") == "worker_started":
                        rec["started"] = ev_ms(ev["time"]) - t0
                        rec["pid"] = ev.get("pid")
                    elif ev.get("event") == "worker_ready":
                        rec["ready"] = ev_ms(ev["time"]) - t0
                        rec["spare"] = bool(ev.get("spare"))
                        rec["start_ms"] = ev.get("start_ms")
                        rec["pid"] = ev.get("pid")
                        break
                rec["t_kill"] = t0
                recs.append(rec)
                time.sleep(0.2)   # the new worker settles; its MEM report goes out
        finally:
            follow.terminate()
        # the forked child's first log line, by its pid
        if self.launch == "loader":
            lines = self.fork_lines(t_first)
            for rec in recs:
                for t, pids, line in lines:
                    if rec.get("pid") in pids or (t >= rec["t_kill"] and t - rec["t_kill"] < rec["ready"] + 1):
                        if "started" in rec:
                            rec["child_line"] = t - rec["t_kill"]
                        break
        ready = [x["ready"] for x in recs]
        out = {"kills": len(recs), "by_spare": sum(1 for x in recs if x.get("spare")),
               "p50_ms": r1(statistics.median(ready)), "p99_ms": r1(pct(ready, 99)),
               "min_ms": r1(min(ready)), "max_ms": r1(max(ready)),
               "times_ms": [r1(x) for x in ready]}
        started = [x["started"] for x in recs if "started" in x]
        if started:
            out["kill_to_spawn_p50_ms"] = r1(statistics.median(started))
        sm = [x["start_ms"] for x in recs if x.get("start_ms") is not None]
        if sm:
            out["spawn_to_ready_p50_ms"] = r1(statistics.median(sm))
            out["spawn_to_ready_p99_ms"] = r1(pct(sm, 99))
        cl = [(x["child_line"] - x["started"], x["ready"] - x["child_line"]) for x in recs
              if "child_line" in x and "started" in x]
        if cl:
            out["spawn_to_child_p50_ms"] = r1(statistics.median(c[0] for c in cl))
            out["child_to_ready_p50_ms"] = r1(statistics.median(c[1] for c in cl))
            out["child_lines"] = len(cl)
        return out

    def update(self):
        a = self.a
        before = fildes(self.sock, a.marker)
        if before is None or "FOUND" in before:
            raise Fail("ampdaemon: the marker before the update: %r" % before)
        s = Sampler(self.pid)
        s.start()
        t0 = now_ms()
        try:
            r = self.ctl_run("update", a.amp_v2, timeout=a.limit * 3)
        except subprocess.TimeoutExpired:
            s.done()
            raise Fail("ampctl update: no answer within %d s" % (a.limit * 3))
        t_answer = now_ms() - t0
        found = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            x = fildes(self.sock, a.marker, timeout=a.limit)
            if x is not None and x.endswith(" FOUND"):
                found = now_ms() - t0
                break
            time.sleep(0.1)
        peak = s.done()
        answer = (r.stdout + r.stderr).strip()
        if r.returncode != 0:
            raise Fail("ampctl update exited %d: %s" % (r.returncode, answer))
        if found is None:
            raise Fail("ampdaemon: the marker not FOUND after the update (%s)" % answer)
        return {"ms": r1(t_answer), "marker_found_ms": r1(found), "answer": answer, "mem": peak}


def main():
    ap = argparse.ArgumentParser()
    for k in ("workdir", "ampdaemon", "ampctl", "clamd", "pub", "amp-v1", "amp-v2", "clamd-v1",
              "clamd-v2", "list", "probe", "marker"):
        ap.add_argument("--" + k, required=True)
    ap.add_argument("--amp-extra", action="append", default=[], help="another container in active/")
    ap.add_argument("--user", default="ampscan-scale")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--exec-kills", type=int, default=3)
    ap.add_argument("--limit", type=int, default=900, help="seconds any one step may take")
    ap.add_argument("--only", default="clamd,loader,loader-spare,exec")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    os.makedirs(a.workdir, exist_ok=True)
    res = {"workers": a.workers}
    servers = []
    try:
        for what in a.only.split(","):
            t = time.monotonic()
            if what == "clamd":
                srv = Clamd(a)
            elif what == "loader-spare":   # serving, memory, respawn with a spare READY
                srv = Amp(a, "loader", spares=1)
            else:
                srv = Amp(a, what)
            servers.append(srv)
            print("scale.py: %s ..." % what, file=sys.stderr, flush=True)
            res[what] = srv.run(True) if what in ("clamd", "loader") else srv.run(False)
            res[what]["wall_s"] = round(time.monotonic() - t, 1)
            print("scale.py: %s done in %.0f s" % (what, res[what]["wall_s"]), file=sys.stderr, flush=True)
    except Exception as e:   # Fail, or a bug: the servers are stopped all the same
        res["error"] = "%s: %s" % (type(e).__name__, e)
        print("scale.py: %s" % e, file=sys.stderr)
    finally:
        for srv in servers:
            try:
                srv.stop()
            except Exception as e:   # keep stopping the others
                print("scale.py: stopping: %s" % e, file=sys.stderr)
    print(json.dumps(res, indent=1))
    sys.exit(1 if "error" in res else 0)


if __name__ == "__main__":
    main()
