#!/usr/bin/env python3
"""Request latency of clamd-protocol servers, for `tools/bench scan`.

    latency.py [--runs N] [--warmup N] [--file F] NAME=SOCKET...

For each server, N times each (alternating between the servers, so that a
disturbance of the machine falls on all of them alike):

  PING    connect, send "zPING\\0", read up to the NUL ("PONG\\0"), close
  FILDES  open F, connect, send "zFILDES\\0", then one byte with the open
          descriptor attached (SCM_RIGHTS), read up to the NUL
          ("fd[N]: OK\\0"), close

Timed from just before connect() to the reply's last byte (opening F is
not timed; it is opened anew for each request so that no server sees a
descriptor another has read).  --warmup rounds first, untimed.  F must
exist (a 4 KiB file of random bytes, made once by the caller).  Prints JSON:
per server and request, p50, p99, min and max in ms and the first reply.
A reply that is not "PONG" or that does not end in ": OK" (FILDES) is
counted in "bad" and the first such reply is kept.
"""
import argparse
import array
import json
import os
import socket
import statistics
import sys
import time


class Fail(Exception):
    pass


def recv_reply(s):
    buf = b""
    while not buf.endswith(b"\0"):
        b = s.recv(4096)
        if not b:
            break
        buf += b
    return buf.rstrip(b"\0").decode("utf-8", "replace")


def ping(path, _file):
    t0 = time.perf_counter_ns()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        s.sendall(b"zPING\0")
        r = recv_reply(s)
    return time.perf_counter_ns() - t0, r, r == "PONG"


def fildes(path, file):
    fd = os.open(file, os.O_RDONLY)
    try:
        t0 = time.perf_counter_ns()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(path)
            s.sendall(b"zFILDES\0")
            s.sendmsg([b"\0"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                 array.array("i", [fd]))])
            r = recv_reply(s)
        t = time.perf_counter_ns() - t0
    finally:
        os.close(fd)
    return t, r, r.startswith("fd[") and r.endswith(": OK")


def pct(v, p):
    """Nearest-rank percentile of a sorted list."""
    k = max(1, -(-len(v) * p // 100))
    return v[int(k) - 1]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--file", required=True)
    ap.add_argument("servers", nargs="+", metavar="NAME=SOCKET")
    a = ap.parse_args()
    servers = []
    for sv in a.servers:
        name, sep, path = sv.partition("=")
        if not sep:
            ap.error("want NAME=SOCKET: %s" % sv)
        servers.append((name, path))
    reqs = (("ping", ping), ("fildes", fildes))
    times = {(n, r): [] for n, _ in servers for r, _ in reqs}
    first = {}
    bad = {(n, r): 0 for n, _ in servers for r, _ in reqs}
    badreply = {}
    for i in range(a.warmup + a.runs):
        for rname, fn in reqs:
            for name, path in servers:
                try:
                    t, reply, ok = fn(path, a.file)
                except OSError as e:
                    raise Fail("%s %s: %s" % (name, rname, e))
                first.setdefault((name, rname), reply)
                if not ok:
                    bad[(name, rname)] += 1
                    badreply.setdefault((name, rname), reply)
                if i >= a.warmup:
                    times[(name, rname)].append(t / 1e6)
    out = {"runs": a.runs, "warmup": a.warmup, "file": a.file,
           "file_bytes": os.path.getsize(a.file), "servers": {}}
    for name, path in servers:
        d = out["servers"][name] = {"socket": path}
        for rname, _ in reqs:
            v = sorted(times[(name, rname)])
            d[rname] = {"p50_ms": round(pct(v, 50), 3), "p99_ms": round(pct(v, 99), 3),
                        "min_ms": round(v[0], 3), "max_ms": round(v[-1], 3),
                        "mean_ms": round(statistics.fmean(v), 3),
                        "reply": first.get((name, rname)), "bad": bad[(name, rname)],
                        "bad_reply": badreply.get((name, rname))}
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Fail as e:
        sys.stderr.write("latency.py: %s\n" % e)
        sys.exit(1)
