"""The Hugging Face TEI dialect: /embed, /rerank, /info, /tokenize with TEI's
documented payloads and answer shapes (bare arrays, {"error", "error_type"}
errors with TEI's statuses), and huggingface_hub's InferenceClient pointed at
ragd. Vectors must equal /v1/embeddings' for the same texts."""
import numpy as np
import pytest
from huggingface_hub import InferenceClient

QUERY = "What is Deep Learning?"
TEXTS = ["Deep Learning is not...", "Deep learning is a subset of machine learning."]


def tei_error(r, status, etype):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) >= {"error", "error_type"} and isinstance(body["error"], str)
    assert body["error_type"] == etype, body
    return body


def openai_vecs(ragd, texts):
    r = ragd.post("/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": texts})
    assert r.status_code == 200, r.text
    return np.array([d["embedding"] for d in r.json()["data"]], dtype=np.float32)


def test_embed_string_and_list(ragd_lmdb):
    r = ragd_lmdb.post("/embed", json={"inputs": "What is Deep Learning?"})
    assert r.status_code == 200, r.text
    one = r.json()
    assert len(one) == 1 and len(one[0]) == 384
    r = ragd_lmdb.post("/embed", json={"inputs": TEXTS, "normalize": True, "truncate": False,
                                       "truncation_direction": "Right"})
    two = np.array(r.json(), dtype=np.float32)
    assert two.shape == (2, 384)
    assert np.allclose(two, openai_vecs(ragd_lmdb, TEXTS), atol=1e-6)
    assert np.allclose(np.linalg.norm(two, axis=1), 1.0, atol=1e-5)


def test_embed_truncation(ragd_lmdb):
    long = "word " * 600
    assert ragd_lmdb.post("/embed", json={"inputs": long}).status_code == 200
    assert ragd_lmdb.post("/embed", json={"inputs": long, "truncate": True,
                                          "truncation_direction": "right"}).status_code == 200
    err = tei_error(ragd_lmdb.post("/embed", json={"inputs": long, "truncate": False}), 413,
                    "validation")
    assert "256" in err["error"]
    err = tei_error(ragd_lmdb.post("/embed", json={"inputs": long, "truncation_direction":
                                                   "left"}), 422, "validation")
    assert "left" in err["error"]
    # a text that fits is the same whichever side would be cut
    assert ragd_lmdb.post("/embed", json={"inputs": "short", "truncation_direction":
                                          "Left"}).status_code == 200


def test_embed_errors(ragd_lmdb):
    post = ragd_lmdb.post
    tei_error(post("/embed", json={"inputs": []}), 400, "empty")
    tei_error(post("/embed", json={"inputs": [[101, 2054]]}), 422, "validation")
    tei_error(post("/embed", json={"text": "x"}), 422, "validation")
    tei_error(post("/embed", data=b"{nope", headers={"Content-Type": "application/json"}),
              422, "validation")
    tei_error(post("/embed", json={"inputs": "x", "normalize": "yes"}), 422, "validation")
    tei_error(post("/embed", json={"inputs": "x", "normalize": False}), 422, "validation")
    tei_error(post("/embed", json={"inputs": "x", "truncation_direction": "up"}), 422,
              "validation")
    tei_error(post("/embed", json={"inputs": ["x"] * 10000}), 413, "validation")


def test_info(ragd_lmdb):
    r = ragd_lmdb.get("/info")
    assert r.status_code == 200
    info = r.json()
    assert info["model_id"] == "all-MiniLM-L6-v2"
    assert info["model_type"] == {"embedding": {"pooling": "mean"}}
    assert info["max_input_length"] == 256 and info["dimension"] == 384
    assert info["max_batch_tokens"] == 256 * info["max_client_batch_size"]
    assert info["model_dtype"] in ("float32", "bfloat16") and info["auto_truncate"] is True
    assert isinstance(info["version"], str)


def test_tokenize(ragd_lmdb):
    r = ragd_lmdb.post("/tokenize", json={"inputs": "test Héllo"})
    assert r.status_code == 200, r.text
    toks = r.json()
    assert len(toks) == 1
    assert toks[0][0] == {"id": 101, "text": "[CLS]", "special": True, "start": None,
                          "stop": None}
    assert toks[0][-1]["text"] == "[SEP]" and toks[0][-1]["special"] is True
    assert toks[0][1] == {"id": 3231, "text": "test", "special": False, "start": 0, "stop": 4}
    assert toks[0][2]["text"] == "Héllo" and toks[0][2]["start"] == 5
    r = ragd_lmdb.post("/tokenize", json={"inputs": ["a b", "c"], "add_special_tokens": False})
    assert [[t["text"] for t in row] for row in r.json()] == [["a", "b"], ["c"]]


def test_rerank(ragd_lmdb):
    r = ragd_lmdb.post("/rerank", json={"query": QUERY, "texts": TEXTS})
    assert r.status_code == 200, r.text
    ranks = r.json()
    assert sorted(x["index"] for x in ranks) == [0, 1]
    assert all(set(x) == {"index", "score"} for x in ranks)
    assert ranks[0]["score"] >= ranks[1]["score"]
    r = ragd_lmdb.post("/rerank", json={"query": QUERY, "texts": TEXTS, "raw_scores": True,
                                        "return_text": True, "truncate": False})
    for x in r.json():
        assert x["text"] == TEXTS[x["index"]]
    tei_error(ragd_lmdb.post("/rerank", json={"query": QUERY, "texts": []}), 400, "empty")
    tei_error(ragd_lmdb.post("/rerank", json={"texts": TEXTS}), 422, "validation")
    tei_error(ragd_lmdb.post("/rerank", json={"query": QUERY, "texts": "abc"}), 422,
              "validation")


def test_rerank_refuses_an_unconfigured_model(ragd_lmdb):
    body = {"query": QUERY, "texts": TEXTS, "model": "BAAI/bge-reranker-base"}
    err = tei_error(ragd_lmdb.post("/rerank", json=body), 400, "validation")
    assert "bge-reranker-base" in err["error"] and "fallback" in err["error"]
    assert ragd_lmdb.post("/rerank", json={**body, "fallback": True}).status_code == 200
    ok = ragd_lmdb.post("/rerank", json={**body, "model": "cosine:all-MiniLM-L6-v2"})
    assert ok.status_code == 200


def test_huggingface_hub_client(ragd_lmdb):
    c = InferenceClient(model=ragd_lmdb.url)
    v = c.feature_extraction("What is Deep Learning?")
    assert v.shape == (1, 384)
    assert np.allclose(v[0], openai_vecs(ragd_lmdb, ["What is Deep Learning?"])[0], atol=1e-6)
    v = c.feature_extraction("Deep Learning", normalize=True, truncate=True,
                             truncation_direction="Right")
    assert v.shape == (1, 384)
