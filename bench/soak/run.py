#!/usr/bin/env python3
"""bench/soak: ragd under a long mixed load - is it flat?

Starts the release binary (embedded LMDB store in a scratch directory, the real
embedding model, the fake OpenAI-compatible upstream tests/e2e/fake_upstream.py
in this process), creates a namespace with a few documents and 100 sessions
(history capped at 50 messages, so the store reaches its steady size during
the warm-up), warms the caches, then runs wrk with 1,000 connections (bench/soak/mixed.lua:
cache get/put, hybrid search, gateway chat, session append/read) one minute
at a time for --minutes (default 10). After each minute it prints requests,
req/s, p50/p99 latency, errors (non-2xx answers plus socket errors) and ragd's
RSS (anonymous, mapped files) and heap in use; at the end anonymous memory start vs
end (goal: within 5%; RSS beside it also counts touched pages of the store's file),
total errors (goal: 0) and the p99 of every minute. Loopback only; stops by itself; everything it started
is stopped on exit.
Usage: bench/soak/run.py [--minutes 10] [--connections 1000] [--threads 2]
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.dirname(os.path.abspath(__file__))
RAGD = os.environ.get("RAGD_BIN", os.path.join(ROOT, "build", "ragd"))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from fake_upstream import FakeUpstream  # noqa: E402

DOCS = ["After running, knee pain often comes from the patellar tendon; rest and ice help.",
        "Boil pasta in plenty of salted water and stir in the first minute.",
        "Gluons carry the colour charge of the strong interaction between quarks.",
        "Bread rises because yeast ferments sugars and releases carbon dioxide.",
        "Freelancers file their tax return by the deadline of their country.",
        "Tide tables give the times of high and low water for a harbour.",
        "Rain on the window, a slow grey song, the afternoon hums along.",
        "asyncio runs coroutines on an event loop; await yields control."]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, body=None, timeout=120):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def wait_ready(base, proc, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError("ragd exited during start-up")
        try:
            call(base, "GET", "/health", timeout=1)
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise RuntimeError("ragd did not answer /health")


def rss_mb(pid, field="VmRSS"):
    """VmRSS (all), RssAnon (heap, stacks) or RssFile (mapped files: the LMDB
    store, the model weights) of pid in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def heap_mb(base):
    """ragd's own figure of heap bytes in allocated blocks (/metrics), in MB: flat
    while RSS grows means the allocator holds freed memory, growing means a leak."""
    with urllib.request.urlopen(base + "/metrics", timeout=60) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("ragd_heap_in_use_bytes "):
                return float(line.split()[1]) / 1048576.0
    return float("nan")


def to_ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)$", v)
    x = float(m.group(1))
    return {"us": x / 1000, "ms": x, "s": x * 1000}[m.group(2)]


def wrk(base, seconds, conns, threads):
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "-T10s",
                          "--latency", "-s", os.path.join(HERE, "mixed.lua"), base],
                         capture_output=True, text=True, check=True).stdout
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    if "99" not in lat:
        raise RuntimeError("unexpected wrk output:\n" + out)
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)
    return {"requests": reqs, "rps": reqs / seconds, "p50": to_ms(lat["50"]),
            "p99": to_ms(lat["99"]), "errors": errors, "raw": out}


def prepare(base):
    """A namespace with documents, 100 sessions, and one pass over every key set."""
    call(base, "POST", "/api/v1/namespaces", {"name": "soak"})
    docs = [{"id": f"d{i}", "text": t} for i, t in enumerate(DOCS)]
    call(base, "POST", "/api/v1/namespaces/soak/documents", {"documents": docs}, timeout=300)
    for i in range(100):
        call(base, "PUT", f"/api/v1/sessions/soak{i}", {"purpose": "soak"})
    for i in range(1000):
        urllib.request.urlopen(urllib.request.Request(
            f"{base}/api/v1/cache/soak/k{i}?ttl=3600", data=b"v" * 200, method="PUT")).read()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=60, help="seconds of load before RSS start")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory and ragd.log")
    a = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not found (Debian package wrk)")
    tmp = tempfile.mkdtemp(prefix="ragd-soak-")
    up = FakeUpstream()
    up.start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(os.path.join(tmp, "ragd.log"), "w")
    env = dict(os.environ, RAGD_SESSION_MAX_MESSAGES="50")
    proc = subprocess.Popen([RAGD, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir",
                             os.path.join(tmp, "data"), "--upstream", up.url,
                             "--log-level", "warn"], stdout=log, stderr=log, env=env)
    try:
        wait_ready(base, proc)
        prepare(base)
        wrk(base, a.warmup, a.connections, a.threads)
        rss0 = rss_mb(proc.pid)
        print(f"soak: {a.connections} connections, {a.minutes:g} min, ragd pid {proc.pid}, "
              f"RSS after set-up and {a.warmup} s warm-up: {rss0:.1f} MB")
        anon0 = rss_mb(proc.pid, "RssAnon")
        heap0 = heap_mb(base)
        print(f"{'minute':>6} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'errors':>7} {'RSS MB':>8} {'anon MB':>8} {'file MB':>8} {'heap MB':>8}")
        rows, minute = [], 0
        left = a.minutes * 60
        while left > 0 and proc.poll() is None:
            secs = int(min(60, left))
            r = wrk(base, secs, a.connections, a.threads)
            minute += 1
            r["rss"] = rss_mb(proc.pid)
            r["anon"] = rss_mb(proc.pid, "RssAnon")
            r["heap"] = heap_mb(base)
            rows.append(r)
            print(f"{minute:>6} {r['requests']:>9} {r['rps']:>8.0f} {r['p50']:>8.2f} "
                  f"{r['p99']:>8.2f} {r['errors']:>7} {r['rss']:>8.1f} {r['anon']:>8.1f} "
                  f"{rss_mb(proc.pid, 'RssFile'):>8.1f} {r['heap']:>8.1f}", flush=True)
            left -= secs
        if proc.poll() is not None:
            sys.exit(f"ragd exited with {proc.returncode} during the soak (log: {tmp}/ragd.log)")
        rss1 = rows[-1]["rss"] if rows else rss0
        errors = sum(r["errors"] for r in rows)
        drift = (rss1 - rss0) / rss0 * 100
        anon1 = rows[-1]["anon"] if rows else anon0
        adrift = (anon1 - anon0) / anon0 * 100
        # The verdict is on anonymous memory (heap, stacks): RSS also counts pages of
        # the store's file that requests touched, bounded by the file's size and
        # droppable by the kernel (docs/BENCHMARKS.md, Soak).
        print(f"anonymous memory start {anon0:.1f} MB, end {anon1:.1f} MB ({adrift:+.1f}%; goal "
              f"within 5%): {'ok' if abs(adrift) <= 5 else 'NOT FLAT'}; heap in use start "
              f"{heap0:.1f} MB, end {rows[-1]['heap'] if rows else heap0:.1f} MB")
        print(f"RSS start {rss0:.1f} MB, end {rss1:.1f} MB ({drift:+.1f}%), of which mapped "
              f"files end {rss_mb(proc.pid, 'RssFile'):.1f} MB")
        print(f"errors {errors} (goal 0): {'ok' if errors == 0 else 'ERRORS'}; "
              f"upstream calls {up.calls}")
        print("p99 per minute (ms): " + " ".join(f"{r['p99']:.1f}" for r in rows))
        if errors and rows:
            print("last wrk output:\n" + rows[-1]["raw"])
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        up.stop()
        log.close()
        if a.keep:
            print(f"kept {tmp} (ragd.log, data)")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
