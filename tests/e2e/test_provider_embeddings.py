"""Provider embeddings with ragd's embedding cache in front (the AI-services seed's
emb:text-embedding-3-small:<hash>): a model that is not local goes to the gateway's
upstream (here the fake provider, which counts the texts of every call); a repeated
call costs zero provider calls, a batch with one new text sends exactly that text;
retries and the breaker of the gateway apply; a configured provider gives its models'
dimensions."""
import hashlib
import json

import pytest
import requests

from fake_upstream import fake_vector
from ragdtest import Ragd, assert_error

MODEL = "text-embedding-3-small"


@pytest.fixture(params=["lmdb", "redis"])
def gw(request, upstream):
    env = {"RAGD_UPSTREAM_URL": upstream.url, "RAGD_GATEWAY_RETRY_BASE_MS": "10"}
    if request.param == "redis":
        r = request.getfixturevalue("redis_server")
        import redis as redis_py
        redis_py.Redis(port=r.port, db=5).flushdb()
        env["REDIS_URL"] = r.url(5)
        env["RAGD_KEY_PREFIX"] = "svc"
    s = Ragd(env=env).start()
    s.backend = request.param
    s.redis_port = r.port if request.param == "redis" else None
    upstream.reset()
    yield s
    s.cleanup()


def embed(s, texts, model=MODEL):
    r = s.post("/v1/embeddings", json={"model": model, "input": texts})
    assert r.status_code == 200, r.text
    return r


def close(a, b):
    return max(abs(x - y) for x, y in zip(a, b)) < 1e-6


def test_cached_in_front_of_the_provider(gw, upstream):
    texts = ["protein after training", "knee pain when squatting", "how long to rest"]
    r = embed(gw, texts)
    body = r.json()
    assert body["model"] == MODEL and len(body["data"]) == 3
    for d, t in zip(body["data"], texts):
        assert len(d["embedding"]) == 1536 and close(d["embedding"], fake_vector(t, 1536))
    assert upstream.embedding_batches() == [3]
    assert body["ragd"]["cache_misses"] == 3
    # the same texts again: served from the cache, zero provider calls
    again = embed(gw, texts)
    assert upstream.embedding_batches() == [3]
    assert again.headers["x-ragd-cache-hits"] == "3"
    assert [d["embedding"] for d in again.json()["data"]] == [d["embedding"] for d in body["data"]]
    # a batch with one new text sends exactly that one, answers in input order
    mixed = ["knee pain when squatting", "a brand new question", "protein after training"]
    out = embed(gw, mixed).json()["data"]
    assert upstream.embedding_batches() == [3, 1]
    assert upstream.bodies()[-1]["input"] == ["a brand new question"]
    assert upstream.bodies()[-1]["model"] == MODEL
    for d, t in zip(out, mixed):
        assert close(d["embedding"], fake_vector(t, 1536))
    stats = gw.get("/api/v1/cache/stats").json()["gateway"]["embeddings"]
    assert stats == {"provider_calls": 2, "texts_sent": 4}
    assert "ragd_gateway_embedding_texts_total 4" in gw.get("/metrics").text
    if gw.backend == "redis":
        import redis as redis_py
        keys = {k.decode() for k in redis_py.Redis(port=gw.redis_port, db=5).scan_iter("svc:emb:*")}
        h = hashlib.sha256(texts[0].encode()).hexdigest()
        assert f"svc:emb:{MODEL}:{h}" in keys and len(keys) == 4


def test_openai_sdk_through_ragd(gw, upstream):
    from openai import OpenAI
    client = OpenAI(base_url=gw.url + "/v1", api_key="unused")
    res = client.embeddings.create(model=MODEL, input=["squat form"])
    assert len(res.data[0].embedding) == 1536
    client.embeddings.create(model=MODEL, input=["squat form"])
    assert upstream.embedding_batches() == [1]


def test_provider_failures_retry_then_fail_cleanly(gw, upstream):
    requests.post(upstream.url + "/_control", json={"fail": [{"status": 503}]})
    embed(gw, ["retried once"])
    assert upstream.embedding_batches() == [1, 1]  # one failure, one retry that worked
    requests.post(upstream.url + "/_control", json={"fail": [{"status": 500}] * 3})
    r = gw.post("/v1/embeddings", json={"model": MODEL, "input": ["never answered"]})
    assert_error(r, 502, "upstream_error")
    requests.post(upstream.url + "/_control", json={"fail": []})
    embed(gw, ["never answered"])  # nothing was cached by the failure
    assert upstream.embedding_batches()[-1] == 1


def test_unknown_models_and_configured_dimensions(tmp_path, upstream):
    cfg = tmp_path / "ragd.json"
    cfg.write_text(json.dumps({"providers": [
        {"name": "emb", "base_url": upstream.url, "models": ["house-embed"],
         "dimensions": {"house-embed": 8}}]}))
    s = Ragd(args=["--config", str(cfg)]).start()
    try:
        upstream.reset()
        r = embed(s, ["a", "b"], model="house-embed")
        assert [len(d["embedding"]) for d in r.json()["data"]] == [8, 8]
        embed(s, ["a"], model="house-embed")
        assert upstream.embedding_batches() == [2]
        assert_error(s.post("/v1/embeddings", json={"model": MODEL, "input": "x"}), 404,
                     "model_not_found")
        # the local model still answers locally
        local = s.post("/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": "x"})
        assert len(local.json()["data"][0]["embedding"]) == 384
        assert upstream.embedding_batches() == [2]
    finally:
        s.cleanup()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"providers": [
        {"name": "emb", "base_url": upstream.url, "models": ["m"], "dimensions": {"m": 0}}]}))
    refused = Ragd(args=["--config", str(bad)])
    with pytest.raises(RuntimeError, match="dimensions"):
        refused.start()
    refused.cleanup()


def test_default_upstream_needs_a_known_dimension(gw, upstream):
    r = gw.post("/v1/embeddings", json={"model": "mystery-embed", "input": "x"})
    assert_error(r, 400, "invalid_request")
    assert "dimension" in r.json()["error"]["message"]
    assert upstream.embedding_batches() == []
