#!/usr/bin/env python3
"""bench/semcache/api.py - latency of the standalone semantic-cache API over HTTP
(POST /api/v1/semantic-cache/{name}/store and /check, p50/p99), beside the gateway's own
semantic lookup (a chat completion answered as a semantic hit), on the same machine,
store and model.

Protocol: N questions built from a word list (numbers kept identical between a question
and its paraphrase, so the gateway's guard lets them through). Each is stored through the
API, and asked through the gateway once (a miss that fills its cache from the fake
upstream, tests/e2e/fake_upstream.py). Then, interleaved: a paraphrase checked through
the API (prompt embedded by the local model), the same paraphrase's vector checked
through the API (no embedding: index + store only), and another paraphrase asked
through the gateway (a semantic hit). Then filtered checks in a second cache (crowd()):
a common filter, and a rare one whose only match lies behind the whole crowd. Every text asked is new to the embedding cache,
so the prompt rows include one embedding each. A keep-alive connection per client.

RedisVL's SemanticCache is not run beside it: it needs the RediSearch module
(FT.CREATE), which the Debian redis-server here (7.0, no modules) does not have.
Usage: python3 bench/semcache/api.py [--n 300] [--redis-url URL]   (any python3 with
requests; RAGD_BIN picks the binary, default build/ragd)
"""
import argparse
import os
import random
import sys
import time

import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from fake_upstream import FakeUpstream  # noqa: E402
from ragdtest import Ragd  # noqa: E402

TOPICS = ("password email invoice refund shipping account subscription printer router "
          "laptop battery backup calendar report budget contract warranty license").split()
ACTIONS = ("reset", "change", "cancel", "renew", "update", "recover", "export", "delete")
FORMS = ["How do I {a} my {t} for order {n}?", "How can I {a} the {t} of order {n}?",
         "What is the way to {a} my {t} on order {n}?", "Help me {a} the {t} for order {n}."]


def questions(n, seed=7):
    rng = random.Random(seed)
    return [(rng.choice(ACTIONS), rng.choice(TOPICS), 1000 + i) for i in range(n)]


def text(q, form):
    a, t, n = q
    return FORMS[form].format(a=a, t=t, n=n)


def pct(v):
    v = sorted(v)
    return v[len(v) // 2], v[min(len(v) - 1, int(len(v) * 0.99))]


def timed(session, url, body):
    t = time.perf_counter()
    r = session.post(url, json=body, timeout=60)
    ms = (time.perf_counter() - t) * 1000
    assert r.status_code == 200, r.text
    return ms, r


def crowd(session, url, m, reps=50, dim=384, seed=11):
    """Filtered checks in a cache of m entries near one direction: all but one of
    tenant A, the rare one (tenant B) farther than every A entry but within the
    distance. Rows: unfiltered, filter A (the first candidates pass), filter B
    (the search widens until the distance is exhausted: the whole crowd is read)."""
    rng = random.Random(seed)
    base = [rng.gauss(0, 1) for _ in range(dim)]
    def near(spread):
        return [x + rng.gauss(0, spread) for x in base]
    for i in range(m):
        session.post(url + "/store", json={"prompt": "crowd %d" % i, "response": "a",
                                           "vector": near(0.15), "filters": {"tenant": "A"}},
                     timeout=60).raise_for_status()
    session.post(url + "/store", json={"prompt": "rare", "response": "b", "vector": near(0.5),
                                       "filters": {"tenant": "B"}}, timeout=60).raise_for_status()
    rows = {}
    for name, flt in (("unfiltered", None), ("filter, common", {"tenant": "A"}),
                      ("filter, rare (widens)", {"tenant": "B"})):
        lat, hits = [], 0
        for _ in range(reps):
            body = {"vector": base, "distance_threshold": 0.5, "num_results": 1}
            if flt:
                body["filters"] = flt
            ms, r = timed(session, url + "/check", body)
            lat.append(ms)
            hits += bool(r.json()["hits"])
        rows["check, %d entries, %s" % (m, name)] = (lat, hits)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--redis-url", default="")
    ap.add_argument("--crowd", type=int, default=3000,
                    help="entries of the filtered-check cache (0: skip it)")
    args = ap.parse_args()
    up = FakeUpstream().start()
    env = {"RAGD_UPSTREAM_URL": up.url, "RAGD_LOG_LEVEL": "warn"}
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    s = Ragd(env=env).start()
    api, gw = requests.Session(), requests.Session()
    base = s.url + "/api/v1/semantic-cache/bench"
    chat = s.url + "/v1/chat/completions"

    def ask(prompt):
        return {"model": "fake-model", "temperature": 0,
                "messages": [{"role": "user", "content": prompt}]}
    try:
        qs = questions(args.n)
        lat = {k: [] for k in ("store", "check prompt", "check vector", "gateway semantic hit")}
        hits = {k: 0 for k in lat}
        for q in qs:
            ms, _ = timed(api, base + "/store", {"prompt": text(q, 0), "response": "answer"})
            lat["store"].append(ms)
            hits["store"] += 1
            timed(gw, chat, ask(text(q, 0)))  # the gateway's miss: fills its cache
        for q in qs:
            ms, r = timed(api, base + "/check", {"prompt": text(q, 1), "distance_threshold": 0.3})
            lat["check prompt"].append(ms)
            hits["check prompt"] += bool(r.json()["hits"])
            vec = api.post(s.url + "/v1/embeddings", json={"input": text(q, 2),
                                                           "model": "all-MiniLM-L6-v2"},
                           timeout=60).json()["data"][0]["embedding"]
            ms, r = timed(api, base + "/check", {"vector": vec, "distance_threshold": 0.3})
            lat["check vector"].append(ms)
            hits["check vector"] += bool(r.json()["hits"])
            ms, r = timed(gw, chat, ask(text(q, 3)))
            if r.headers.get("x-ragd-cache") == "semantic-hit":
                lat["gateway semantic hit"].append(ms)
                hits["gateway semantic hit"] += 1
        print("semantic cache over HTTP, %d questions, one client per route, ms:" % args.n)
        print("  %-22s %8s %8s %6s" % ("operation", "p50", "p99", "hits"))
        for k, v in lat.items():
            if v:
                p50, p99 = pct(v)
                print("  %-22s %8.2f %8.2f %6d" % (k, p50, p99, hits[k]))
        if args.crowd:
            for k, (v, h) in crowd(api, s.url + "/api/v1/semantic-cache/crowd", args.crowd).items():
                p50, p99 = pct(v)
                print("  %-42s %8.2f %8.2f %6d" % (k, p50, p99, h))
        print("  load average: %s" % " ".join("%.2f" % x for x in os.getloadavg()))
    finally:
        s.cleanup()
        up.stop()


if __name__ == "__main__":
    main()
