#!/usr/bin/env python3
"""run.py - bench/bm25: ragd's BM25 beside bm25s on Nave's Topical Bible
(topics/subtopics as queries, cited verses as relevant, World English Bible
verses as corpus; built by bench/data/build.py). Both sides use k1 0.9, b 0.4,
the Lucene English stop words (ragd's list is passed to bm25s) and the
Snowball English stemmer (PyStemmer for bm25s); both score with Lucene's
BM25 variant. Reports nDCG@10, recall@100, index build time and queries/s
(one thread, query analysis included) with ragd/bm25s ratios.

usage: .venv-bench/bin/python bench/bm25/run.py
"""
import json
import math
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "bench", "out", "bm25")
K1, B, K = 0.9, 0.4, 100

# Lucene EnglishAnalyzer.ENGLISH_STOP_WORDS_SET, the list src/index/analyzer.c uses
STOPWORDS = ["a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is",
             "it", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there",
             "these", "they", "this", "to", "was", "will", "with"]


def find_data():
    cands = [os.environ.get("RAGD_BENCH_DATA", ""), os.path.join(ROOT, "bench", "data", "out")]
    parent = os.path.dirname(ROOT)
    cands += [os.path.join(parent, d, "bench", "data", "out") for d in sorted(os.listdir(parent))]
    for c in cands:
        if c and os.path.exists(os.path.join(c, "naves", "qrels.tsv")):
            return os.path.join(c, "naves")
    sys.exit("Nave's data not found: run bench/data/build.py first (or set RAGD_BENCH_DATA); "
             "no fallback data set is substituted")


def read_jsonl(p):
    with open(p) as f:
        return [json.loads(l) for l in f if l.strip()]


def read_qrels(p):
    q = {}
    with open(p) as f:
        for line in f:
            qid, did, rel = line.rstrip("\n").split("\t")[:3]
            q.setdefault(qid, {})[did] = int(rel)
    return q


def evaluate(run, qrels):
    ndcg, rec = [], []
    for qid, rels in qrels.items():
        ranked = run.get(qid, [])
        dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
        ideal = sorted(rels.values(), reverse=True)[:10]
        idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
        ndcg.append(dcg / idcg if idcg else 0.0)
        nrel = sum(1 for r in rels.values() if r > 0)
        rec.append(sum(1 for d in ranked[:100] if rels.get(d, 0) > 0) / nrel if nrel else 0.0)
    return sum(ndcg) / len(ndcg), sum(rec) / len(rec)


def run_ragd(d):
    exe = os.path.join(ROOT, "build", "bm25_bench")
    if not os.path.exists(exe):
        subprocess.check_call(["make", "-C", ROOT, "build"])
    os.makedirs(OUT, exist_ok=True)
    runf = os.path.join(OUT, "ragd.run.tsv")
    out = subprocess.run([exe, os.path.join(d, "corpus.jsonl"), os.path.join(d, "queries.jsonl"), runf,
                          str(K), str(K1), str(B)], check=True, capture_output=True, text=True).stdout
    stats = json.loads(out.strip().splitlines()[-1])
    run = {}
    with open(runf) as f:
        for line in f:
            qid, did = line.split("\t")[:2]
            run.setdefault(qid, []).append(did)
    return run, stats


def run_bm25s(corpus, queries):
    import bm25s
    import Stemmer
    stem = Stemmer.Stemmer("english")
    texts = [c["text"] for c in corpus]
    t0 = time.perf_counter()
    ctok = bm25s.tokenize(texts, lower=True, stopwords=STOPWORDS, stemmer=stem, show_progress=False)
    ret = bm25s.BM25(k1=K1, b=B, method="lucene")
    ret.index(ctok, show_progress=False)
    build = time.perf_counter() - t0
    qtexts = [q["text"] for q in queries]
    t0 = time.perf_counter()
    qtok = bm25s.tokenize(qtexts, lower=True, stopwords=STOPWORDS, stemmer=stem, show_progress=False)
    docs, _ = ret.retrieve(qtok, k=K, show_progress=False, n_threads=1)
    dt = time.perf_counter() - t0
    run = {q["id"]: [corpus[int(i)]["id"] for i in row] for q, row in zip(queries, docs)}
    return run, {"build_s": build, "qps": len(queries) / dt}


def main():
    d = find_data()
    corpus = read_jsonl(os.path.join(d, "corpus.jsonl"))
    queries = read_jsonl(os.path.join(d, "queries.jsonl"))
    qrels = read_qrels(os.path.join(d, "qrels.tsv"))
    queries = [q for q in queries if q["id"] in qrels]
    print(f"Nave's Topical Bible: {len(corpus)} verses, {len(queries)} queries with judgements")
    rrun, rst = run_ragd(d)
    brun, bst = run_bm25s(corpus, queries)
    rn, rr = evaluate(rrun, qrels)
    bn, br = evaluate(brun, qrels)
    res = {"ragd": {"ndcg10": rn, "recall100": rr, **rst}, "bm25s": {"ndcg10": bn, "recall100": br, **bst}}
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(f"\nBM25 k1={K1} b={B}, Lucene English stop words, Snowball English stemmer, top-{K}")
    print(f"{'engine':<8}{'nDCG@10':>10}{'R@100':>9}{'build s':>10}{'queries/s':>12}")
    print(f"{'ragd':<8}{rn:>10.4f}{rr:>9.4f}{rst['build_s']:>10.2f}{rst['qps']:>12.0f}")
    print(f"{'bm25s':<8}{bn:>10.4f}{br:>9.4f}{bst['build_s']:>10.2f}{bst['qps']:>12.0f}")
    print(f"{'ratio':<8}{rn - bn:>+10.4f}{rr - br:>+9.4f}{rst['build_s'] / bst['build_s']:>9.2f}x"
          f"{rst['qps'] / bst['qps']:>11.2f}x   (nDCG/recall: ragd - bm25s; time, QPS: ragd / bm25s)")


if __name__ == "__main__":
    main()
