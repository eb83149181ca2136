#!/usr/bin/env python3
"""Worker replacement time under ampdaemon, for `tools/bench supervisor`.

    respawn.py --ampctl PATH --socket SOCK [--kills N] [--slot K]

Follows the daemon's events (`ampctl events --follow --json`), then N
times: reads the pid of worker slot K from `ampctl status --json`, kills it
with SIGKILL and waits for the worker_ready event of its replacement.  The
time of a replacement is from just before the kill to the replacement's
worker_ready event (its timestamp, written by ampdaemon, ms resolution);
the time ampdaemon took from its spawn to READY (the event's start_ms) is
reported too.  Printed as JSON: p50, p99, min, max and every time in ms.
"""
import argparse
import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone


def ev_ms(s):
    t = datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return t.timestamp() * 1000.0


def status(ampctl, sock):
    out = subprocess.run([ampctl, "--socket", sock, "status", "--json"],
                         capture_output=True, text=True, timeout=30).stdout
    return json.loads(out)


def pct(xs, p):
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ampctl", required=True)
    ap.add_argument("--socket", required=True)
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--slot", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()

    follow = subprocess.Popen([a.ampctl, "--socket", a.socket, "events", "--follow",
                               "-n", "0", "--json"], stdout=subprocess.PIPE, text=True)
    q = queue.Queue()

    def reader():
        for line in follow.stdout:
            try:
                q.put(json.loads(line))
            except ValueError:
                pass
    threading.Thread(target=reader, daemon=True).start()
    time.sleep(0.3)

    times, starts = [], []
    try:
        for i in range(a.kills):
            w = [w for w in status(a.ampctl, a.socket)["workers"] if w["slot"] == a.slot][0]
            if w["state"] != "ready":
                sys.exit(f"respawn.py: worker {a.slot} is {w['state']}, not ready")
            old = w["pid"]
            t0 = time.time() * 1000.0
            os.kill(old, signal.SIGKILL)
            deadline = time.monotonic() + a.timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    sys.exit(f"respawn.py: no replacement READY within {a.timeout} s (kill {i + 1})")
                try:
                    ev = q.get(timeout=left)
                except queue.Empty:
                    continue
                if (ev.get("event") == "worker_ready" and ev.get("worker") == a.slot
                        and ev.get("pid") != old):
                    times.append(max(0.0, ev_ms(ev["time"]) - t0))
                    starts.append(ev.get("start_ms", 0))
                    break
            time.sleep(0.05)   # let the new worker settle before the next kill
    finally:
        follow.terminate()
    print(json.dumps({
        "kills": len(times),
        "p50_ms": round(statistics.median(times), 1),
        "p99_ms": round(pct(times, 99), 1),
        "min_ms": round(min(times), 1),
        "max_ms": round(max(times), 1),
        "spawn_to_ready_p50_ms": statistics.median(starts),
        "times_ms": [round(t, 1) for t in times],
    }))


if __name__ == "__main__":
    main()
