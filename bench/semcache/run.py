#!/usr/bin/env python3
"""bench/semcache: false hits and hit rate of the semantic cache across thresholds,
beside GPTCache with its defaults, on human-written paraphrases.

Data: bench/data/out/semcache/pairs.jsonl (bench/data/build.py): the same Old Testament
verse in the World English Bible (WEB) and the King James Version (KJV). Protocol, the
same for both caches: the WEB text of half of the sampled verses is cached (one shared
partition: same model, parameters and system prompt); then the KJV text of every sampled
verse is asked. A KJV query whose WEB verse is cached should hit that verse; any other
hit is a false hit - including every hit of the other half, whose neighbouring verses
of the same chapters (the hard negatives) are in the cache.

ragd runs with its real gateway in front of the fake upstream (tests/e2e/fake_upstream.py)
and answers each query with x-ragd-semantic-threshold: 0, so its similarity header and
source key give the whole curve in one pass (guard included). GPTCache 0.1.44 runs with
its defaults (last_content pre-embedding, sqlite + faiss, SearchDistanceEvaluation,
similarity_threshold 0.8); its default ONNX model comes from the HuggingFace hub, which
this machine cannot reach, so it embeds with the same all-MiniLM-L6-v2 vectors ragd
serves on /v1/embeddings. Prints the curve and the smallest threshold at which false
hits stay <= 1% of hits.
Usage: .venv-bench/bin/python bench/semcache/run.py [--verses 2000] [--seed 7]
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from fake_upstream import FakeUpstream  # noqa: E402

RAGD = os.environ.get("RAGD_BIN", os.path.join(ROOT, "build", "ragd"))
PAIRS = os.path.join(ROOT, "bench", "data", "out", "semcache", "pairs.jsonl")
THRESHOLDS = [0.75, 0.80, 0.82, 0.83, 0.84, 0.85, 0.86, 0.88, 0.90, 0.92, 0.94, 0.95, 0.96, 0.98]
SYSTEM = "Answer questions about the Bible."


def load(n, seed):
    pos = [json.loads(l) for l in open(PAIRS) if '"label": 1' in l]
    rng = random.Random(seed)
    rng.shuffle(pos)
    pos = pos[:n]
    cached = set(p["ref"] for p in pos[: n // 2])
    return pos, cached


def start_ragd(up, tmp):
    port = FakeUpstream().port  # a free port (the server object is dropped)
    env = dict(os.environ, RAGD_UPSTREAM_URL=up.url, RAGD_LOG_LEVEL="error")
    p = subprocess.Popen([RAGD, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", tmp],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            requests.get(url + "/health", timeout=1)
            return p, url
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError("ragd did not start")


def ask(s, url, text, threshold, store=True):
    body = {"model": "fake-model", "temperature": 0,
            "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]}
    h = {"x-ragd-semantic-threshold": str(threshold)}
    if not store:
        h["Cache-Control"] = "no-store"  # queries never become cache entries
    r = s.post(url + "/v1/chat/completions", json=body, headers=h, timeout=60)
    r.raise_for_status()
    return r.headers


def run_ragd(url, pos, cached):
    s = requests.Session()
    key_ref = {}
    for p in pos:
        if p["ref"] in cached:
            h = ask(s, url, p["a"], threshold=1)  # every WEB verse becomes an entry
            key_ref[h["x-ragd-cache-key"]] = p["ref"]
    out = []
    for p in pos:
        h = ask(s, url, p["b"], threshold=0, store=False)
        if h["x-ragd-cache"] == "semantic-hit":
            out.append((p["ref"], key_ref.get(h["x-ragd-cache-source-key"]),
                        float(h["x-ragd-cache-similarity"])))
        else:
            out.append((p["ref"], None, -1.0))
    return out


def embed(url, texts):
    vecs = []
    for i in range(0, len(texts), 64):
        r = requests.post(url + "/v1/embeddings", json={"model": "all-MiniLM-L6-v2",
                                                        "input": texts[i:i + 64]}, timeout=120)
        r.raise_for_status()
        vecs += [d["embedding"] for d in r.json()["data"]]
    return np.array(vecs, dtype="float32")


def run_gptcache(url, pos, cached, tmp):
    from gptcache import Cache, Config
    from gptcache.manager import CacheBase, VectorBase, get_data_manager
    from gptcache.processor.pre import last_content
    from gptcache.similarity_evaluation.distance import SearchDistanceEvaluation
    from gptcache.adapter.api import put, get

    texts = [p["a"] for p in pos if p["ref"] in cached] + [p["b"] for p in pos]
    vec = {t: v for t, v in zip(texts, embed(url, texts))}
    cache = Cache()
    dm = get_data_manager(CacheBase("sqlite", sql_url=f"sqlite:///{tmp}/gptcache.db"),
                          VectorBase("faiss", dimension=384,
                                     index_path=os.path.join(tmp, "faiss.index")))
    cache.init(pre_embedding_func=last_content, embedding_func=lambda t, **kw: vec[t],
               data_manager=dm, similarity_evaluation=SearchDistanceEvaluation(),
               config=Config())  # defaults: similarity_threshold 0.8
    for p in pos:
        if p["ref"] in cached:
            put(p["a"], p["ref"], cache_obj=cache,
                messages=[{"role": "user", "content": p["a"]}])
    out = []
    for p in pos:
        ans = get(p["b"], cache_obj=cache, messages=[{"role": "user", "content": p["b"]}])
        out.append((p["ref"], ans))
    return out, vec


def score(rows, cached, t):
    hits = [(q, got) for q, got, sim in rows if got is not None and sim >= t]
    false = sum(1 for q, got in hits if got != q)
    correct = len(hits) - false
    return len(hits), false, correct / max(1, len(cached))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--verses", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if not os.path.exists(PAIRS):
        sys.exit("no pairs: run python3 bench/data/build.py --only semcache")
    pos, cached = load(args.verses, args.seed)
    tmp = tempfile.mkdtemp(prefix="ragd-semcache-")
    up = FakeUpstream().start()
    proc, url = start_ragd(up, os.path.join(tmp, "ragd"))
    try:
        t0 = time.time()
        rows = run_ragd(url, pos, cached)
        t_ragd = time.time() - t0
        gpt, vec = run_gptcache(url, pos, cached, tmp)
        # the no-guard curve: top-1 cosine over the same cached WEB verses
        cached_pairs = [p for p in pos if p["ref"] in cached]
        A = np.stack([vec[p["a"]] for p in cached_pairs])
        noguard = []
        for p in pos:
            sims = A @ vec[p["b"]]
            j = int(np.argmax(sims))
            noguard.append((p["ref"], cached_pairs[j]["ref"], float(sims[j])))
    finally:
        proc.terminate()
        proc.wait(10)
        up.stop()
        shutil.rmtree(os.path.join(tmp, "ragd"), ignore_errors=True)  # GPTCache saves at exit

    print(f"{len(pos)} KJV queries, {len(cached)} WEB verses cached "
          f"(ragd pass: {t_ragd:.1f} s)\n")
    print(f"{'threshold':>9} | {'ragd hits':>9} {'false':>6} {'false %':>8} {'hit rate':>9} |"
          f" {'no guard':>8} {'false':>6} {'false %':>8} {'hit rate':>9}")
    choice = None
    for t in THRESHOLDS:
        h, f, hr = score(rows, cached, t)
        h2, f2, hr2 = score(noguard, cached, t)
        fp, fp2 = 100.0 * f / max(1, h), 100.0 * f2 / max(1, h2)
        print(f"{t:>9.2f} | {h:>9} {f:>6} {fp:>7.2f}% {hr:>8.1%} | {h2:>8} {f2:>6} {fp2:>7.2f}%"
              f" {hr2:>8.1%}")
        if choice is None and h and fp <= 1.0:
            choice = (t, fp, hr)
    gh = [(q, a) for q, a in gpt if a is not None]
    gf = sum(1 for q, a in gh if a != q)
    print(f"\nGPTCache defaults (similarity_threshold 0.8 = cosine >= 0.6, no guard): "
          f"{len(gh)} hits, {gf} false ({100.0 * gf / max(1, len(gh)):.2f}% of hits), "
          f"hit rate {(len(gh) - gf) / max(1, len(cached)):.1%}")
    if choice:
        print(f"ragd: smallest threshold with false hits <= 1% of hits: {choice[0]:.2f} "
              f"({choice[1]:.2f}% false, hit rate {choice[2]:.1%})")


if __name__ == "__main__":
    main()
