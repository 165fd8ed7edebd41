"""Bring your own vectors (issue 17) on both stores: a namespace created with a
`dimension` and a `metric` and no model takes documents that carry their `vector`
(or chunks that carry one each), refuses wrong dimensions and non-finite values with
nothing written, is searched with a query `vector` (the keyword leg uses `query` when
given), collapses identical texts, and survives a restart (from the store, and from
the HNSW snapshot)."""
import math
import os
import shutil

from ragdtest import assert_error
from test_kb import NS, mk, search, upsert


def unit(*xs):
    n = math.sqrt(sum(x * x for x in xs))
    return [x / n for x in xs]


DOCS = [
    {"id": "north", "text": "the northern trail climbs the ridge", "vector": unit(1, 0, 0, 0),
     "metadata": {"kind": "trail"}},
    {"id": "east", "text": "eastern beaches and sand dunes", "vector": unit(0, 1, 0, 0)},
    {"id": "northeast", "text": "a ridge above the beach", "vector": unit(1, 1, 0, 0)},
]


def ids(results):
    return [r["document_id"] for r in results]


def test_model_less_namespace(ragd):
    info = mk(ragd, "byo", dimension=4, metric="cosine")
    s = info["settings"]
    assert s["embedding_model"] is None and s["dimension"] == 4 and s["metric"] == "cosine"
    assert upsert(ragd, "byo", DOCS)["chunks"] == 3
    got = search(ragd, namespaces=["byo"], vector=unit(1, 0.1, 0, 0), search_type="semantic",
                 limit=3)
    assert ids(got) == ["north", "northeast", "east"]
    assert abs(got[0]["score"] - unit(1, 0.1, 0, 0)[0]) < 1e-4
    # hybrid: the vector for the semantic leg, the query text for the keyword leg
    hy = search(ragd, namespaces=["byo"], vector=unit(0, 1, 0, 0), query="ridge", limit=3,
                explain=True)
    assert ids(hy)[0] == "northeast" and hy[0]["match"] == "hybrid"  # in both legs
    # a vector alone is enough for hybrid too (no keyword leg)
    assert ids(search(ragd, namespaces=["byo"], vector=unit(0, 1, 0, 0), limit=1)) == ["east"]
    # keyword search needs no vector
    assert ids(search(ragd, namespaces=["byo"], query="dunes", search_type="keyword")) == ["east"]
    # chunks that carry a vector each: one document, two chunks
    r = upsert(ragd, "byo", [{"id": "guide", "chunks": [
        {"text": "first the north face", "vector": unit(1, 0, 0, 0.2)},
        {"text": "then the southern slope", "vector": unit(0, 0, 1, 0)}]}])
    assert r["chunks"] == 2
    doc = ragd.get(f"{NS}/byo/documents/guide").json()
    assert doc["text"] == "first the north face\n\nthen the southern slope"
    assert [(c["start"], c["end"]) for c in doc["chunks"]] == [(0, 20), (22, 45)]
    top = search(ragd, namespaces=["byo"], vector=unit(0, 0, 1, 0), search_type="semantic",
                 limit=1)[0]
    assert top["document_id"] == "guide" and top["content"] == "then the southern slope"
    assert ragd.get(f"{NS}/byo").json()["stats"]["chunks"] == 5
    q = {"namespaces": ["byo"], "vector": unit(1, 0.1, 0, 0), "search_type": "semantic",
         "limit": 3}
    for _ in reboots(ragd):
        assert ids(search(ragd, **q)) == ["north", "guide", "northeast"]
        assert ragd.get(f"{NS}/byo").json()["settings"]["dimension"] == 4


def reboots(ragd):
    """Restart from the HNSW snapshot a clean stop writes, then from the store alone."""
    ragd.stop()
    snaps = os.path.join(ragd.data_dir, "kb-snapshots")
    assert any(f.endswith(".hnsw") for f in os.listdir(snaps))
    ragd.start()
    yield "snapshot"
    ragd.stop()
    shutil.rmtree(snaps)
    ragd.start()
    yield "store"


def test_bad_vectors_write_nothing(ragd):
    mk(ragd, "byo", dimension=4)
    upsert(ragd, "byo", DOCS[:1])
    before = ragd.get(f"{NS}/byo").json()["stats"]
    ok = {"id": "ok", "text": "fine", "vector": unit(0, 0, 1, 0)}
    cases = [
        ({"id": "short", "text": "x", "vector": [1, 0, 0]}, 400, "dimension_mismatch"),
        ({"id": "huge", "text": "x", "vector": [1e39, 0, 0, 0]}, 400, "invalid_request"),
        ({"id": "word", "text": "x", "vector": [1, "a", 0, 0]}, 400, "invalid_request"),
        ({"id": "zero", "text": "x", "vector": [0, 0, 0, 0]}, 400, "invalid_request"),
        ({"id": "none", "text": "a text without its vector"}, 400, "invalid_request"),
        ({"id": "both", "text": "x", "chunks": [{"text": "y", "vector": unit(1, 0, 0, 0)}]}, 400,
         "invalid_request"),
        ({"id": "mixed", "chunks": [{"text": "a", "vector": unit(1, 0, 0, 0)},
                                    {"text": "b", "vector": [1, 0]}]}, 400, "dimension_mismatch"),
    ]
    for bad, status, code in cases:
        r = ragd.post(f"{NS}/byo/documents", json={"documents": [ok, bad]})
        assert_error(r, status, code)
    assert ragd.get(f"{NS}/byo").json()["stats"] == before
    assert_error(ragd.get(f"{NS}/byo/documents/ok"), 404, "document_not_found")
    # a query vector of another dimension
    r = ragd.post("/api/v1/search/hybrid", json={"namespaces": ["byo"], "vector": [1, 0]})
    assert_error(r, 422, "dimension_mismatch")
    # no model, no vector: no semantic leg to run
    r = ragd.post("/api/v1/search/hybrid", json={"namespaces": ["byo"], "query": "trail",
                                                 "search_type": "semantic"})
    assert_error(r, 503, "model_unavailable")
    # settings: a dimension needs a model-less namespace or the model's own
    assert_error(ragd.post(NS, json={"name": "x", "embedding_model": "all-MiniLM-L6-v2",
                                     "dimension": 8}), 400)
    assert_error(ragd.post(NS, json={"name": "x", "embedding_model": None}), 400)
    assert_error(ragd.post(NS, json={"name": "x", "dimension": 4, "metric": "hamming"}), 400)
    # the loaded model's namespace refuses vectors of another dimension too
    mk(ragd, "text")
    r = ragd.post(f"{NS}/text/documents", json={"documents": [
        {"id": "v", "text": "x", "vector": unit(1, 0, 0, 0)}]})
    assert_error(r, 400, "dimension_mismatch")


def test_metrics_dot_and_l2(ragd):
    mk(ragd, "dot", dimension=2, metric="dot")
    mk(ragd, "l2", dimension=2, metric="l2")
    docs = [{"id": "small", "text": "small", "vector": [1, 0]},
            {"id": "big", "text": "big", "vector": [10, 1]},
            {"id": "near", "text": "near", "vector": [2.1, 0.1]}]
    upsert(ragd, "dot", docs)
    upsert(ragd, "l2", docs)
    q = {"vector": [2, 0], "search_type": "semantic", "limit": 3}
    dot = search(ragd, namespaces=["dot"], **q)
    assert ids(dot) == ["big", "near", "small"] and dot[0]["score"] == 20
    l2 = search(ragd, namespaces=["l2"], **q)
    assert ids(l2) == ["near", "small", "big"]
    assert abs(l2[0]["score"] + 0.02) < 1e-4  # minus the squared distance
    assert ragd.get(f"{NS}/l2").json()["settings"]["metric"] == "l2"
    for _ in reboots(ragd):
        assert ids(search(ragd, namespaces=["dot"], **q)) == ["big", "near", "small"]
        assert ids(search(ragd, namespaces=["l2"], **q)) == ["near", "small", "big"]


def test_identical_documents_collapse(ragd):
    """Issue 17: identical documents came back as separate hits."""
    mk(ragd, "byo", dimension=4)
    same = "the same paragraph, stored twice"
    upsert(ragd, "byo", [{"id": "a", "text": same, "vector": unit(1, 0, 0, 0)},
                         {"id": "b", "text": same, "vector": unit(1, 0.2, 0, 0)},
                         {"id": "c", "text": "another text", "vector": unit(0, 1, 0, 0)}])
    got = search(ragd, namespaces=["byo"], vector=unit(1, 0, 0, 0), query="paragraph", limit=5)
    assert ids(got) == ["a", "c"]
    assert [d["document_id"] for d in got[0]["duplicates"]] == ["b"]


def test_vectors_beside_the_model(ragd):
    """A namespace of the loaded model takes documents with their own vectors of its
    dimension beside text-only ones (embedded), and searches both."""
    mk(ragd, "mixed")
    dim = ragd.get(f"{NS}/mixed").json()["settings"]["dimension"]
    own = [0.0] * dim
    own[0] = 1.0
    upsert(ragd, "mixed", [{"id": "mine", "text": "precomputed", "vector": own},
                           {"id": "text", "text": "knee pain when squatting"}])
    assert ids(search(ragd, namespaces=["mixed"], vector=own, search_type="semantic",
                      limit=1)) == ["mine"]
    assert ids(search(ragd, namespaces=["mixed"], query="squat knee pain",
                      search_type="semantic", limit=1)) == ["text"]
