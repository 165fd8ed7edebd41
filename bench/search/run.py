#!/usr/bin/env python3
"""run.py - bench/search: hybrid search latency over HTTP on a knowledge base of
>= 100k chunks (the GCIDE dictionary, 118k entries, loaded by bench/retrieval or here),
with the query embedding excluded (each request carries its query vector, computed
beforehand through /v1/embeddings), and the start-up time of a server that has to
rebuild BM25 + HNSW for those chunks from the store.

usage: .venv-bench/bin/python bench/search/run.py [--queries 2000] [--clients 4]
Goal (docs/BENCHMARKS.md): p95 <= 10 ms.
"""
import argparse
import os
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "retrieval"))
from ragd_server import ROOT, Server, find_data, read_jsonl  # noqa: E402

DATA_DIR = os.path.join(ROOT, "bench", "out", "retrieval", "ragd-data")


def latencies(srv, bodies):
    lat, server = [], []
    for b in bodies:
        t0 = time.perf_counter()
        r = srv.post("/api/v1/search/hybrid", b)
        lat.append((time.perf_counter() - t0) * 1000)
        server.append(r["timings"]["total_ms"])
    return np.array(lat), np.array(server)


def throughput(url, bodies, clients):
    import requests
    done = [0] * clients

    def work(i):
        s = requests.Session()
        for b in bodies[i::clients]:
            s.post(url + "/api/v1/search/hybrid", json=b, timeout=60).raise_for_status()
            done[i] += 1

    th = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in th:
        t.start()
    for t in th:
        t.join()
    return sum(done) / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--ns", default="gcide", help="gcide (118k entries) or naves (31k verses)")
    args = ap.parse_args()
    NS = args.ns
    d = find_data(NS)
    srv = Server(DATA_DIR).start()
    try:
        corpus = read_jsonl(os.path.join(d, "corpus.jsonl"))
        srv.load(NS, corpus, {"chunk_size": 254, "chunk_overlap": 32})
        chunks = srv.get(f"/api/v1/namespaces/{NS}").json()["stats"]["chunks"]
        srv.stop()
        for ext in ("map", "hnsw"):  # force a rebuild from the stored vectors first
            p = os.path.join(DATA_DIR, "kb-snapshots", f"{args.ns}.{ext}")
            if os.path.exists(p):
                os.unlink(p)
        srv.start()
        rebuild = (srv.startup_s, srv.kb_load_seconds())
        srv.stop()  # a clean stop writes the HNSW snapshot
        srv.start()
        snap = (srv.startup_s, srv.kb_load_seconds())
        queries = read_jsonl(os.path.join(d, "queries.jsonl"))[:args.queries]
        vecs = []
        for at in range(0, len(queries), 512):
            r = srv.post("/v1/embeddings", {"model": "all-MiniLM-L6-v2",
                                            "input": [q["text"] for q in queries[at:at + 512]]})
            vecs += [x["embedding"] for x in r["data"]]
        rows = []
        for label, extra in [("hybrid rrf", {"fusion": "rrf"}),
                             ("hybrid weighted", {"fusion": "weighted"}),
                             ("semantic", {"search_type": "semantic"}),
                             ("keyword", {"search_type": "keyword"})]:
            bodies = [{"query": q["text"], "vector": v, "namespaces": [NS], "limit": 10, **extra}
                      for q, v in zip(queries, vecs)]
            latencies(srv, bodies[:100])  # warm-up
            lat, server = latencies(srv, bodies)
            qps = throughput(srv.url, bodies, args.clients)
            rows.append((label, lat, server, qps))
    finally:
        srv.stop()
    print(f"\nragd hybrid search over HTTP: namespace {NS}, {len(corpus)} documents, {chunks} chunks,"
          f" limit 10, {len(queries)} queries, query vectors sent in the request")
    print(f"start-up, indexes rebuilt from the store: {rebuild[0]:.1f} s to /health"
          f" (knowledge bases {rebuild[1]:.1f} s)")
    print(f"start-up, HNSW from the snapshot:         {snap[0]:.1f} s to /health"
          f" (knowledge bases {snap[1]:.1f} s)\n")
    print(f"{'search':<18}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'server p95':>12}"
          f"{f'QPS x{args.clients}':>11}   goal p95 <= 10 ms")
    for label, lat, server, qps in rows:
        p95 = np.percentile(lat, 95)
        print(f"{label:<18}{np.percentile(lat, 50):>9.2f}{p95:>9.2f}{np.percentile(lat, 99):>9.2f}"
              f"{np.percentile(server, 95):>12.2f}{qps:>11.0f}   {'met' if p95 <= 10 else 'MISSED'}"
              f" ({p95 / 10:.2f}x of goal)")


if __name__ == "__main__":
    main()
