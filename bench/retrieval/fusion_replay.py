#!/usr/bin/env python3
"""fusion_replay.py - weighted-fusion normalisations compared offline on the same legs.

Loads a judged set as bench/retrieval/run.py does, fetches each query's keyword and
semantic legs once from ragd (raw BM25 and cosine scores, chunk level, as deep as a hybrid
search takes its candidates), then fuses them in Python under several normalisations and
scores each with the same nDCG@10 / MRR@10. One fetch, many fusions: the differences
between normalisations are not mixed with run-to-run noise. The first row is ragd's own
hybrid search (min-max), to check the replay reproduces the server.

Families: min-max (ragd's default), divide by the leg's best (`max`), `relative` (cosine
as is, BM25 / best), distribution-based (mean +- 3 sigma), and absolute maps that mean the
same across queries: cosine through a fixed affine window, BM25 saturated as s / (s + k).

usage: .venv-bench/bin/python bench/retrieval/fusion_replay.py --set naves --queries 200 --max-docs 4000
       .venv-bench/bin/python bench/retrieval/fusion_replay.py --set gcide --queries 400 --max-docs 1500 --eval-loaded
"""
import argparse
import json
import os
import random
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as R  # noqa: E402
from ragd_server import Server, find_data, read_jsonl, read_qrels  # noqa: E402


def fetch_legs(srv, ns, queries, cand):
    legs = {}
    for q in queries:
        row = {}
        for t in ("keyword", "semantic"):
            res = srv.post("/api/v1/search/hybrid", {"query": q["text"], "namespaces": [ns],
                                                      "limit": cand, "search_type": t})["results"]
            row[t] = [(r["chunk_id"], r["document_id"], r["score"]) for r in res]
        legs[q["id"]] = row
    return legs


def fuse(row, fs, fk, depth, alpha=0.5):
    """ragd's weighted fusion over chunk ids (a missing leg adds 0), best chunk per document."""
    score, doc = {}, {}
    for leg, f, w in (("semantic", fs, alpha), ("keyword", fk, 1.0 - alpha)):
        hits = row[leg]
        norm = f(np.array([s for _, _, s in hits], dtype=np.float64)) if hits else []
        for (c, d, _), v in zip(hits, norm):
            score[c] = score.get(c, 0.0) + w * float(v)
            doc[c] = d
    ranked = sorted(score, key=lambda c: (-score[c], c))
    return list(dict.fromkeys(doc[c] for c in ranked))[:depth]


def clip(x):
    return np.clip(x, 0.0, 1.0)


def minmax(x):
    return clip((x - x.min()) / (x.max() - x.min())) if x.max() > x.min() else np.ones_like(x)


def best(x):
    return clip(x / x.max()) if x.max() > 0 else np.zeros_like(x)


def dbsf(x):
    m, s = x.mean(), x.std()
    return clip((x - (m - 3 * s)) / (6 * s)) if s > 0 else np.ones_like(x)


def window(lo, hi):
    return lambda x: clip((x - lo) / (hi - lo))


def saturate(k):
    return lambda x: x / (x + k)


VARIANTS = [("min-max (default)", minmax, minmax), ("max", best, best),
            ("relative", window(0.0, 1.0), best), ("distribution (mean +- 3 sigma)", dbsf, dbsf)]
VARIANTS += [(f"cosine [{lo}, {hi}], BM25 s/(s+{k})", window(lo, hi), saturate(k))
             for lo, hi in ((0.0, 1.0), (0.2, 0.8), (0.25, 0.8)) for k in (10, 15, 20, 30)]


def load_set(name, n_queries, max_docs, eval_loaded):
    d = find_data(name)
    corpus = read_jsonl(os.path.join(d, "corpus.jsonl"))
    qrels = read_qrels(os.path.join(d, "qrels.tsv"))
    queries = [q for q in read_jsonl(os.path.join(d, "queries.jsonl")) if q["id"] in qrels]
    all_q, all_r = queries, qrels
    if n_queries and n_queries < len(queries):
        queries = sorted(random.Random(13).sample(queries, n_queries), key=lambda q: q["id"])
        qrels = {q["id"]: qrels[q["id"]] for q in queries}
    if max_docs and max_docs < len(corpus):
        corpus = R.subset(corpus, qrels, max_docs)
        if eval_loaded:
            queries, qrels = R.loaded_judgments(all_q, all_r, corpus)
    return corpus, queries, qrels


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", default="naves", choices=sorted(R.DEPTH))
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--max-docs", type=int, default=4000)
    ap.add_argument("--eval-loaded", action="store_true")
    args = ap.parse_args()
    corpus, queries, qrels = load_set(args.set, args.queries, args.max_docs, args.eval_loaded)
    depth = R.DEPTH[args.set]
    cand = max(4 * depth, 50)  # what a hybrid search of limit 2 x depth takes per leg
    ns = f"{args.set}-{len(corpus)}"
    os.makedirs(R.OUT, exist_ok=True)
    srv = Server(R.DATA_DIR).start()
    try:
        srv.load(ns, corpus, R.SETTINGS)
        legs = fetch_legs(srv, ns, queries, cand)
        server, _ = R.ragd_run(srv, ns, queries, depth, search_type="hybrid", fusion="weighted",
                               alpha=0.5, fusion_norm="minmax")
    finally:
        srv.stop()
    rows = [("ragd hybrid, min-max (server)", R.metrics(server, qrels))]
    for label, fs, fk in VARIANTS:
        run = {q: fuse(r, fs, fk, depth) for q, r in legs.items()}
        rows.append((label, R.metrics(run, qrels)))
    print(f"\n{ns}: {len(corpus)} documents, {len(queries)} queries, {cand} candidates per leg, alpha 0.5")
    print(f"| normalisation | nDCG@10 | MRR@10 |\n|---|---|---|")
    for label, m in rows:
        print(f"| {label} | {m['ndcg10']:.4f} | {m['mrr10']:.4f} |")
    with open(os.path.join(R.OUT, f"fusion-{ns}.json"), "w") as f:
        json.dump({label: m for label, m in rows}, f, indent=1)


if __name__ == "__main__":
    main()
