#!/usr/bin/env python3
"""run.py - bench/rag: re-ranking quality and RAG query latency on Nave's Topical
Bible (World English Bible verses as documents, Nave's topics/subtopics as queries,
cited verses as relevant; built by bench/data/build.py), over HTTP against the
release binary on loopback.

Quality (nDCG@10 on a fixed sample of queries):
  hybrid          POST /api/v1/search/hybrid, limit 10 (BM25 + HNSW, weighted fusion)
  hybrid+rerank   POST /api/v1/rag/query: the same hybrid top 20 re-ranked, top 10 kept
                  (mmr off, no latency budget), once per available re-ranker:
                  - cosine fallback (no re-ranker configured: embedding cosine)
                  - the local cross-encoder at RAGD_BENCH_RERANK_MODEL_DIR if set (a real
                    one, e.g. cross-encoder/ms-marco-MiniLM-L-6-v2), else the synthetic-head
                    test model, whose quality number is meaningless (its classifier is
                    random) and is reported only to show the cost of a cross-encoder.
Latency: rag/query with re-rank of 20 candidates (max_context_items 5, MMR on, the
query embedding not cached: queries differ from the quality sample), p50/p95 end to
end over HTTP and per stage, for each re-ranker (cross-encoder in BF16, the default
where AMX exists, and FP32, also with the default 100 ms re-rank budget).
Goal (docs/BENCHMARKS.md): p95 <= 150 ms on 2 cores.

usage: .venv/bin/python bench/rag/run.py [--queries 300] [--latency 200]
The ingested corpus is kept in bench/out/rag/data between runs.
"""
import argparse
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "bench", "out", "rag")
NS = "naves"
CACHE = os.environ.get("RAGD_MODEL_CACHE", os.path.expanduser("~/.cache/ragd/models"))
TEST_CE = os.path.join(CACHE, "ragd-test-cross-encoder")


def find_data():
    cands = [os.environ.get("RAGD_BENCH_DATA", ""), os.path.join(ROOT, "bench", "data", "out")]
    for c in cands:
        if c and os.path.exists(os.path.join(c, "naves", "qrels.tsv")):
            return os.path.join(c, "naves")
    sys.exit("Nave's data not found: run `python3 bench/data/build.py --only naves` first "
             "(or set RAGD_BENCH_DATA)")


def read_jsonl(p):
    with open(p) as f:
        return [json.loads(line) for line in f if line.strip()]


def read_qrels(p):
    q = {}
    with open(p) as f:
        for line in f:
            qid, did, rel = line.rstrip("\n").split("\t")[:3]
            q.setdefault(qid, {})[did] = int(rel)
    return q


def ndcg10(ranked, rels):
    dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
    ideal = sorted(rels.values(), reverse=True)[:10]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        e = dict(os.environ, RAGD_LOG_LEVEL="warn", **env)
        self.log = open(os.path.join(OUT, "ragd.log"), "ab")
        self.proc = subprocess.Popen([os.path.join(ROOT, "build", "ragd"), "serve", "--listen",
                                      f"127.0.0.1:{self.port}", "--data-dir",
                                      os.path.join(OUT, "data")], env=e, stdout=self.log,
                                     stderr=self.log)
        deadline = time.time() + 600
        while time.time() < deadline:
            if self.proc.poll() is not None:
                sys.exit("ragd exited; see bench/out/rag/ragd.log")
            try:
                requests.get(self.url + "/health", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.2)
        sys.exit("ragd did not start")

    def post(self, path, body):
        r = requests.post(self.url + path, json=body, timeout=600)
        if r.status_code >= 300:
            sys.exit(f"{path}: {r.status_code} {r.text[:300]}")
        return r

    def stop(self):
        self.proc.terminate()
        self.proc.wait(60)
        self.log.close()


def ingest(srv, corpus):
    r = requests.get(srv.url + f"/api/v1/namespaces/{NS}", timeout=30)
    if r.status_code == 200 and r.json()["stats"]["documents"] == len(corpus):
        return 0.0
    if r.status_code == 200:
        requests.delete(srv.url + f"/api/v1/namespaces/{NS}", timeout=600)
    srv.post("/api/v1/namespaces", {"name": NS, "description": "the Bible (World English Bible)"})
    t0 = time.time()
    for i in range(0, len(corpus), 500):
        docs = [{"id": d["id"], "text": d["text"], "metadata": {"book": d["book"]}}
                for d in corpus[i:i + 500]]
        srv.post(f"/api/v1/namespaces/{NS}/documents", {"documents": docs})
        print(f"\r  ingest {min(i + 500, len(corpus))}/{len(corpus)}", end="", file=sys.stderr)
    print(file=sys.stderr)
    return time.time() - t0


def run_hybrid(srv, queries):
    return {q["id"]: [h["document_id"] for h in srv.post("/api/v1/search/hybrid", {
        "query": q["text"], "namespaces": [NS], "limit": 10}).json()["results"]] for q in queries}


def run_rerank(srv, queries):
    out = {}
    for q in queries:
        body = srv.post("/api/v1/rag/query", {
            "query": q["text"], "namespaces": [NS], "max_context_items": 10, "candidates": 20,
            "mmr": False, "rerank": {"depth": 20, "budget_ms": 0}}).json()
        out[q["id"]] = [c["provenance"]["document_id"] for c in body["context"]]
    return out


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(math.ceil(p / 100 * len(v))) - 1)]


def run_latency(srv, queries, budget_ms):
    e2e, stages = [], {k: [] for k in ("embed_ms", "search_ms", "rerank_ms", "mmr_ms", "pack_ms")}
    scored = []
    for q in queries:
        t0 = time.perf_counter()
        body = srv.post("/api/v1/rag/query", {
            "query": q["text"], "namespaces": [NS], "max_context_items": 5, "candidates": 20,
            "rerank": {"depth": 20, "budget_ms": budget_ms}}).json()
        e2e.append((time.perf_counter() - t0) * 1000)
        for k in stages:
            stages[k].append(body["timings"][k])
        scored.append(body["rerank"]["scored"])
    row = {"e2e": (pct(e2e, 50), pct(e2e, 95))}
    for k, v in stages.items():
        row[k] = (pct(v, 50), pct(v, 95))
    row["scored"] = sum(scored) / len(scored)
    return row


def evaluate(run, qrels):
    return sum(ndcg10(run.get(qid, []), qrels[qid]) for qid in run) / len(run)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--latency", type=int, default=200)
    a = ap.parse_args()
    d = find_data()
    os.makedirs(OUT, exist_ok=True)
    if not os.path.exists(os.path.join(ROOT, "build", "ragd")):
        subprocess.check_call(["make", "-C", ROOT, "build"])
    corpus = read_jsonl(os.path.join(d, "corpus.jsonl"))
    queries = read_jsonl(os.path.join(d, "queries.jsonl"))
    qrels = read_qrels(os.path.join(d, "qrels.tsv"))
    queries = [q for q in queries if q["id"] in qrels]
    step = max(1, len(queries) // (a.queries + a.latency))
    sample = queries[::step]
    qual, lat = sample[:a.queries], sample[a.queries:a.queries + a.latency]
    real_ce = os.environ.get("RAGD_BENCH_RERANK_MODEL_DIR", "")
    ce_dir = real_ce or TEST_CE
    ce_name = os.path.basename(ce_dir.rstrip("/")) + ("" if real_ce else " (synthetic head)")

    # (name, environment, latency budget of the re-rank, measure quality too)
    configs = [("cosine fallback", {}, 0, True),
               (ce_name + " bf16", {"RAGD_RERANK_MODEL_DIR": ce_dir}, 0, True),
               (ce_name + " fp32", {"RAGD_RERANK_MODEL_DIR": ce_dir,
                                    "RAGD_RERANK_PRECISION": "fp32"}, 0, False),
               (ce_name + " fp32, budget 100 ms", {"RAGD_RERANK_MODEL_DIR": ce_dir,
                                                   "RAGD_RERANK_PRECISION": "fp32"}, 100, False)]
    quality, latency = [], []
    ingest_s = None
    for name, env, budget, with_quality in configs:
        srv = Server(env)
        try:
            if ingest_s is None:
                ingest_s = ingest(srv, corpus)
                quality.append(("hybrid (no re-rank)", evaluate(run_hybrid(srv, qual), qrels)))
            if with_quality:
                quality.append(("hybrid + " + name, evaluate(run_rerank(srv, qual), qrels)))
            latency.append((name, run_latency(srv, lat, budget)))
            # the cached query embeddings would make later configs look faster
            requests.post(srv.url + "/api/v1/cache/clear", json={"prefix": "emb"}, timeout=60)
        finally:
            srv.stop()
    report(quality, latency, len(corpus), len(qual), len(lat), ingest_s, bool(real_ce))


def report(quality, latency, ndocs, nq, nl, ingest_s, real_ce):
    lines = [f"bench/rag on Nave's: {ndocs} verses, {nq} quality queries, {nl} latency queries, "
             f"{os.cpu_count()} CPUs" + (f", ingest {ingest_s:.0f} s" if ingest_s else "")]
    base = quality[0][1]
    lines.append("")
    w = max(len(n) for n, _ in quality) + 2
    lines.append(f"{'quality':{w}} {'nDCG@10':>8} {'vs hybrid':>10}")
    for name, v in quality:
        lines.append(f"{name:{w}} {v:8.4f} {v / base if base else 0:9.2f}x")
    if not real_ce:
        lines.append("(the synthetic-head cross-encoder has a random classifier: its nDCG is not "
                     "a quality figure; set RAGD_BENCH_RERANK_MODEL_DIR to a real cross-encoder)")
    lines.append("")
    lines.append("rag/query latency, re-rank of 20 candidates, ms p50/p95 (goal p95 <= 150):")
    cols = ["e2e", "embed_ms", "search_ms", "rerank_ms", "mmr_ms", "pack_ms"]
    w = max(len(n) for n, _ in latency) + 2
    lines.append(f"{'re-ranker':{w}}" + "".join(f"{c.replace('_ms', ''):>16}" for c in cols)
                 + f"{'scored':>8}")
    for name, row in latency:
        lines.append(f"{name:{w}}" + "".join(f"{row[c][0]:7.1f}/{row[c][1]:<8.1f}" for c in cols)
                     + f"{row['scored']:8.1f}")
    lines.append("(load average of the machine during the run: %.1f)" % os.getloadavg()[0])
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(OUT, "report.txt"), "w") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
