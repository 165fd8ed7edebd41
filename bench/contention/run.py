#!/usr/bin/env python3
"""bench/contention: interactive latency while a large ingest runs, in one run.

One ragd (release build, embedded store) in front of the fake OpenAI-compatible
upstream (tests/e2e/fake_upstream.py in its own process). A probe client measures,
one request at a time every --interval seconds, (a) a hybrid search with a fresh
query on a small namespace, (b) /v1/embeddings of one short new text, (c) a gateway
chat call at temperature 0 with a fresh prompt (an exact-cache miss that looks up
the semantic cache, then goes upstream). Three phases:
  1. idle: probes only (--probes rounds)
  2. ingest alone: half the documents submitted to one namespace as one ingestion
     job ("wait": false, polled until it ends), no probes
  3. ingest + probes: the other half as a job into another namespace while the
     probes run
(--sync upserts the halves in synchronous batches of --batch instead.)
Prints p50/p99 of each probe idle vs during the ingest, side by side, the ingest's
chunks/s with and without the probes, and the process CPU time of ragd per phase (on
a shared machine wall time mixes in other tenants' load).
Data: bench/data/out/naves (python3 bench/data/build.py --only naves): WEB verses are
the documents, Nave's topics the fresh queries.
Usage: bench/contention/run.py [--docs 20000] [--sync --batch 250] [--interval 0.1]
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RAGD = os.environ.get("RAGD_BIN", os.path.join(ROOT, "build", "ragd"))
DATA = os.path.join(ROOT, "bench", "data", "out", "naves")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url, body=None, timeout=3600):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


def wait_http(url, timeout=90):
    end = time.time() + timeout
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError("no answer from " + url)


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] if xs else float("nan")


class Probe:
    """The interactive client: three request kinds in turn, each text new."""

    def __init__(self, base, queries):
        self.base, self.queries, self.n = base, queries, 0
        self.lat = {"search": [], "embed": [], "chat": []}

    def one_round(self):
        i = self.n
        self.n += 1
        q = f"{self.queries[i % len(self.queries)]} ({i})"
        for kind, path, body in (
            ("search", "/api/v1/search/hybrid",
             {"query": q, "namespaces": ["probe"], "search_type": "hybrid", "limit": 5}),
            ("embed", "/v1/embeddings", {"input": f"short probe text {i}",
                                         "model": "all-MiniLM-L6-v2"}),
            ("chat", "/v1/chat/completions",
             {"model": "fake-model", "temperature": 0,
              "messages": [{"role": "user", "content": f"what does scripture say on {q}?"}]}),
        ):
            t0 = time.perf_counter()
            call(self.base + path, body, timeout=600)
            self.lat[kind].append((time.perf_counter() - t0) * 1000)


def ingest(base, ns, docs, batch, sync):
    """Load docs into a new namespace: one job polled to its end, or synchronous batches.
    Returns (chunks indexed, seconds)."""
    call(base + "/api/v1/namespaces", {"name": ns})
    t0 = time.perf_counter()
    if sync:
        for i in range(0, len(docs), batch):
            call(base + f"/api/v1/namespaces/{ns}/documents", {"documents": docs[i:i + batch]})
    else:
        job = call(base + f"/api/v1/namespaces/{ns}/documents",
                   {"documents": docs, "wait": False})
        while job["status"] not in ("succeeded", "failed", "cancelled"):
            time.sleep(0.25)
            job = call(base + f"/api/v1/jobs/{job['id']}")
        if job["status"] != "succeeded" or job["documents"]["failed"]:
            raise RuntimeError(f"the ingestion job ended badly: {job}")
    secs = time.perf_counter() - t0
    return call(base + f"/api/v1/namespaces/{ns}")["stats"]["chunks"], secs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=20000, help="documents ingested (half per phase)")
    ap.add_argument("--sync", action="store_true", help="synchronous upserts, not jobs")
    ap.add_argument("--batch", type=int, default=250, help="documents per upsert (--sync)")
    ap.add_argument("--probes", type=int, default=60, help="idle probe rounds")
    ap.add_argument("--interval", type=float, default=0.1, help="seconds between probe rounds")
    args = ap.parse_args()
    if not os.path.exists(os.path.join(DATA, "corpus.jsonl")):
        sys.exit("no data: run python3 bench/data/build.py --only naves")
    with open(os.path.join(DATA, "corpus.jsonl")) as f:
        corpus = [json.loads(l) for l in f]
    with open(os.path.join(DATA, "queries.jsonl")) as f:
        queries = [json.loads(l)["text"] for l in f]
    docs = [{"id": d["id"], "text": d["text"]} for d in corpus[:args.docs]]
    probe_docs = [{"id": d["id"], "text": d["text"]} for d in corpus[-300:]]
    half = len(docs) // 2

    procs, tmp = [], tempfile.mkdtemp(prefix="ragd-bench-contention-")
    try:
        up_port = free_port()
        procs.append(subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "e2e",
                                       "fake_upstream.py"), str(up_port)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_http(f"http://127.0.0.1:{up_port}/v1/models")
        rp = free_port()
        env = dict(os.environ, RAGD_LOG_LEVEL="error",
                   RAGD_UPSTREAM_URL=f"http://127.0.0.1:{up_port}/v1")
        ragd = subprocess.Popen([RAGD, "serve", "--listen", f"127.0.0.1:{rp}", "--data-dir",
                                 os.path.join(tmp, "ragd")], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(ragd)
        base = f"http://127.0.0.1:{rp}"
        wait_http(base + "/health")
        call(base + "/api/v1/namespaces", {"name": "probe"})
        call(base + "/api/v1/namespaces/probe/documents", {"documents": probe_docs})
        details = call(base + "/health")["details"]
        sched, emb = details["scheduler"], details["embedding"]

        probe = Probe(base, queries)
        probe.one_round()  # warm-up (not counted)
        probe.lat = {k: [] for k in probe.lat}
        c0 = cpu_s(ragd.pid)
        for _ in range(args.probes):
            probe.one_round()
            time.sleep(args.interval)
        idle = probe.lat
        c1 = cpu_s(ragd.pid)
        chunks_a, secs_a = ingest(base, "ingest_a", docs[:half], args.batch, args.sync)
        c2 = cpu_s(ragd.pid)

        probe.lat = {k: [] for k in probe.lat}
        done = threading.Event()
        res = {}

        def loaded():
            res["b"] = ingest(base, "ingest_b", docs[half:], args.batch, args.sync)
            done.set()

        t = threading.Thread(target=loaded)
        t.start()
        while not done.is_set():
            probe.one_round()
            time.sleep(args.interval)
        t.join()
        c3 = cpu_s(ragd.pid)
        busy = probe.lat
        chunks_b, secs_b = res["b"]
        health = call(base + "/health")["details"]["scheduler"]

        how = f"synchronous batches of {args.batch}" if args.sync else "one job each"
        print(f"ragd contention bench: {len(docs)} Nave's/WEB verses ingested in two halves "
              f"({how}), bulk micro-batch {sched['bulk_batch_tokens']} word "
              f"pieces, {emb['precision']} ({emb['kernel']}), probes every {args.interval}s, "
              f"load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"\n{'probe':<10}{'n idle':>8}{'p50 idle':>10}{'p99 idle':>10}{'n busy':>8}"
              f"{'p50 busy':>10}{'p99 busy':>10}{'p99 ratio':>10}")
        worst = 0.0
        for k in ("search", "embed", "chat"):
            i50, i99, b50, b99 = pct(idle[k], 50), pct(idle[k], 99), pct(busy[k], 50), pct(busy[k], 99)
            worst = max(worst, b99)
            print(f"{k:<10}{len(idle[k]):>8}{i50:>10.1f}{i99:>10.1f}{len(busy[k]):>8}"
                  f"{b50:>10.1f}{b99:>10.1f}{b99 / i99:>10.2f}")
        ra, rb = chunks_a / secs_a, chunks_b / secs_b
        print(f"\ningest alone:       {chunks_a} chunks in {secs_a:.1f} s = {ra:.1f} chunks/s "
              f"(ragd CPU {c2 - c1:.1f} s)")
        print(f"ingest with probes: {chunks_b} chunks in {secs_b:.1f} s = {rb:.1f} chunks/s "
              f"(ragd CPU {c3 - c2:.1f} s) = {100 * rb / ra:.0f}% of alone")
        print(f"idle probes: ragd CPU {c1 - c0:.1f} s")
        w = {c: health[c]["mean_wait_seconds"] * 1000 for c in ("interactive", "bulk")}
        f_ = {c: health[c]["mean_forward_seconds"] * 1000 for c in ("interactive", "bulk")}
        print(f"scheduler: mean wait interactive {w['interactive']:.1f} ms, bulk {w['bulk']:.1f} ms;"
              f" mean forward pass interactive {f_['interactive']:.1f} ms, bulk {f_['bulk']:.1f} ms"
              f" ({health['bulk']['forward_passes']} bulk passes, "
              f"{health.get('preemptions', 'no')} parked for interactive work)")
        print(f"goals: busy p99 <= 100 ms and <= 3x idle p99 (worst busy p99 {worst:.1f} ms); "
              f"ingest with probes >= 90% of alone ({100 * rb / ra:.0f}%)")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
