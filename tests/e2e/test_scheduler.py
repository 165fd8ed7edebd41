"""The model scheduler end to end: while one client's bulk upsert of thousands
of chunks is being embedded, searches with new queries on another namespace and
/v1/embeddings calls are answered before the upsert returns, and the upsert
still completes. /health and /metrics show the queues per class and the bulk
passes parked (preempted) for interactive work. Functional
assertions only (what finished before what), never wall-clock times."""
import threading
import time

import requests

from ragdtest import Ragd

WORDS = ("river stone maple copper lantern harbor meadow falcon orchard ember "
         "glacier violet timber canyon saddle thunder willow marble cobalt prairie "
         "beacon quartz heron cedar tundra walnut ripple summit anchor juniper").split()
# Enough work that the upsert outlasts a handful of interactive calls even on an
# idle machine: FP32 (the slowest precision) and 4,000 texts.
N_DOCS = 4000


def _doc(i):
    # unique short texts (the embedding cache must not answer them), one chunk each
    w = [WORDS[(i * k + k * k) % len(WORDS)] for k in range(1, 10)]
    return {"id": f"d{i}", "text": f"record {i}: " + " ".join(w) + f" number {i * 7919 % 100003}"}


def _model(s):
    return s.get("/health").json()["details"]["scheduler"]


def test_interactive_answered_during_bulk_upsert():
    s = Ragd(env={"RAGD_KB_BATCH_MAX": str(N_DOCS), "RAGD_KB_MAX_REQUEST_CHUNKS": "100000",
                  "RAGD_EMBED_PRECISION": "fp32"}).start()
    try:
        for ns in ("bulk", "small"):
            assert s.post("/api/v1/namespaces", json={"name": ns}).status_code == 201
        r = s.post("/api/v1/namespaces/small/documents", json={"documents": [
            {"id": "a", "text": "the knee hurts after squats"},
            {"id": "b", "text": "bench press with a narrow grip"}]})
        assert r.status_code == 200, r.text
        done = threading.Event()
        result = {}

        def upsert():
            resp = requests.post(s.url + "/api/v1/namespaces/bulk/documents",
                                 json={"documents": [_doc(i) for i in range(N_DOCS)], "wait": True},
                                 timeout=1800)
            result["resp"] = resp
            done.set()

        t = threading.Thread(target=upsert)
        t.start()
        deadline = time.time() + 300
        while _model(s)["bulk"]["queue_depth"] == 0:  # chunked, now being embedded
            assert not done.is_set(), result["resp"].text
            assert time.time() < deadline
            time.sleep(0.05)
        answered = 0
        for k in range(3):
            sr = s.post("/api/v1/search/hybrid", json={
                "query": f"sore knee question {k}", "namespaces": ["small"],
                "search_type": "hybrid", "limit": 2})
            assert sr.status_code == 200, sr.text
            assert sr.json()["results"]
            assert not done.is_set()  # the upsert has not returned yet
            er = s.post("/v1/embeddings", json={"input": f"five new words number {k}",
                                                "model": "all-MiniLM-L6-v2"})
            assert er.status_code == 200, er.text
            assert len(er.json()["data"][0]["embedding"]) == 384
            assert not done.is_set()
            answered += 2
        sched = _model(s)
        assert sched["bulk"]["queue_depth"] == 1 and sched["bulk_tenants"] == 1
        assert sched["interactive"]["requests"] >= answered
        t.join()
        resp = result["resp"]
        assert resp.status_code == 200, resp.text
        assert resp.json()["upserted"] == N_DOCS
        assert s.get("/api/v1/namespaces/bulk").json()["stats"]["documents"] == N_DOCS
        sched = _model(s)
        assert sched["bulk"]["queue_depth"] == 0 and sched["interactive"]["queue_depth"] == 0
        assert sched["bulk"]["forward_passes"] > 10  # cut into micro-batches
        m = s.get("/metrics").text
        assert 'ragd_model_queue_depth{class="bulk"} 0' in m
        assert 'ragd_model_queue_wait_seconds_count{class="interactive"}' in m
        assert 'ragd_model_forward_seconds_count{class="bulk"}' in m
        # bulk passes parked for the interactive calls: the same count in both places
        assert f"\nragd_embed_preemptions_total {sched['preemptions']}\n" in m
    finally:
        s.cleanup()
