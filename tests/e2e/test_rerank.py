"""Re-ranking over HTTP: the seed contract /api/v1/rerank and the Cohere/Jina shape
/v1/rerank, with each of the three scorers - the embedding cosine fallback (nothing
configured), the local test cross-encoder (whose scores must equal transformers'
reference), and a remote /rerank provider (a fake one on loopback, in both wire
shapes, and down: the answer degrades and says so)."""
import http.server
import json
import math
import os
import threading

import pytest

from ragdtest import ROOT, Ragd, assert_error

FIXTURE = os.path.join(ROOT, "tests", "fixtures", "rerank_ref.json")
CACHE = os.environ.get("RAGD_MODEL_CACHE", os.path.expanduser("~/.cache/ragd/models"))
CE_DIR = os.environ.get("RAGD_RERANK_TEST_MODEL_DIR",
                        os.path.join(CACHE, "ragd-test-cross-encoder"))

QUERY = "how much protein should I eat after lifting weights"
DOCS = [
    "The Eiffel Tower is in Paris and was finished in 1889.",
    "After a strength workout, 20 to 40 grams of protein help muscles recover.",
    "Knee pain in runners often comes from weak hips.",
    "Protein intake of 1.6 g per kg of body weight supports muscle growth from training.",
]


@pytest.fixture
def ragd_ce():
    s = Ragd(env={"RAGD_RERANK_MODEL_DIR": CE_DIR, "RAGD_RERANK_PRECISION": "fp32"}).start()
    yield s
    s.cleanup()


class FakeReranker:
    """A /rerank provider on loopback: scores = document length (or fails)."""

    def __init__(self, wire="cohere", fail=False):
        self.requests = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append((dict(self.headers), body))
                if fail:
                    self.send_response(500)
                    self.end_headers()
                    return
                texts = body["documents" if wire == "cohere" else "texts"]
                scored = [{"index": i, ("relevance_score" if wire == "cohere" else "score"):
                           len(t) / 100.0} for i, t in enumerate(texts)]
                scored.sort(key=lambda r: -len(texts[r["index"]]))
                out = {"results": scored} if wire == "cohere" else scored
                data = json.dumps(out).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1/rerank"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def remote_ragd(tmp_path, url, wire="cohere", key_env="RERANK_TEST_KEY"):
    cfg = tmp_path / "ragd.json"
    cfg.write_text(json.dumps({"reranker": {"url": url, "api_key_env": key_env,
                                            "model": "fake-rerank-v1", "format": wire,
                                            "timeout_ms": 3000}}))
    return Ragd(env={"RAGD_CONFIG": str(cfg), key_env: "sk-test-123"}).start()


def test_cosine_fallback_says_so(ragd):
    r = ragd.post("/api/v1/rerank", json={"query": QUERY, "candidates": DOCS, "user_id": "u1"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "cosine:all-MiniLM-L6-v2"
    assert body["rerank"]["kind"] == "cosine"
    assert "cosine" in body["rerank"]["fallback"]
    assert r.headers["x-ragd-rerank"] == "full"
    out = body["reranked"]
    assert [c["original_rank"] for c in out][:2] in ([1, 3], [3, 1])
    assert {c["original_rank"] for c in out[2:]} == {0, 2}
    scores = [c["relevance_score"] for c in out]
    assert scores == sorted(scores, reverse=True)
    assert all(c["content"] == DOCS[c["original_rank"]] for c in out)


def test_seed_contract_objects_top_k_and_min_score(ragd):
    cands = [{"content": d, "metadata": {"n": i}, "id": f"d{i}"} for i, d in enumerate(DOCS)]
    r = ragd.post("/api/v1/rerank", json={"query": QUERY, "candidates": cands, "top_k": 2})
    assert r.status_code == 200, r.text
    out = r.json()["reranked"]
    assert len(out) == 2
    for c in out:
        assert c["metadata"] == {"n": c["original_rank"]} and c["id"] == f"d{c['original_rank']}"
    top = out[0]["relevance_score"]
    r = ragd.post("/api/v1/rerank", json={"query": QUERY, "candidates": DOCS,
                                          "min_score": top - 1e-6})
    assert [c["original_rank"] for c in r.json()["reranked"]] == [out[0]["original_rank"]]


def test_depth_leaves_the_rest_unscored_in_order(ragd):
    r = ragd.post("/api/v1/rerank", json={"query": QUERY, "candidates": DOCS, "depth": 2})
    assert r.status_code == 200
    assert r.headers["x-ragd-rerank"] == "partial"
    out = r.json()["reranked"]
    assert [c["original_rank"] for c in out][2:] == [2, 3]
    assert out[2]["relevance_score"] is None and out[0]["relevance_score"] is not None
    assert r.json()["rerank"]["scored"] == 2


def test_cross_encoder_matches_transformers(ragd_ce):
    """Every fixture pair (146, 22 truncated) over HTTP within 1e-4 of transformers."""
    with open(FIXTURE) as f:
        pairs = json.load(f)["pairs"]
    checked = 0
    for q in dict.fromkeys(p["query"] for p in pairs):
        group = [p for p in pairs if p["query"] == q]
        r = ragd_ce.post("/api/v1/rerank", json={"query": q,
                                                 "candidates": [p["passage"] for p in group]})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["model"] == "ragd-test-cross-encoder"
        assert body["rerank"]["kind"] == "cross-encoder" and "fallback" not in body["rerank"]
        for c in body["reranked"]:
            assert abs(c["relevance_score"] - group[c["original_rank"]]["score"]) <= 1e-4
            checked += 1
    assert checked == len(pairs) >= 100


def test_cohere_shape(ragd_ce):
    r = ragd_ce.post("/v1/rerank", json={"model": "org/ragd-test-cross-encoder", "query": QUERY,
                                         "documents": [{"text": d} for d in DOCS],
                                         "top_n": 3, "return_documents": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "ragd-test-cross-encoder"
    assert len(body["results"]) == 3
    for res in body["results"]:
        assert res["document"]["text"] == DOCS[res["index"]]
    scores = [res["relevance_score"] for res in body["results"]]
    assert scores == sorted(scores, reverse=True)
    assert body["usage"]["total_tokens"] > 4 * 10
    assert body["meta"]["billed_units"] == {"search_units": 1,
                                            "input_tokens": body["usage"]["total_tokens"]}
    r = ragd_ce.post("/v1/rerank", json={"query": QUERY, "documents": DOCS})
    assert "document" not in r.json()["results"][0] and len(r.json()["results"]) == 4


def test_unconfigured_model_is_refused_unless_fallback(ragd_ce):
    body = {"model": "rerank-english-v3.0", "query": QUERY, "documents": DOCS}
    for path in ("/v1/rerank", "/v2/rerank"):
        err = assert_error(ragd_ce.post(path, json=body), 400, "model_not_found")
        assert "ragd-test-cross-encoder" in err["message"] and "fallback" in err["message"]
        r = ragd_ce.post(path, json={**body, "fallback": True})
        assert r.status_code == 200, r.text
    assert_error(ragd_ce.post("/v1/rerank", json={**body, "fallback": "yes"}), 400,
                 "invalid_request")
    assert_error(ragd_ce.post("/v1/rerank", json={**body, "model": 7}), 400, "invalid_request")


def test_cohere_v2_shape(ragd_ce):
    r = ragd_ce.post("/v2/rerank", json={"model": "ragd-test-cross-encoder", "query": QUERY,
                                         "documents": DOCS, "top_n": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"id", "results", "meta"}
    assert len(body["results"]) == 2 and set(body["results"][0]) == {"index", "relevance_score"}
    v1 = ragd_ce.post("/v1/rerank", json={"query": QUERY, "documents": DOCS, "top_n": 2})
    assert [(x["index"], x["relevance_score"]) for x in body["results"]] == \
        [(x["index"], x["relevance_score"]) for x in v1.json()["results"]]
    assert body["meta"]["api_version"] == {"version": "2"}
    assert body["meta"]["billed_units"]["search_units"] == 1
    assert body["meta"]["billed_units"]["input_tokens"] > 4 * 10
    assert_error(ragd_ce.post("/v2/rerank", json={"query": QUERY, "documents": DOCS}), 400,
                 "invalid_request")
    assert_error(ragd_ce.post("/v2/rerank", json={"model": "ragd-test-cross-encoder",
                                                  "query": QUERY, "documents": [{"text": "a"}]}),
                 400, "invalid_request")


def test_cosine_fallback_bills_the_tokens_it_embedded(ragd_lmdb):
    r = ragd_lmdb.post("/v1/rerank", json={"query": "a b", "documents": ["c", "d e f"]})
    assert r.status_code == 200, r.text
    # [CLS] a b [SEP] + [CLS] c [SEP] + [CLS] d e f [SEP]
    assert r.json()["usage"]["total_tokens"] == 4 + 3 + 5
    assert r.json()["meta"]["billed_units"]["input_tokens"] == 12


def test_bad_input(ragd_lmdb):
    post = ragd_lmdb.post
    assert_error(post("/api/v1/rerank", json={"query": QUERY, "candidates": []}), 400,
                 "invalid_request")
    assert_error(post("/api/v1/rerank", json={"query": QUERY, "candidates": DOCS, "top_k": 0}),
                 400, "invalid_request")
    assert_error(post("/api/v1/rerank", json={"candidates": DOCS}), 400, "invalid_request")
    assert_error(post("/api/v1/rerank", json={"query": "", "candidates": DOCS}), 400)
    assert_error(post("/api/v1/rerank", json={"query": QUERY, "candidates": ["a", 3]}), 400)
    assert_error(post("/api/v1/rerank", json={"query": QUERY, "candidates": "abc"}), 400)
    assert_error(post("/api/v1/rerank", json={"query": QUERY, "candidates": DOCS,
                                              "user_id": 7}), 400)
    assert_error(post("/v1/rerank", json={"query": QUERY, "documents": DOCS, "top_n": -1}), 400)
    assert_error(post("/v1/rerank", json={"query": QUERY, "documents": DOCS,
                                          "return_documents": "yes"}), 400)
    assert_error(post("/v1/rerank", data=b"{nope"), 400, "invalid_json")


def test_candidate_limit_is_configurable():
    s = Ragd(env={"RAGD_RERANK_MAX_CANDIDATES": "3"}).start()
    try:
        err = assert_error(s.post("/api/v1/rerank", json={"query": QUERY, "candidates": DOCS}),
                           413, "too_many_candidates")
        assert "rerank_max_candidates" in err["message"] and "3" in err["message"]
        assert s.post("/v1/rerank", json={"query": QUERY, "documents": DOCS[:3]}).ok
    finally:
        s.cleanup()


@pytest.mark.parametrize("wire", ["cohere", "tei"])
def test_remote_provider(tmp_path, wire):
    fake = FakeReranker(wire)
    s = remote_ragd(tmp_path, fake.url, wire)
    try:
        tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        r = s.post("/api/v1/rerank", json={"query": QUERY, "candidates": DOCS, "top_k": 3},
                   headers={"traceparent": tp})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["model"] == "fake-rerank-v1" and body["rerank"]["kind"] == "remote"
        # the caller's trace goes on, as ragd's new client span
        up = fake.requests[-1][0]["traceparent"].split("-")
        assert up[1] == tp.split("-")[1] and up[2] not in (tp.split("-")[2], "0" * 16), up
        assert up[3] == "01"
        assert r.headers["x-ragd-rerank"] == "full"
        by_len = sorted(range(4), key=lambda i: -len(DOCS[i]))
        assert [c["original_rank"] for c in body["reranked"]] == by_len[:3]
        assert body["reranked"][0]["relevance_score"] == pytest.approx(len(DOCS[by_len[0]]) / 100)
        headers, sent = fake.requests[-1]
        assert headers["Authorization"] == "Bearer sk-test-123"
        assert sent["query"] == QUERY
        assert sent["documents" if wire == "cohere" else "texts"] == DOCS
        if wire == "cohere":
            assert sent["model"] == "fake-rerank-v1"
        assert "sk-test-123" not in s.logs()
    finally:
        s.cleanup()
        fake.close()


def test_remote_failure_degrades_with_header(tmp_path):
    fake = FakeReranker(fail=True)
    s = remote_ragd(tmp_path, fake.url)
    try:
        r = s.post("/api/v1/rerank", json={"query": QUERY, "candidates": DOCS})
        assert r.status_code == 200, r.text
        assert r.headers["x-ragd-rerank"] == "degraded"
        body = r.json()
        assert [c["original_rank"] for c in body["reranked"]] == [0, 1, 2, 3]
        assert all(c["relevance_score"] is None for c in body["reranked"])
        assert body["rerank"]["degraded"] and "500" in body["rerank"]["reason"]
        fake.close()
        r = s.post("/v1/rerank", json={"query": QUERY, "documents": DOCS})
        assert r.headers["x-ragd-rerank"] == "degraded"
        assert "unreachable" in r.json()["ragd"]["reason"]
    finally:
        s.cleanup()


def test_remote_config_errors_are_clear(tmp_path):
    cfg = tmp_path / "bad.json"
    cfg.write_text(json.dumps({"reranker": {"url": "ftp://x", "model": "m"}}))
    s = Ragd(env={"RAGD_CONFIG": str(cfg)})
    with pytest.raises(RuntimeError, match="reranker.url"):
        s.start()
    s.cleanup()
    cfg.write_text(json.dumps({"reranker": {"url": "http://127.0.0.1:9/rerank",
                                            "api_key_env": "RAGD_TEST_UNSET_KEY"}}))
    s = Ragd(env={"RAGD_CONFIG": str(cfg)})
    with pytest.raises(RuntimeError, match="RAGD_TEST_UNSET_KEY"):
        s.start()
    s.cleanup()


def test_tei_rerank_raw_scores_are_the_cross_encoders_logits(ragd_ce):
    texts = DOCS[:3]
    plain = ragd_ce.post("/rerank", json={"query": QUERY, "texts": texts}).json()
    raw = ragd_ce.post("/rerank", json={"query": QUERY, "texts": texts, "raw_scores": True})
    assert raw.status_code == 200, raw.text
    by_index = {x["index"]: x["score"] for x in raw.json()}
    for x in plain:
        assert 1 / (1 + math.exp(-by_index[x["index"]])) == pytest.approx(x["score"], abs=1e-5)
