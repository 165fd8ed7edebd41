#!/usr/bin/env python3
"""run.py - bench/retrieval: retrieval quality of ragd's knowledge bases, measured
through the HTTP API on two human-judged sets built by bench/data/build.py:

  Nave's Topical Bible over the World English Bible  nDCG@10, recall@100
  WordNet glosses -> GCIDE entries                   MRR@10

for keyword (BM25), semantic (HNSW), hybrid-weighted (alpha 0.5; the default normalisation,
each leg divided by its best score, beside the old min-max and "relative") and hybrid-RRF (k 60),
beside bm25s (same k1 0.9 / b 0.4, Lucene stop words, Snowball stemmer; the bm25s side
is bench/bm25's code) and beside exact brute-force search (numpy) over ragd's own chunk
embeddings (fetched back: chunk spans from the documents API, vectors from the embedding
cache via /v1/embeddings). A document's score is its best chunk's.

usage: .venv-bench/bin/python bench/retrieval/run.py [--sets naves,gcide] [--keep]
       [--max-docs N] [--queries N] [--eval-loaded] [--no-peers]
With --max-docs the corpus is the judged documents of the (--queries) sample plus a fixed
sample of the others; --eval-loaded then scores every judged query that has a relevant
document in that corpus, its judgments restricted to the corpus.
The loaded data directory (bench/out/retrieval/ragd-data) is kept for bench/search.
"""
import argparse
import importlib.util
import json
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ragd_server import ROOT, Server, find_data, read_jsonl, read_qrels  # noqa: E402

OUT = os.path.join(ROOT, "bench", "out", "retrieval")
DATA_DIR = os.path.join(OUT, "ragd-data")
SETTINGS = {"chunk_size": 254, "chunk_overlap": 32, "bm25_k1": 0.9, "bm25_b": 0.4,
            "hnsw_m": 16, "hnsw_ef_construction": 200, "hnsw_ef_search": 100}
DEPTH = {"naves": 100, "gcide": 10}


def bm25_peer():
    """bench/bm25/run.py (the index engineer's bm25s driver), imported, not copied."""
    spec = importlib.util.spec_from_file_location("bm25_peer", os.path.join(ROOT, "bench", "bm25", "run.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def metrics(run, qrels):
    ndcg, rec, mrr = [], [], []
    for qid, rels in qrels.items():
        ranked = run.get(qid, [])
        dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
        ideal = sorted(rels.values(), reverse=True)[:10]
        idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
        ndcg.append(dcg / idcg if idcg else 0.0)
        nrel = sum(1 for r in rels.values() if r > 0)
        rec.append(sum(1 for d in ranked[:100] if rels.get(d, 0) > 0) / nrel if nrel else 0.0)
        rr = next((1.0 / (i + 1) for i, d in enumerate(ranked[:10]) if rels.get(d, 0) > 0), 0.0)
        mrr.append(rr)
    n = len(qrels)
    return {"ndcg10": sum(ndcg) / n, "recall100": sum(rec) / n, "mrr10": sum(mrr) / n}


def ragd_run(srv, ns, queries, depth, **body):
    """Ranked unique document ids per query through POST /api/v1/search/hybrid."""
    run, lat = {}, []
    for q in queries:
        t0 = time.perf_counter()
        res = srv.post("/api/v1/search/hybrid", {"query": q["text"], "namespaces": [ns],
                                                  "limit": depth * 2, **body})["results"]
        lat.append(time.perf_counter() - t0)
        seen, ranked = set(), []
        for r in res:
            if r["document_id"] not in seen:
                seen.add(r["document_id"])
                ranked.append(r["document_id"])
        run[q["id"]] = ranked[:depth]
    return run, {"qps": len(queries) / sum(lat), "p50_ms": 1000 * float(np.median(lat))}


def embed(srv, texts, batch=512):
    out = []
    for at in range(0, len(texts), batch):
        r = srv.post("/v1/embeddings", {"model": "all-MiniLM-L6-v2", "input": texts[at:at + batch]})
        out += [d["embedding"] for d in r["data"]]
    return np.asarray(out, dtype=np.float32)


def chunk_texts(srv, ns):
    """(document id, chunk text) for every chunk, via the documents API."""
    pairs, off = [], 0
    while True:
        page = srv.get(f"/api/v1/namespaces/{ns}/documents?with_chunks=true&limit=5000&offset={off}").json()
        for d in page["documents"]:
            raw = d["text"].encode()
            for c in d["chunks"]:
                pairs.append((d["id"], raw[c["start"]:c["end"]].decode()))
        off += len(page["ids"])
        if not page["ids"] or off >= page["total"]:
            return pairs


def brute_force(srv, ns, queries, depth):
    pairs = chunk_texts(srv, ns)
    t0 = time.perf_counter()
    cv = embed(srv, [t for _, t in pairs])
    qv = embed(srv, [q["text"] for q in queries])
    fetch_s = time.perf_counter() - t0
    doc_ids = sorted({d for d, _ in pairs})
    col = {d: i for i, d in enumerate(doc_ids)}
    chunk_doc = np.array([col[d] for d, _ in pairs])
    run = {}
    t0 = time.perf_counter()
    for at in range(0, len(queries), 256):
        sims = qv[at:at + 256] @ cv.T  # unit vectors: cosine
        best = np.full((sims.shape[0], len(doc_ids)), -np.inf, dtype=np.float32)
        np.maximum.at(best.T, chunk_doc, sims.T)
        top = np.argsort(-best, axis=1, kind="stable")[:, :depth]
        for i, row in enumerate(top):
            run[queries[at + i]["id"]] = [doc_ids[j] for j in row]
    return run, {"qps": len(queries) / (time.perf_counter() - t0), "chunks": len(pairs),
                 "fetch_s": fetch_s}


def subset(corpus, qrels, n):
    """Every judged document plus a fixed sample of the others, n in all."""
    import random
    rel = {d for r in qrels.values() for d in r}
    keep = [c for c in corpus if c["id"] in rel]
    rest = [c for c in corpus if c["id"] not in rel]
    random.Random(13).shuffle(rest)
    return keep + rest[:max(0, n - len(keep))]


def loaded_judgments(queries, qrels, corpus):
    """Every query with a relevant document in corpus, judgments restricted to corpus."""
    ids = {c["id"] for c in corpus}
    keep = {qid: {d: r for d, r in rels.items() if d in ids} for qid, rels in qrels.items()}
    keep = {qid: rels for qid, rels in keep.items() if any(r > 0 for r in rels.values())}
    return [q for q in queries if q["id"] in keep], keep


def evaluate_set(name, srv, peer, max_docs=0, max_queries=0, eval_loaded=False):
    d = find_data(name)
    corpus = read_jsonl(os.path.join(d, "corpus.jsonl"))
    qrels = read_qrels(os.path.join(d, "qrels.tsv"))
    queries = [q for q in read_jsonl(os.path.join(d, "queries.jsonl")) if q["id"] in qrels]
    all_queries, all_qrels = queries, qrels
    if max_queries and max_queries < len(queries):
        import random
        queries = sorted(random.Random(13).sample(queries, max_queries), key=lambda q: q["id"])
        qrels = {q["id"]: qrels[q["id"]] for q in queries}
    depth = DEPTH[name]
    ns = name
    if max_docs and max_docs < len(corpus):
        corpus = subset(corpus, qrels, max_docs)
        ns = f"{name}-{len(corpus)}"
        if eval_loaded:
            queries, qrels = loaded_judgments(all_queries, all_qrels, corpus)
    print(f"\n{ns}: {len(corpus)} documents, {len(queries)} judged queries", file=sys.stderr)
    load_s = srv.load(ns, corpus, SETTINGS)
    info = srv.get(f"/api/v1/namespaces/{ns}").json()["stats"]
    rows = {}
    if peer:
        print("  bm25s ...", file=sys.stderr)
        run, st = peer.run_bm25s(corpus, queries)
        rows["bm25s"] = {**metrics(run, qrels), "qps": st["qps"]}
        print("  brute force ...", file=sys.stderr)
        run, st = brute_force(srv, ns, queries, depth)
        rows["brute-force"] = {**metrics(run, qrels), "qps": st["qps"]}
    hybrid = {"search_type": "hybrid", "fusion": "weighted", "alpha": 0.5}
    legs = [("keyword", {"search_type": "keyword"}),
            ("semantic", {"search_type": "semantic"}),
            ("hybrid-weighted", hybrid),
            ("hybrid-weighted-minmax", {**hybrid, "fusion_norm": "minmax"}),
            ("hybrid-weighted-relative", {**hybrid, "fusion_norm": "relative"}),
            ("hybrid-rrf", {"search_type": "hybrid", "fusion": "rrf", "rrf_k": 60})]
    for label, body in legs:
        print(f"  ragd {label} ...", file=sys.stderr)
        run, st = ragd_run(srv, ns, queries, depth, **body)
        rows["ragd " + label] = {**metrics(run, qrels), **st}
    return {"ns": ns, "documents": len(corpus), "queries": len(queries), "chunks": info["chunks"],
            "load_s": load_s, "rows": rows}


def print_table(name, res):
    key = "mrr10" if name == "gcide" else "ndcg10"
    cols = ["mrr10"] if name == "gcide" else ["ndcg10", "mrr10", "recall100"]
    print(f"\n{res['ns']}: {res['documents']} documents ({res['chunks']} chunks), {res['queries']} queries"
          + (f", loaded in {res['load_s']:.0f} s" if res["load_s"] else ""))
    hdr = "".join(f"{c:>11}" for c in cols)
    print(f"{'method':<28}{hdr}{'queries/s':>11}   vs peer")
    r = res["rows"]
    peer = {"ragd keyword": "bm25s", "ragd semantic": "brute-force"}
    best_leg = max(r["ragd keyword"][key], r["ragd semantic"][key])
    for label in ["bm25s", "ragd keyword", "brute-force", "ragd semantic", "ragd hybrid-weighted",
                  "ragd hybrid-weighted-minmax", "ragd hybrid-weighted-relative", "ragd hybrid-rrf"]:
        if label not in r:
            continue
        row = r[label]
        vals = "".join(f"{row[c]:>11.4f}" for c in cols)
        note = ""
        if label in peer and peer[label] in r:
            note = "  ".join(f"{c} {row[c] - r[peer[label]][c]:+.4f}" for c in cols) + f" vs {peer[label]}"
        elif label.startswith("ragd hybrid"):
            note = f"{key} {row[key] - best_leg:+.4f} vs better single leg"
        print(f"{label:<28}{vals}{row['qps']:>11.0f}   {note}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="naves,gcide")
    ap.add_argument("--max-docs", type=int, default=0,
                    help="evaluate on the judged documents plus a fixed sample, N in all")
    ap.add_argument("--queries", type=int, default=0,
                    help="evaluate a fixed sample of N judged queries")
    ap.add_argument("--eval-loaded", action="store_true",
                    help="with --max-docs: score every query judged on the loaded documents")
    ap.add_argument("--no-peers", action="store_true",
                    help="ragd's rows only (no bm25s, no brute force)")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    peer = None if args.no_peers else bm25_peer()
    srv = Server(DATA_DIR).start()
    results = {}
    try:
        for name in args.sets.split(","):
            results[name] = evaluate_set(name, srv, peer, args.max_docs, args.queries,
                                         args.eval_loaded)
    finally:
        srv.stop()
    path = os.path.join(OUT, "results.json")
    old = json.load(open(path)) if os.path.exists(path) else {}
    old.update(results)
    with open(path, "w") as f:
        json.dump(old, f, indent=1)
    print("\nragd through HTTP (one client; query embedding included, cached after the first leg);"
          "\nbm25s and brute force in-process. k1 0.9 b 0.4; HNSW M 16, ef_construction 200, ef_search 100.")
    for name, res in results.items():
        print_table(name, res)


if __name__ == "__main__":
    main()
