"""Embeddings over HTTP with the official openai SDK: parity with
sentence-transformers (the committed fixture), base64 and float formats, the
embedding cache text by text, the seed contract, and bad input."""
import base64
import json
import os
import struct

import numpy as np
import pytest
from openai import OpenAI, BadRequestError, NotFoundError

from ragdtest import assert_error

FIX = os.path.join(os.path.dirname(__file__), "..", "fixtures")
MODEL = "all-MiniLM-L6-v2"


def fixture():
    with open(os.path.join(FIX, "embed_texts.json"), encoding="utf-8") as f:
        texts = json.load(f)["texts"]
    ref = np.fromfile(os.path.join(FIX, "embed_ref.f32"), dtype="<f4").reshape(len(texts), 384)
    return texts, ref


def client(ragd):
    return OpenAI(base_url=ragd.url + "/v1", api_key="unused", max_retries=0)


def usable(t):
    # the API refuses empty strings (as OpenAI does); NUL-bearing texts are fine in JSON
    return t != ""


def test_openai_sdk_matches_sentence_transformers(ragd):
    texts, ref = fixture()
    idx = [i for i, t in enumerate(texts) if usable(t)]
    got = []
    c = client(ragd)
    for start in range(0, len(idx), 64):
        chunk = idx[start:start + 64]
        r = c.embeddings.create(model=MODEL, input=[texts[i] for i in chunk])
        assert [d.index for d in r.data] == list(range(len(chunk)))
        got += [d.embedding for d in r.data]
    got = np.array(got, dtype=np.float64)
    cos = np.sum(got * ref[idx], axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(ref[idx], axis=1))
    assert cos.min() >= 0.9999, (cos.min(), texts[idx[int(cos.argmin())]][:80])


def test_float_and_base64_formats_agree(ragd):
    import requests
    body = {"model": MODEL, "input": ["strength training for beginners"]}
    f = requests.post(ragd.url + "/v1/embeddings", json=dict(body, encoding_format="float")).json()
    b = requests.post(ragd.url + "/v1/embeddings", json=dict(body, encoding_format="base64")).json()
    v1 = np.array(f["data"][0]["embedding"], dtype=np.float32)
    v2 = np.frombuffer(base64.b64decode(b["data"][0]["embedding"]), dtype="<f4")
    assert v1.shape == (384,) and np.allclose(v1, v2)
    assert f["usage"]["prompt_tokens"] == f["usage"]["total_tokens"] > 2
    assert abs(np.linalg.norm(v1) - 1) < 1e-4


def test_batch_reuses_cached_vectors_text_by_text(ragd):
    import requests
    url = ragd.url + "/v1/embeddings"
    first = requests.post(url, json={"model": MODEL, "input": ["a squat", "a lunge"]})
    assert first.headers["x-ragd-cache-hits"] == "0"
    second = requests.post(url, json={"model": MODEL, "input": ["a plank", "a squat", "a lunge"]})
    j = second.json()
    assert j["ragd"] == {"cache_hits": 2, "cache_misses": 1, "truncated": []}
    # order is the input order, and cached vectors are the computed ones
    a = first.json()["data"]
    assert j["data"][1]["embedding"] == a[0]["embedding"]
    assert j["data"][2]["embedding"] == a[1]["embedding"]
    stats = ragd.get("/api/v1/cache/stats").json()["prefixes"]["emb"]
    assert stats["hits"] == 2 and stats["misses"] == 3 and stats["keys"] == 3


def test_cache_keys_are_named_by_model(redis_server):
    from ragdtest import Ragd
    r = redis_server.client()
    r.flushall()
    s = Ragd(env={"REDIS_URL": redis_server.url(0)}).start()
    try:
        s.post("/v1/embeddings", json={"model": MODEL, "input": "hello"})
        keys = [k.decode() for k in r.scan_iter("ragd:emb:*")]
        assert len(keys) == 1 and keys[0].startswith(f"ragd:emb:{MODEL}:")
        assert len(keys[0].rsplit(":", 1)[1]) == 64
        assert 604790 <= r.ttl(keys[0]) <= 604800
    finally:
        s.cleanup()


def test_long_texts_are_truncated_and_say_so(ragd):
    long = "word " * 400
    r = ragd.post("/v1/embeddings", json={"model": MODEL, "input": ["short", long]})
    assert r.status_code == 200
    assert r.json()["ragd"]["truncated"] == [1]
    assert r.headers["x-ragd-truncated"] == "1"


def test_seed_contract_generate(ragd):
    r = ragd.post("/api/v1/embeddings/generate",
                  json={"text": "knee pain when squatting", "user_id": "u1",
                        "content_type": "question", "metadata": {"a": 1}})
    j = r.json()
    assert r.status_code == 200 and j["dimension"] == 384 and len(j["embedding"]) == 384
    assert j["model"] == MODEL and j["cached"] is False
    assert ragd.post("/api/v1/embeddings/generate", json={"text": "knee pain when squatting"}).json()["cached"]


def test_bad_input(ragd):
    c = client(ragd)
    with pytest.raises(BadRequestError):
        c.embeddings.create(model=MODEL, input=[])
    with pytest.raises(BadRequestError):
        c.embeddings.create(model=MODEL, input="")
    with pytest.raises(NotFoundError):
        c.embeddings.create(model="text-embedding-3-small", input="x")
    url = "/v1/embeddings"
    assert_error(ragd.post(url, json={"model": MODEL, "input": ["ok", 3]}), 400, "invalid_input")
    assert_error(ragd.post(url, json={"model": MODEL, "input": [[1, 2, 3]]}), 400, "invalid_input")
    assert_error(ragd.post(url, json={"model": MODEL}), 400, "invalid_input")
    assert_error(ragd.post(url, json={"model": MODEL, "input": "x", "dimensions": 128}), 400)
    bad_utf8 = b'{"model": "all-MiniLM-L6-v2", "input": "caf\xc3"}'
    err = assert_error(ragd.post(url, data=bad_utf8), 400, "invalid_json")  # JSON is UTF-8
    assert "UTF-8" in err["message"]
    err = assert_error(ragd.post(url, json={"model": MODEL, "input": ["x"] * 3000}), 413, "too_many_inputs")
    assert "2048" in err["message"]
    assert_error(ragd.post("/api/v1/embeddings/generate", json={"text": ""}), 400, "invalid_input")
    assert ragd.get("/api/v1/cache/stats").json()["prefixes"].get("emb", {}).get("keys", 0) == 0


def test_health_lists_the_model(ragd_lmdb):
    assert ragd_lmdb.get("/health").json()["models_loaded"] == [MODEL]


def _started(env):
    from ragdtest import Ragd
    return Ragd(env=dict(env, RAGD_LOG_LEVEL="info")).start()


def test_health_and_log_say_which_precision_was_measured():
    """Default embed_precision=auto: FP32 measured first, the chosen candidate passed
    the 0.9999 bar and is the precision and kernel in effect; the start-up log says so."""
    s = _started({})
    try:
        emb = s.get("/health").json()["details"]["embedding"]
        assert emb["precision_chosen_by"] == "measurement"
        m = emb["precision_measurement"]
        assert m["probe_texts"] >= 4 and m["probe_tokens"] > 300 and m["startup_ms"] > 0
        cands = m["candidates"]
        assert cands[0]["precision"] == "fp32" and cands[0]["passed"]
        assert cands[0]["min_cosine"] == 1
        chosen = [c for c in cands if c["precision"] == emb["precision"]]
        assert len(chosen) == 1 and chosen[0]["passed"] and chosen[0]["min_cosine"] >= 0.9999
        assert chosen[0]["kernel"] == emb["kernel"]
        assert "embedding precision %s chosen by measurement" % emb["precision"] in s.logs()
    finally:
        s.cleanup()


def test_a_restart_reuses_the_measured_precision():
    """The measurement is kept in the data directory: a restart on the same CPU,
    weights and version reuses it (health and log say so), --remeasure measures
    again, and a file that does not parse is measured over and rewritten."""
    s = _started({})
    try:
        def measurement():
            emb = s.get("/health").json()["details"]["embedding"]
            assert emb["precision_chosen_by"] == "measurement"
            return emb["precision"], emb["kernel"], emb["precision_measurement"]
        first = measurement()
        assert first[2]["source"] == "measured"
        path = os.path.join(s.data_dir, "embed-precision")
        assert os.path.exists(path)
        s.restart()
        again = measurement()
        assert again[2]["source"] == "reused"
        assert again[:2] == first[:2]
        assert [c["precision"] for c in again[2]["candidates"]] == \
            [c["precision"] for c in first[2]["candidates"]]
        assert "reused from" in s.logs()
        s.stop()
        s.args = ["--remeasure"]
        s.start()
        assert measurement()[2]["source"] == "measured"
        s.stop()
        s.args = []
        with open(path, "w") as f:
            f.write("not a precision file\n")
        s.start()
        assert measurement()[2]["source"] == "measured"
        s.restart()
        assert measurement()[2]["source"] == "reused"
    finally:
        s.cleanup()


def test_on_redis_without_a_data_dir_the_precision_is_measured_each_start(redis_server):
    """No data directory (Redis, and none made yet): nothing to keep the choice
    in, so every start measures, and the directory is not made for it."""
    import shutil
    import tempfile
    import redis as redis_py
    from ragdtest import Ragd
    redis_py.Redis(port=redis_server.port, db=9).flushdb()
    root = tempfile.mkdtemp(prefix="ragd-nodir-")
    data = os.path.join(root, "absent")
    s = Ragd(env={"REDIS_URL": redis_server.url(9)}, data_dir=data).start()
    try:
        for _ in range(2):
            m = s.get("/health").json()["details"]["embedding"]["precision_measurement"]
            assert m["source"] == "measured"
            s.restart()
        assert not os.path.exists(data)
    finally:
        s.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def test_configured_precision_is_not_measured():
    s = _started({"RAGD_EMBED_PRECISION": "fp32"})
    try:
        emb = s.get("/health").json()["details"]["embedding"]
        assert emb["precision"] == "fp32" and emb["precision_chosen_by"] == "setting"
        assert "precision_measurement" not in emb
        assert "embedding precision fp32 (set by embed_precision)" in s.logs()
    finally:
        s.cleanup()
