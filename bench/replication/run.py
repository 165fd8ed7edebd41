#!/usr/bin/env python3
"""run.py - bench/replication: three ragd instances (A, B, C) on one redis-server.
A upserts --docs short synthetic documents in batches of --batch at its full rate while
B and C serve keyword searches; for every acknowledged batch a prober on B and one on C
search for the batch's last document until it comes back. Reports:

- visibility lag (A's acknowledgement -> the first search on B/C that returns the
  document) p50 / p99 / max, over HTTP on loopback;
- the writer's rate (documents/s acknowledged by A) and each follower's rate (documents
  it applied per second, from the first acknowledgement to holding every document);
- a follower's catch-up from the stream (C paused with SIGSTOP while A writes
  --catchup more documents, then resumed: time until C holds them all), and per
  document against a full rebuild's knowledge-base load;
- restart catch-up against a full rebuild, on the same data: C (which writes
  snapshots every second) is killed with SIGKILL once a snapshot covers what it
  holds, A writes --restart more documents, C is started again: time from its
  start until it holds every document (snapshot loaded, the log replayed); then C
  is killed again, its snapshots removed, and started: time until it holds every
  document rebuilt from Redis.

The embedding model runs for every upsert (all-MiniLM-L6-v2): it bounds A's rate, as it
would in production. Searches are keyword-only so the probes cost no model time.

usage: .venv/bin/python bench/replication/run.py [--docs 10000] [--batch 20] [--catchup 2000]
                                                [--restart 500]
Goal (docs/BENCHMARKS.md): p99 visibility lag <= 100 ms; restart catch-up >= 10x faster
than a rebuild.
"""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("RAGD_BIN", os.path.join(ROOT, "build", "ragd"))
WORDS = ("bench squat deadlift press row lunge curl plank dip pull push carry swing snatch "
         "clean jerk thruster burpee sprint jump hinge brace grip tempo volume").split()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_http(url, proc, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}")
        try:
            requests.get(url + "/health", timeout=0.5)
            return
        except requests.RequestException:
            time.sleep(0.02)
    raise RuntimeError("no answer from " + url)


class Instance:
    def __init__(self, name, redis_url, tmp, env=None):
        self.name, self.redis_url, self.env = name, redis_url, env or {}
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.s = requests.Session()

    def start(self):
        env = dict(os.environ, REDIS_URL=self.redis_url, RAGD_LOG_LEVEL="warn", **self.env)
        self.log = open(os.path.join(self.dir, "log"), "ab")
        self.proc = subprocess.Popen([BIN, "serve", "--listen", f"127.0.0.1:{self.port}",
                                      "--data-dir", self.dir], env=env, stdout=self.log,
                                     stderr=self.log)
        wait_http(self.url, self.proc)
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(60)

    def replication(self):
        return self.s.get(self.url + "/health", timeout=30).json()["details"]["replication"]

    def docs(self, ns):
        r = self.s.get(f"{self.url}/api/v1/namespaces/{ns}/documents?limit=1", timeout=30)
        return r.json().get("total", 0) if r.status_code == 200 else 0

    def finds(self, ns, doc_id, word):
        r = self.s.post(self.url + "/api/v1/search/hybrid", timeout=30, json={
            "query": word, "search_type": "keyword", "namespaces": [ns], "limit": 5})
        return r.status_code == 200 and any(x.get("document_id") == doc_id
                                            for x in r.json()["results"])


def text(i):
    # a word no other document has ("uNNNNNq" stays one token for BM25) makes the probe exact
    w = [WORDS[(i * 7 + k) % len(WORDS)] for k in range(12)]
    return f"u{i}q " + " ".join(w)


def write(a, ns, start, n, batch, acks):
    for at in range(start, start + n, batch):
        docs = [{"id": f"d{i}", "text": text(i)} for i in range(at, min(at + batch, start + n))]
        r = a.s.post(f"{a.url}/api/v1/namespaces/{ns}/documents", json={"documents": docs},
                     timeout=120)
        r.raise_for_status()
        acks.append((time.perf_counter(), at + len(docs) - 1))


def probe(f, ns, acks, done, out):
    seen = 0
    while not (done.is_set() and seen >= len(acks)):
        if seen >= len(acks):
            time.sleep(0.0005)
            continue
        t_ack, i = acks[-1]  # the newest acknowledged batch
        seen = len(acks)
        while not f.finds(ns, f"d{i}", f"u{i}q"):
            time.sleep(0.0005)
        out.append((time.perf_counter() - t_ack) * 1000)


def until(cond, timeout=600):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return time.perf_counter()
        time.sleep(0.005)
    raise RuntimeError("timed out")


def restart_vs_rebuild(a, c, ns, total, args):
    """Kill C once a snapshot covers what it holds, write args.restart docs on
    A, restart C (timed), then kill it, remove its snapshots, restart (timed)."""
    seen = c.replication()["snapshots_written"]
    until(lambda: c.replication()["snapshots_written"] > seen)
    c.stop(signal.SIGKILL)
    write(a, ns, total, args.restart, args.batch * 5, [])
    total += args.restart
    t = time.perf_counter()
    c.start()
    restart = until(lambda: c.docs(ns) >= total) - t
    rep = c.replication()
    rep["rebuild_load_seconds"] = 0.0
    c.stop(signal.SIGKILL)
    shutil.rmtree(os.path.join(c.dir, "kb-snapshots"))
    t = time.perf_counter()
    c.start()
    rebuild = until(lambda: c.docs(ns) >= total) - t
    rep["rebuild_load_seconds"] = c.replication()["load_seconds"]
    return restart, rebuild, rep


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--catchup", type=int, default=2000)
    ap.add_argument("--restart", type=int, default=500)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ragd-bench-repl-")
    port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no", "--dir", tmp],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    insts = []
    try:
        time.sleep(0.3)
        url = f"redis://127.0.0.1:{port}/0"
        a, b = (Instance(n, url, tmp).start() for n in "AB")
        c = Instance("C", url, tmp, {"RAGD_KB_SNAPSHOT_INTERVAL": "1"}).start()
        insts = [a, b, c]
        ns = "bench"
        a.s.post(a.url + "/api/v1/namespaces", json={"name": ns}).raise_for_status()
        until(lambda: b.docs(ns) == 0 and c.docs(ns) == 0 and
              b.s.get(f"{b.url}/api/v1/namespaces/{ns}").status_code == 200 and
              c.s.get(f"{c.url}/api/v1/namespaces/{ns}").status_code == 200)
        acks, done, lags = [], threading.Event(), {"B": [], "C": []}
        probers = [threading.Thread(target=probe, args=(f, ns, acks, done, lags[f.name]))
                   for f in (b, c)]
        for p in probers:
            p.start()
        t0 = time.perf_counter()
        write(a, ns, 0, args.docs, args.batch, acks)
        t_w = time.perf_counter() - t0
        full = {f.name: until(lambda f=f: f.docs(ns) >= args.docs) - t0 for f in (b, c)}
        done.set()
        for p in probers:
            p.join()
        print(f"documents: {args.docs} in batches of {args.batch}; three instances, one "
              f"redis-server, loopback")
        print(f"writer A: {args.docs / t_w:.0f} docs/s acknowledged ({t_w:.1f} s)")
        for f in (b, c):
            x = np.array(lags[f.name])
            print(f"follower {f.name}: visibility lag p50 {np.percentile(x, 50):.1f} ms, "
                  f"p99 {np.percentile(x, 99):.1f} ms, max {x.max():.1f} ms over {len(x)} "
                  f"batches; all {args.docs} docs held {full[f.name]:.1f} s after the first "
                  f"write ({args.docs / full[f.name]:.0f} docs/s)")
        # catch-up from the stream vs a full rebuild
        c.proc.send_signal(signal.SIGSTOP)
        write(a, ns, args.docs, args.catchup, args.batch * 5, [])
        t1 = time.perf_counter()
        c.proc.send_signal(signal.SIGCONT)
        total = args.docs + args.catchup
        catch = until(lambda: c.docs(ns) >= total) - t1
        print(f"catch-up from the stream: {args.catchup} docs missed while paused, held "
              f"{catch * 1000:.0f} ms after resuming (a follower's apply rate: "
              f"{args.catchup / catch:.0f} docs/s, against the writer's "
              f"{args.docs / t_w:.0f})")
        restart, rebuild, rep = restart_vs_rebuild(a, c, ns, total, args)
        print(f"restart catch-up: C killed (SIGKILL), {args.restart} docs written meanwhile, "
              f"holds all {total + args.restart} {restart * 1000:.0f} ms after its start "
              f"({rep['snapshots_loaded']} snapshot loaded, {rep['replayed_at_start']} log "
              f"records replayed, {rep['rebuilds_total']} rebuilt; knowledge bases loaded in "
              f"{rep['load_seconds'] * 1000:.0f} ms of it)")
        print(f"full rebuild: C killed, snapshots removed, holds all "
              f"{total + args.restart} {rebuild * 1000:.0f} ms after its start "
              f"({rebuild / restart:.1f}x the restart catch-up; knowledge bases loaded in "
              f"{rep['rebuild_load_seconds'] * 1000:.0f} ms of it, "
              f"{rep['rebuild_load_seconds'] / max(rep['load_seconds'], 1e-6):.1f}x)")
        n_all = total + args.restart
        print(f"per document: a paused follower's catch-up {catch * 1000 / args.catchup:.2f} ms "
              f"(batched apply), a full rebuild {rep['rebuild_load_seconds'] * 1000 / n_all:.2f} "
              f"ms (knowledge-base load of {n_all} documents)")
    finally:
        for i in insts:
            i.stop(signal.SIGKILL)
        redis.kill()
        redis.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
