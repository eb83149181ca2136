#!/usr/bin/env python3
"""A hostile local user against a clamd-protocol server, for `tools/bench abuse`.

    abuse.py run [options] --sock S --pid P --kind amp|clamd --user U ...
    abuse.py hostile PHASE SOCK [ARG...]      (run as U by `abuse.py run`)
    abuse.py table AMP.json CLAMD.json        the Markdown table of two runs

`run`, as root, for each phase in turn (issue 17's attacks):

  idle       nobody else (the baseline)
  contscan   CONTSCAN of a directory of 20,001 hard links to EICAR with
             ~240-character names, reading every reply; again when done
  instream   12 concurrent INSTREAMs of 90 MiB, never ended (held open)
  walks      40 concurrent CONTSCANs of a 20k-entry directory, each again
             when done
  sessions   1,030 idle IDSESSIONs, each kept alive with a PING every 5 s
  pipelined  one IDSESSION with 60 SCANs of one 64 MiB file pipelined,
             then END; again when done

the hostile client runs as U (setpriv, its own session), and --ramp-s
later root measures: --pings PINGs (connect, "zPING\\0", "PONG\\0",
close), one every --interval-ms, each with a --ping-timeout-s limit and
all of them within --window-s; then `clamdscan --fdpass` and `clamdscan
--stream` of the EICAR file (--clamdscan-conf), each within 20 s.  Then
the hostile client is killed (its process group) and the server gets
--settle-s to let go of it.

A sampler reads the server every 0.2 s from /proc: VmRSS and the sum of
its children's VmRSS (ampdaemon's workers), and the stream data it holds:
for ampdaemon the memfds among its descriptors (allocated bytes), for
clamd the files under --tmpdir (where it writes INSTREAM data).  VmHWM is
reset (clear_refs 5) at each phase's start and read at its end.

Prints JSON: per phase the PING p50, p99 and max (ms; a PING that failed
or timed out is counted in "failed" and not in the percentiles), the root
scans' exit, time and reply, the peaks, and the hostile client's last
status line.  Every hostile client's pid is appended to --pid-file before
it runs, so that the caller can kill it if this script is killed.
"""
import argparse
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time

PHASES = ("idle", "contscan", "instream", "walks", "sessions", "pipelined")
CHUNK = 1 << 20


# ---- the hostile client (runs as the unprivileged user) -----------------------

class Status:
    """Counters printed as one "status" line a second (the parent keeps the last)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.c = {}
        self.first = {}

    def add(self, key, n=1, text=None):
        with self.lock:
            self.c[key] = self.c.get(key, 0) + n
            if text is not None:
                self.first.setdefault(key, text[:160])

    def line(self):
        with self.lock:
            d = dict(self.c)
            d.update({k + "_first": v for k, v in self.first.items()})
        return json.dumps(d, sort_keys=True)


def hconnect(path, timeout=60):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def read_to_end(s, st=None):
    """Everything until EOF; with st, the replies (NULs) counted as they come."""
    got = []
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            if st is not None:
                st.add("replies", b.count(b"\0"))
            got.append(b)
    except OSError as e:
        got.append(("<%s>" % type(e).__name__).encode())
    return b"".join(got)


def text(b):
    """A reply shown on one line: NUL and newline escaped, runs of one
    character (the long names) shortened to "x{N}"."""
    b = re.sub(rb"(.)\1{9,}", lambda m: m.group(1) + b"{%d}" % len(m.group(0)), b)
    return b.replace(b"\0", b"\\0").replace(b"\n", b"\\n").decode(errors="replace")


def first_error(r):
    """The first line of r (NUL-separated replies) ending in ERROR, or None."""
    for line in r.split(b"\0"):
        if line.endswith(b" ERROR"):
            return text(line)
    return None


def h_contscan_loop(st, path, d):
    """CONTSCAN d again and again, reading every reply: rounds, FOUND lines."""
    while True:
        try:
            s = hconnect(path)
            s.sendall(b"zCONTSCAN " + d.encode() + b"\0")
            r = read_to_end(s, st)
            s.close()
        except OSError as e:
            st.add("errors", text=repr(e))
            time.sleep(0.2)
            continue
        st.add("rounds")
        st.add("found", r.count(b" FOUND\0"))
        st.add("error_lines", r.count(b" ERROR\0"), first_error(r))
        if r.endswith(b"\0") and r.rstrip(b"\0").endswith(b": OK"):
            st.add("dir_ok")


def h_instream(st, path, n, mib):
    data = b"\0" * CHUNK
    hdr = CHUNK.to_bytes(4, "big")
    held = []

    def one():
        try:
            s = hconnect(path)
        except OSError as e:
            st.add("refused", text=repr(e))
            return
        try:
            s.sendall(b"zINSTREAM\0")
            for _ in range(mib):
                s.sendall(hdr + data)
                st.add("sent_mib")
        except OSError:
            st.add("refused", text=text(read_to_end(s)))
            s.close()
            return
        r, _, _ = select.select([s], [], [], 1.0)
        if r:
            st.add("refused", text=text(read_to_end(s)))
            s.close()
            return
        held.append(s)
        st.add("held")

    ts = [threading.Thread(target=one, daemon=True) for _ in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    st.add("ready")
    while True:
        time.sleep(60)


def h_sessions(st, path, n):
    keep = []
    for _ in range(n):
        try:
            s = hconnect(path, timeout=5)
            s.sendall(b"zIDSESSION\0zPING\0")
            got = s.recv(4096)
        except OSError as e:
            st.add("refused", text=repr(e))
            continue
        if got.endswith(b"PONG\0"):
            keep.append(s)
            st.add("sessions")
        else:
            st.add("refused", text=text(got + read_to_end(s)))
            s.close()
    st.add("ready")
    while True:
        for s in keep:
            try:
                s.sendall(b"zPING\0")
                s.recv(4096)
            except OSError as e:
                st.add("ping_errors", text=repr(e))
        time.sleep(5)


def h_pipelined(st, path, f, n):
    msg = b"zIDSESSION\0" + b"".join(b"zSCAN " + f.encode() + b"\0" for _ in range(n)) + b"zEND\0"
    while True:
        try:
            s = hconnect(path, timeout=120)
            s.sendall(msg)
            r = read_to_end(s)
            s.close()
        except OSError as e:
            st.add("errors", text=repr(e))
            time.sleep(0.2)
            continue
        st.add("rounds")
        for line in r.split(b"\0"):
            if line.endswith(b" OK"):
                st.add("ok")
            elif line.endswith(b" FOUND"):
                st.add("found")
            elif line:
                st.add("other", text=text(line))


def hostile(argv):
    phase, path, args = argv[0], argv[1], argv[2:]
    st = Status()
    run = {"contscan": lambda: h_contscan_loop(st, path, args[0]),
           "instream": lambda: h_instream(st, path, int(args[0]), int(args[1])),
           "walks": lambda: [threading.Thread(target=h_contscan_loop, args=(st, path, args[1]),
                                              daemon=True).start() for _ in range(int(args[0]))],
           "sessions": lambda: h_sessions(st, path, int(args[0])),
           "pipelined": lambda: h_pipelined(st, path, args[0], int(args[1]))}[phase]
    threading.Thread(target=run, daemon=True).start()
    while True:
        time.sleep(1)
        print(st.line(), flush=True)


# ---- the measuring side (root) ---------------------------------------------------

def status_kb(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid):
    out = []
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def memfd_bytes(pid):
    """Allocated bytes of the memfds among pid's descriptors."""
    n = 0
    d = "/proc/%d/fd" % pid
    try:
        fds = os.listdir(d)
    except OSError:
        return 0
    for fd in fds:
        try:
            if os.readlink("%s/%s" % (d, fd)).startswith("/memfd:"):
                n += os.stat("%s/%s" % (d, fd)).st_blocks * 512
        except OSError:
            pass
    return n


def dir_bytes(top):
    n = 0
    for root, _, files in os.walk(top):
        for f in files:
            try:
                n += os.lstat(os.path.join(root, f)).st_blocks * 512
            except OSError:
                pass
    return n


class Sampler(threading.Thread):
    def __init__(self, a):
        super().__init__(daemon=True)
        self.a, self.stop, self.peak = a, threading.Event(), {}

    def run(self):
        a = self.a
        while not self.stop.is_set():
            rss = status_kb(a.pid, "VmRSS")
            kids = sum(status_kb(c, "VmRSS") for c in children(a.pid))
            held = memfd_bytes(a.pid) if a.kind == "amp" else dir_bytes(a.tmpdir)
            for k, v in (("rss_kb", rss), ("children_rss_kb", kids),
                         ("tree_rss_kb", rss + kids), ("stream_bytes", held)):
                self.peak[k] = max(self.peak.get(k, 0), v)
            self.stop.wait(0.2)


def ping(path, timeout):
    t0 = time.perf_counter_ns()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(path)
            s.sendall(b"zPING\0")
            buf = b""
            while not buf.endswith(b"\0"):
                b = s.recv(4096)
                if not b:
                    break
                buf += b
    except OSError as e:
        return None, repr(e)
    ms = (time.perf_counter_ns() - t0) / 1e6
    return (ms, None) if buf == b"PONG\0" else (None, text(buf))


def pct(v, p):
    """Nearest-rank percentile of a sorted list."""
    if not v:
        return None
    k = max(1, -(-len(v) * p // 100))
    return v[int(k) - 1]


def rootscan(a, how):
    t0 = time.monotonic()
    try:
        p = subprocess.run(["clamdscan", "-c", a.clamdscan_conf, "--no-summary", how, a.eicar],
                           capture_output=True, timeout=20)
        rc, out = p.returncode, (p.stdout + p.stderr).decode(errors="replace").strip()
    except subprocess.TimeoutExpired:
        rc, out = None, "timed out after 20 s"
    ms = (time.monotonic() - t0) * 1000
    return {"rc": rc, "ms": round(ms, 1), "reply": out.splitlines()[-1][:200] if out else "",
            "ok": rc == 1 and out.endswith("FOUND")}


def hostile_cmd(a, phase):
    me = a.script
    base = ["setpriv", "--reuid", a.user, "--regid", a.user, "--init-groups",
            "/usr/bin/python3", me, "hostile", phase, a.sock]
    return base + {"contscan": [a.flood], "instream": ["12", "90"],
                   "walks": ["40", a.wide], "sessions": ["1030"],
                   "pipelined": [a.big, "60"]}[phase]


def last_status(path):
    try:
        with open(path) as f:
            lines = [x for x in f.read().splitlines() if x.startswith("{")]
        return json.loads(lines[-1]) if lines else {}
    except (OSError, ValueError):
        return {}


def clear_hwm(pid):
    try:
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")
    except OSError:
        pass


def one_phase(a, phase):
    clear_hwm(a.pid)
    smp = Sampler(a)
    smp.start()
    proc = None
    out = os.path.join(a.outdir, "hostile-%s-%s.txt" % (a.kind, phase))
    t0 = time.monotonic()
    if phase != "idle":
        with open(a.pid_file, "a") as pf, open(out, "w") as fo:
            proc = subprocess.Popen(hostile_cmd(a, phase), stdout=fo, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            pf.write("%d\n" % proc.pid)
        # the ramp: until the client says it is set up, --ramp-s at most
        while time.monotonic() - t0 < a.ramp_s and "ready" not in last_status(out):
            time.sleep(0.1)
    ok, failed, first_fail = [], 0, None
    tw = time.monotonic()
    for _ in range(a.pings):
        if time.monotonic() - tw > a.window_s:
            break
        ms, err = ping(a.sock, a.ping_timeout_s)
        if ms is None:
            failed += 1
            first_fail = first_fail or err
        else:
            ok.append(ms)
        time.sleep(a.interval_ms / 1000)
    scans = {"fdpass": rootscan(a, "--fdpass"), "stream": rootscan(a, "--stream")}
    hst = last_status(out) if proc else {}
    if proc:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait()
    time.sleep(a.settle_s)
    smp.stop.set()
    smp.join()
    v = sorted(ok)
    return {"phase": phase, "seconds": round(time.monotonic() - t0, 1),
            "pings": len(v) + failed, "failed": failed, "first_failure": first_fail,
            "p50_ms": pct(v, 50), "p99_ms": pct(v, 99), "max_ms": v[-1] if v else None,
            "scans": scans, "hostile": hst, "peak": smp.peak,
            "vmhwm_kb": status_kb(a.pid, "VmHWM"), "alive": os.path.exists("/proc/%d" % a.pid)}


def fmt(v, f="%.1f"):
    return "?" if v is None else f % v


def table(amp_json, clamd_json):
    """The Markdown table of two `run` reports, phase by phase."""
    amp, cl = json.load(open(amp_json)), json.load(open(clamd_json))
    mb = lambda b: fmt(None if b is None else b / 1048576)
    print("| phase | PING p50 ms amp / clamd | PING p99 ms amp / clamd | p99 amp/clamd "
          "| PING max ms amp / clamd | PINGs failed amp / clamd "
          "| root --fdpass, --stream: amp | clamd | ampdaemon peak RSS MB (workers) "
          "| memfd MiB | clamd peak RSS MB | clamd tmp MiB |")
    print("|---|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|")
    for ph, x in amp["phases"].items():
        y = cl["phases"].get(ph, {})
        ratio = "?" if not y.get("p99_ms") or x["p99_ms"] is None else "%.2f" % (x["p99_ms"] / y["p99_ms"])
        sc = lambda r: ", ".join("%s %s ms" % ("ok" if r["scans"][k]["ok"] else "FAIL", fmt(r["scans"][k]["ms"], "%.0f"))
                                 for k in ("fdpass", "stream")) if r else "?"
        px, py = x["peak"], y.get("peak", {})
        print("| %s | %s / %s | %s / %s | %s | %s / %s | %d/%d / %s/%s | %s | %s | %s (%s) | %s | %s | %s |" % (
            ph, fmt(x["p50_ms"], "%.2f"), fmt(y.get("p50_ms"), "%.2f"),
            fmt(x["p99_ms"], "%.2f"), fmt(y.get("p99_ms"), "%.2f"), ratio,
            fmt(x["max_ms"]), fmt(y.get("max_ms")),
            x["failed"], x["pings"], y.get("failed", "?"), y.get("pings", "?"),
            sc(x), sc(y), mb(px.get("rss_kb", 0) * 1024), mb(px.get("children_rss_kb", 0) * 1024),
            mb(px.get("stream_bytes")), mb(py.get("rss_kb", 0) * 1024), mb(py.get("stream_bytes"))))
    print()
    for name, r in (("ampdaemon", amp), ("clamd", cl)):
        for ph, x in r["phases"].items():
            if x["hostile"] or x["first_failure"]:
                print("- %s, %s: hostile client: %s%s" % (
                    name, ph, json.dumps(x["hostile"], sort_keys=True)[:400],
                    "; first failed PING: %s" % x["first_failure"] if x["first_failure"] else ""))
            for k in ("fdpass", "stream"):
                if not x["scans"][k]["ok"]:
                    print("- %s, %s: root clamdscan --%s: exit %s: %s" % (
                        name, ph, k, x["scans"][k]["rc"], x["scans"][k]["reply"]))
    return 0


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "hostile":
        return hostile(sys.argv[2:])
    if len(sys.argv) == 4 and sys.argv[1] == "table":
        return table(sys.argv[2], sys.argv[3])
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cmd", choices=["run"])
    for o in ("--sock", "--kind", "--user", "--clamdscan-conf", "--eicar", "--flood",
              "--wide", "--big", "--tmpdir", "--pid-file", "--outdir", "--script"):
        ap.add_argument(o, required=o not in ("--tmpdir",), default="")
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--phases", default=",".join(PHASES))
    ap.add_argument("--pings", type=int, default=200)
    ap.add_argument("--interval-ms", type=float, default=50)
    ap.add_argument("--ping-timeout-s", type=float, default=10)
    ap.add_argument("--window-s", type=float, default=30)
    ap.add_argument("--ramp-s", type=float, default=3)
    ap.add_argument("--settle-s", type=float, default=3)
    a = ap.parse_args()
    res = {"kind": a.kind, "pings": a.pings, "interval_ms": a.interval_ms,
           "window_s": a.window_s, "ramp_s": a.ramp_s, "phases": {}}
    for phase in a.phases.split(","):
        if phase not in PHASES:
            ap.error("unknown phase %s" % phase)
        r = one_phase(a, phase)
        res["phases"][phase] = r
        sys.stderr.write("abuse.py: %s %s: p50 %s p99 %s max %s ms, failed %d, fdpass %s, stream %s, %s\n" % (
            a.kind, phase, r["p50_ms"], r["p99_ms"], r["max_ms"], r["failed"],
            r["scans"]["fdpass"]["ok"], r["scans"]["stream"]["ok"], json.dumps(r["hostile"])[:300]))
    json.dump(res, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
