#!/usr/bin/env python3
"""run.py - bench/ann: ragd's HNSW beside hnswlib on real 384-d embeddings
(GCIDE entries, all-MiniLM-L6-v2; see embed.py). Same M / ef_construction,
several ef_search, single thread for build and queries, recall@10 against
exact brute force (numpy), plus a filtered run where 10% of points match.
Prints one table with ragd/hnswlib ratios and writes bench/out/ann/results.json.

usage: .venv-bench/bin/python bench/ann/run.py [--M 16] [--efc 200] [--ef 16,32,64,128,256]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "bench", "out", "ann")
K = 10
DIM = 384


def ground_truth(data, q, ids_mask=None):
    sub = data if ids_mask is None else data[ids_mask]
    idmap = np.arange(len(data)) if ids_mask is None else np.nonzero(ids_mask)[0]
    gt = np.empty((len(q), K), dtype=np.int32)
    for s in range(0, len(q), 100):
        sims = q[s:s + 100] @ sub.T
        part = np.argpartition(-sims, K, axis=1)[:, :K]
        order = np.take_along_axis(sims, part, 1).argsort(axis=1)[:, ::-1]
        gt[s:s + 100] = idmap[np.take_along_axis(part, order, 1)]
    return gt


def recall(found, gt):
    hit = sum(len(set(f) & set(g)) for f, g in zip(found, gt))
    return hit / gt.size


def run_hnswlib(data, q, gt, gtf, M, efc, efs):
    import hnswlib
    rows = []
    ix = hnswlib.Index(space="cosine", dim=DIM)
    ix.init_index(max_elements=len(data), M=M, ef_construction=efc, random_seed=100)
    ix.set_num_threads(1)
    t0 = time.perf_counter()
    ix.add_items(data, np.arange(len(data)), num_threads=1)
    build = time.perf_counter() - t0
    rows.append({"kind": "build", "label": "hnswlib", "seconds": build})
    for filtered in (0, 1):
        for ef in efs:
            ix.set_ef(ef)
            t0 = time.perf_counter()
            if filtered:
                labels, _ = ix.knn_query(q, k=K, num_threads=1, filter=lambda i: i % 10 == 0)
            else:
                labels, _ = ix.knn_query(q, k=K, num_threads=1)
            dt = time.perf_counter() - t0
            rows.append({"kind": "search", "label": "hnswlib", "ef": ef, "filtered": filtered,
                         "recall": recall(labels, gtf if filtered else gt), "qps": len(q) / dt})
    return rows


def run_ragd(paths, M, efc, efs, int8=False):
    exe = os.path.join(ROOT, "build", "ann_bench")
    if not os.path.exists(exe):
        subprocess.check_call(["make", "-C", ROOT, "build"])
    cmd = [exe, *paths, str(DIM), str(M), str(efc), ",".join(map(str, efs))] + (["int8"] if int8 else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--ef", default="16,32,64,128,256")
    ap.add_argument("--int8", action="store_true", help="also run ragd with int8 traversal")
    a = ap.parse_args()
    efs = [int(x) for x in a.ef.split(",")]
    base = os.path.join(OUT, "gcide_minilm")
    if not os.path.exists(base + ".f32"):
        subprocess.check_call([sys.executable, os.path.join(HERE, "embed.py")])
    data = np.fromfile(base + ".f32", dtype=np.float32).reshape(-1, DIM)
    q = np.fromfile(base + ".q.f32", dtype=np.float32).reshape(-1, DIM)
    print(f"data: {len(data)} GCIDE entries x {DIM} (all-MiniLM-L6-v2), {len(q)} held-out queries")
    gt = ground_truth(data, q)
    gtf = ground_truth(data, q, np.arange(len(data)) % 10 == 0)
    gt.tofile(base + ".gt.i32")
    gtf.tofile(base + ".gtf.i32")
    paths = [base + ".f32", base + ".q.f32", base + ".gt.i32", base + ".gtf.i32"]
    rows = run_ragd(paths, a.M, a.efc, efs)
    if a.int8:
        rows += run_ragd(paths, a.M, a.efc, efs, int8=True)
    rows += run_hnswlib(data, q, gt, gtf, a.M, a.efc, efs)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump({"M": a.M, "efc": a.efc, "n": len(data), "rows": rows}, f, indent=1)
    report(rows, a.M, a.efc, efs, len(data))


def report(rows, M, efc, efs, n):
    b = {r["label"]: r for r in rows if r["kind"] == "build"}
    s = {(r["label"], r["ef"], r["filtered"]): r for r in rows if r["kind"] == "search"}
    hb = b["hnswlib"]["seconds"]
    print(f"\nbuild (single thread, n={n}, M={M}, efC={efc})")
    print(f"{'index':<12}{'seconds':>10}{'vs hnswlib':>12}")
    for lab, r in b.items():
        print(f"{lab:<12}{r['seconds']:>10.1f}{r['seconds'] / hb:>11.2f}x")
    labels = [l for l in b if l != "hnswlib"]
    for filtered in (0, 1):
        title = "filtered: 10% of points match (id % 10 == 0)" if filtered else "unfiltered"
        print(f"\nsearch, single thread, k=10, {title}")
        hdr = f"{'M':>3}{'efC':>5}{'efS':>5}"
        for lab in labels:
            hdr += f"{lab + ' R@10':>16}{lab + ' QPS':>14}{'QPS ratio':>11}"
        hdr += f"{'hnswlib R@10':>14}{'hnswlib QPS':>13}"
        print(hdr)
        for ef in efs:
            h = s[("hnswlib", ef, filtered)]
            line = f"{M:>3}{efc:>5}{ef:>5}"
            for lab in labels:
                r = s[(lab, ef, filtered)]
                line += f"{r['recall']:>16.4f}{r['qps']:>14.0f}{r['qps'] / h['qps']:>10.2f}x"
            line += f"{h['recall']:>14.4f}{h['qps']:>13.0f}"
            print(line)
    for lab in labels:
        auto = s.get((lab + "-auto", 64, 1))
        if auto:
            print(f"\n{lab} automatic mode (exact scan chosen for the 10% filter): "
                  f"recall@10 {auto['recall']:.4f}, {auto['qps']:.0f} QPS")


if __name__ == "__main__":
    main()
