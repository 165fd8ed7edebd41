#!/usr/bin/env python3
"""provider.py - the provider-embeddings row of bench/embed: text-embedding-3-small
through ragd's gateway to the fake OpenAI-compatible provider of the e2e tests
(tests/e2e/fake_upstream.py, which answers at once and counts the texts of every call),
with ragd's per-text embedding cache in front.

Prints per-text latency over HTTP, uncached (every text new: one provider call) and
cached (the same texts again: no provider call), single texts and batches of 32, and for
batches of 32 at a given cache hit rate the provider calls and texts sent beside what a
client without the cache would send. A real provider adds its own network time to every
uncached call only.
Usage: python3 bench/embed/provider.py [--texts 200] [--hit-rates 0.5,0.9]
"""
import argparse
import json
import os
import random
import statistics
import sys
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from fake_upstream import FakeUpstream  # noqa: E402
from ragdtest import Ragd  # noqa: E402

MODEL = "text-embedding-3-small"


def post(url, texts):
    body = json.dumps({"model": MODEL, "input": texts}).encode()
    req = urllib.request.Request(url + "/v1/embeddings", data=body,
                                 headers={"Content-Type": "application/json"})
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=60) as r:
        r.read()
    return (time.perf_counter() - t) * 1000


def per_text_ms(url, texts, batch):
    lat = [post(url, texts[i:i + batch]) / len(texts[i:i + batch])
           for i in range(0, len(texts), batch)]
    return statistics.median(lat)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=200)
    ap.add_argument("--hit-rates", default="0.5,0.9")
    args = ap.parse_args()
    up = FakeUpstream().start()
    s = Ragd(env={"RAGD_UPSTREAM_URL": up.url, "RAGD_LOG_LEVEL": "warn"}).start()
    try:
        rows = []
        for batch in (1, 32):
            texts = [f"question {batch}-{i} about squats and protein {random.random()}"
                     for i in range(args.texts)]
            uncached = per_text_ms(s.url, texts, batch)
            cached = per_text_ms(s.url, texts, batch)
            rows.append((batch, uncached, cached))
        print(f"{MODEL} through ragd to the fake provider, {args.texts} texts")
        print(f"{'batch':>6} {'uncached ms/text':>17} {'cached ms/text':>15}")
        for batch, u, c in rows:
            print(f"{batch:>6} {u:>17.3f} {c:>15.3f}")
        print(f"\n{'hit rate':>8} {'calls':>6} {'w/o cache':>10} {'texts sent':>11} {'w/o cache':>10}")
        for rate in (float(x) for x in args.hit_rates.split(",")):
            seen = [f"warm {rate} {i}" for i in range(args.texts)]
            for i in range(0, len(seen), 32):
                post(s.url, seen[i:i + 32])
            up.reset()
            rng = random.Random(5)
            batches = [[rng.choice(seen) if rng.random() < rate else f"new {rate} {b} {j}"
                        for j in range(32)] for b in range(args.texts // 32)]
            for b in batches:
                post(s.url, b)
            sent = sum(up.embedding_batches())
            print(f"{rate:>8.2f} {len(up.embedding_batches()):>6} {len(batches):>10} "
                  f"{sent:>11} {32 * len(batches):>10}")
    finally:
        s.cleanup()
        up.stop()


if __name__ == "__main__":
    main()
