"""Namespaces embedded by a provider model (issue 16), on both stores, with the fake
provider counting its calls: the dimension comes from the model (known, configured,
declared or learnt with one probe call), documents and queries go through the
embedding cache emb:<model>:<hash>, a search across namespaces of different models
embeds the query once per model, RAG works on them, provider failures are a clean
502/503 with nothing written, and concurrent misses of one text make one call."""
import concurrent.futures
import hashlib

import requests

from ragdtest import assert_error
from test_kb import NS, mk, search, upsert
from test_provider_embeddings import gw  # noqa: F401 - ragd before it, on both stores

MODEL = "text-embedding-3-small"


DOCS = [{"id": "squat", "text": "knee pain when squatting deep"},
        {"id": "bench", "text": "bench press grip width"},
        {"id": "run", "text": "interval running for endurance"}]


def test_provider_namespace(gw, upstream):
    info = mk(gw, "prov", embedding_model=MODEL)
    assert info["settings"]["embedding_model"] == MODEL
    assert info["settings"]["dimension"] == 1536
    assert upstream.embedding_batches() == []  # a known dimension needs no call
    assert upsert(gw, "prov", DOCS)["chunks"] == 3
    assert upstream.embedding_batches() == [3]
    hits = search(gw, namespaces=["prov"], query="bench press grip width",
                  search_type="semantic", limit=1)
    assert hits[0]["document_id"] == "bench" and hits[0]["score"] > 0.999  # the same text
    assert upstream.embedding_batches() == [3]  # the query's text was cached by the upsert
    search(gw, namespaces=["prov"], query="a new question", limit=2)
    search(gw, namespaces=["prov"], query="a new question", limit=2)
    assert upstream.embedding_batches() == [3, 1]
    # across namespaces of two models: the query is embedded once per model
    mk(gw, "local")
    upsert(gw, "local", [{"id": "l1", "text": "grip width on the bench press"}])
    both = search(gw, namespaces=["prov", "local"], query="what grip for the bench press",
                  search_type="semantic", limit=5)
    assert {h["namespace"] for h in both} == {"prov", "local"}
    assert upstream.embedding_batches() == [3, 1, 1]
    assert upstream.bodies()[-1]["input"] == ["what grip for the bench press"]
    if gw.backend == "redis":
        import redis as redis_py
        keys = {k.decode() for k in redis_py.Redis(port=gw.redis_port, db=5).scan_iter("*emb:*")}
        h = hashlib.sha256(DOCS[0]["text"].encode()).hexdigest()
        assert any(k.endswith(f"emb:{MODEL}:{h}") for k in keys), keys
    # RAG over it
    r = gw.post("/api/v1/rag/query", json={"query": "knee pain when squatting deep",
                                           "namespaces": ["prov"], "max_context_items": 2})
    assert r.status_code == 200, r.text
    assert r.json()["context"][0]["content"] == DOCS[0]["text"]
    # persisted: after a restart, no re-embedding and the same dimension
    calls = len(upstream.embedding_batches())
    gw.restart()
    assert gw.get(f"{NS}/prov").json()["settings"]["dimension"] == 1536
    assert search(gw, namespaces=["prov"], query="interval running for endurance",
                  search_type="semantic", limit=1)[0]["document_id"] == "run"
    assert len(upstream.embedding_batches()) == calls  # the cache answered


def test_dimensions_declared_learnt_or_refused(gw, upstream):
    # unknown to ragd: one probe call learns it
    info = mk(gw, "mystery", embedding_model="mystery-embed")
    assert info["settings"]["dimension"] == 8 and upstream.embedding_batches() == [1]
    upsert(gw, "mystery", DOCS[:1])
    assert search(gw, namespaces=["mystery"], query=DOCS[0]["text"], search_type="semantic",
                  limit=1)[0]["document_id"] == "squat"
    # declared: no call; the model name is kept as given (a provider's, slash and all)
    upstream.reset()
    house = mk(gw, "house", embedding_model="house/embed-x", dimension=8)["settings"]
    assert house["dimension"] == 8 and upstream.embedding_batches() == []
    gw.restart()
    assert gw.get(f"{NS}/house").json()["settings"]["embedding_model"] == "house/embed-x"
    upsert(gw, "house", DOCS[:1])
    assert upstream.bodies()[-1]["model"] == "house/embed-x"
    # a declared dimension that is not the model's
    assert_error(gw.post(NS, json={"name": "x", "embedding_model": MODEL, "dimension": 8}), 400)
    # nothing serves it: the probe fails
    requests.post(upstream.url + "/_control", json={"fail": [{"status": 404}]})
    r = gw.post(NS, json={"name": "y", "embedding_model": "gone-embed"})
    assert_error(r, 502, "upstream_error")
    assert_error(gw.get(f"{NS}/y"), 404)


def test_provider_failures_write_nothing(gw, upstream):
    mk(gw, "prov", embedding_model=MODEL)
    upsert(gw, "prov", DOCS[:1])
    before = gw.get(f"{NS}/prov").json()["stats"]
    # three failures: the call and its two retries
    requests.post(upstream.url + "/_control", json={"fail": [{"status": 500}] * 3})
    r = gw.post(f"{NS}/prov/documents", json={"documents": DOCS[1:]})
    assert_error(r, 502, "upstream_error")
    assert gw.get(f"{NS}/prov").json()["stats"] == before
    assert_error(gw.get(f"{NS}/prov/documents/bench"), 404)
    # two more make five in a row: the circuit opens before the search's last retry
    requests.post(upstream.url + "/_control", json={"fail": [{"status": 500}] * 2})
    r = gw.post("/api/v1/search/hybrid", json={"namespaces": ["prov"], "query": "never seen"})
    assert_error(r, 503, "upstream_unavailable")
    n = len(upstream.embedding_batches())
    r = gw.post(f"{NS}/prov/documents", json={"documents": DOCS[1:]})
    assert_error(r, 503, "upstream_unavailable")
    assert len(upstream.embedding_batches()) == n  # refused without calling
    assert gw.get(f"{NS}/prov").json()["stats"] == before


def test_concurrent_misses_share_one_call(gw, upstream):
    """Single-flight: identical texts missed at once by many requests go to the provider
    once (the fake provider answers slowly so that the requests overlap)."""
    upstream.embed_delay(0.5)
    body = {"model": MODEL, "input": ["the same new text"]}

    def call(_):
        return gw.post("/v1/embeddings", json=body).json()["data"][0]["embedding"]

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        vecs = list(ex.map(call, range(8)))
    assert upstream.embedding_batches() == [1]
    assert all(v == vecs[0] for v in vecs)
    # within one batch too: a repeated text is sent once
    upstream.embed_delay(0)
    r = gw.post("/v1/embeddings", json={"model": MODEL, "input": ["twice", "twice", "once"]})
    assert r.status_code == 200
    assert upstream.embedding_batches() == [1, 2]
