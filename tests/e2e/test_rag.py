"""RAG query end to end on ragd's own knowledge bases (both stores): context with
sources and offsets, strategy, token counting with the real tokenizer, per-stage
timings, merging of adjacent chunks, near-duplicate removal, the user filter,
metadata filters, the prompt format, re-ranking (cosine fallback and the test
cross-encoder) and bad input."""
import pytest
import requests

from ragdtest import Ragd, assert_error
from test_rerank import CE_DIR

NS = "/api/v1/namespaces"

STRENGTH = [
    ("squat", "Squats build the quadriceps, glutes and hamstrings. Keep the chest up and "
              "push the knees out over the toes while descending below parallel."),
    ("bench", "The bench press trains the chest, shoulders and triceps. Lower the bar to the "
              "lower chest and press it back up with the elbows tucked."),
    ("deadlift", "The deadlift works the posterior chain: glutes, hamstrings and the lower back. "
                 "Keep the bar close to the shins and the spine neutral."),
]
NUTRITION = [
    ("protein", "Eat 20 to 40 grams of protein after a strength workout to help muscles "
                "recover and grow. Whey, eggs, chicken and lentils are good sources."),
    ("hydration", "Drink water before, during and after long runs; in the heat add "
                  "electrolytes such as sodium to what you drink."),
    ("protein-copy", "Eat 20 to 40 grams of protein after a strength workout to help muscles "
                     "recover and grow. Whey, eggs, chicken and lentils are good sources."),
]


def mk(ragd, name, **settings):
    r = ragd.post(NS, json={"name": name, **settings})
    assert r.status_code == 201, r.text


def upsert(ragd, ns, docs):
    r = ragd.post(f"{NS}/{ns}/documents", json={"documents": docs})
    assert r.status_code == 200, r.text


def load(ragd):
    mk(ragd, "strength", description="strength training: lifts, sets and technique",
       examples=["how do I squat deeper", "bench press form"])
    mk(ragd, "nutrition", description="food, protein, hydration and diet",
       examples=["what should I eat after training", "how much water should I drink"])
    upsert(ragd, "strength", [{"id": i, "text": t, "metadata": {"lift": i}} for i, t in STRENGTH])
    upsert(ragd, "nutrition", [{"id": i, "text": t, "metadata": {"topic": i}} for i, t in NUTRITION])


def rag(ragd, **body):
    r = ragd.post("/api/v1/rag/query", json=body)
    assert r.status_code == 200, r.text
    return r


def test_seed_contract(ragd):
    load(ragd)
    r = rag(ragd, query="how much protein should I eat after lifting", user_id="u1",
            include_context=True, max_context_items=3, namespaces=["strength", "nutrition"],
            rerank=True)
    body = r.json()
    for key in ("context", "embeddings_used", "search_strategy", "total_tokens",
                "processing_time_ms", "timings"):
        assert key in body, key
    # the seed's contract: embeddings_used lists the ids whose embeddings chose the context,
    # source is a string, the structured provenance sits beside it
    assert body["embeddings_used"] and all(isinstance(x, str) for x in body["embeddings_used"])
    assert body["search_strategy"] == "hybrid+rerank+mmr"
    assert set(body["timings"]) == {"embed_ms", "search_ms", "rerank_ms", "mmr_ms", "pack_ms"}
    ctx = body["context"]
    assert 1 <= len(ctx) <= 3
    top = ctx[0]
    assert top["provenance"]["namespace"] == "nutrition"
    assert top["source"] == "nutrition/" + top["provenance"]["document_id"]
    assert top["type"] == "nutrition"
    assert f'nutrition/{top["provenance"]["document_id"]}#0' in body["embeddings_used"]
    assert top["provenance"]["document_id"] in ("protein", "protein-copy")
    assert top["provenance"]["offsets"]["start"] == 0
    assert top["content"].startswith("Eat 20 to 40 grams of protein")
    ids = [c["provenance"]["document_id"] for c in ctx]
    assert not ("protein" in ids and "protein-copy" in ids), "duplicate kept"
    # identical chunk texts collapse into one entry that lists the other source
    other = ({"protein", "protein-copy"} - {top["provenance"]["document_id"]}).pop()
    assert top["duplicates"] == [{"namespace": "nutrition", "document_id": other,
                                  "chunk_index": 0}]
    assert body["total_tokens"] == sum(c["tokens"] for c in ctx)
    assert [c["citation"] for c in ctx] == list(range(1, len(ctx) + 1))
    assert body["rerank"]["model"] == "cosine:all-MiniLM-L6-v2" and "fallback" in body["rerank"]
    assert r.headers["x-ragd-rerank"] == "full"
    # tokens are the model's word pieces
    emb = ragd.post("/api/v1/embeddings/generate", json={"text": top["content"]}).json()
    assert top["tokens"] == emb["tokens"] - 2
    again = rag(ragd, query="how much protein should I eat after lifting",
                namespaces=["strength", "nutrition"])
    assert again.json()["embedding"]["cached"] is True
    # with only the cosine fallback, rag/query re-ranks on request only
    assert again.json()["search_strategy"] == "hybrid+mmr"
    assert again.headers["x-ragd-rerank"] == "off"
    assert "rerank" in again.json()["rerank"]["fallback"]


def test_token_budget_prompt_and_no_context(ragd):
    load(ragd)
    body = rag(ragd, query="squat technique", namespaces=["strength"], max_tokens=40,
               max_context_items=5, format="prompt").json()
    assert 0 < body["total_tokens"] <= 40
    assert body["prompt"].startswith("Answer the question using only the numbered sources")
    assert "[1] (strength / " in body["prompt"] and "Question: squat technique" in body["prompt"]
    body = rag(ragd, query="squat technique", namespaces=["strength"],
               include_context=False).json()
    assert body["context"] and all("content" not in c for c in body["context"])
    assert all(c["provenance"]["document_id"] for c in body["context"])


def test_adjacent_chunks_are_merged(ragd_lmdb):
    mk(ragd_lmdb, "long", chunk_size=16, chunk_overlap=4)
    text = ("The hip hinge starts the deadlift. " * 3 + "Brace the core before every pull. " * 3
            + "Lock out by squeezing the glutes at the top. " * 3)
    upsert(ragd_lmdb, "long", [{"id": "dl", "text": text}])
    body = rag(ragd_lmdb, query="deadlift hip hinge brace core glutes lockout",
               namespaces=["long"], max_context_items=1, mmr=False,
               rerank={"depth": 50, "budget_ms": 0}, candidates=20).json()
    ctx = body["context"]
    assert len(ctx) == 1
    src = ctx[0]["provenance"]
    assert len(src["chunks"]) >= 2
    assert ctx[0]["content"] == text[src["offsets"]["start"]:src["offsets"]["end"]]


def test_user_and_metadata_filters(ragd):
    mk(ragd, "private")
    upsert(ragd, "private", [
        {"id": "a", "text": "Alice's knee injury plan: rest, ice and slow squats.", "user_id": "alice"},
        {"id": "b", "text": "Bob's knee injury plan: physio twice a week.", "user_id": "bob"},
        {"id": "s", "text": "General knee injury advice: see a physiotherapist.",
         "metadata": {"kind": "general"}},
    ])
    ids = lambda b: {c["provenance"]["document_id"] for c in b["context"]}
    body = rag(ragd, query="knee injury plan", namespaces=["private"], user_id="alice").json()
    assert ids(body) == {"a", "s"}
    body = rag(ragd, query="knee injury plan", namespaces=["private"]).json()
    assert ids(body) == {"s"}
    body = rag(ragd, query="knee injury plan", namespaces=["private"], user_id="bob",
               filter={"kind": "general"}).json()
    assert ids(body) == {"s"}


def test_routing(ragd_lmdb):
    load(ragd_lmdb)
    r = ragd_lmdb.post("/api/v1/route", json={"query": "what should I eat after my workout", "k": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["route"] == "nutrition" and not body["none"]
    assert body["namespaces"][0]["via"] in ("example", "description", "centroid")
    assert body["namespaces_considered"] == 2
    r = ragd_lmdb.post("/api/v1/route", json={"query": "quantum chromodynamics of gluons"})
    assert r.json()["none"] is True and r.json()["route"] == "none"
    assert r.json()["best_score"] < r.json()["threshold"]
    # rag/query routes when namespaces are omitted
    body = rag(ragd_lmdb, query="how do I improve my bench press form").json()
    assert body["routing"]["namespaces"][0]["namespace"] == "strength"
    assert "strength" in body["namespaces"]
    assert body["context"][0]["provenance"]["namespace"] == "strength"
    # nothing routes above the threshold: every namespace is searched instead, and the
    # routing block says so (a RAG query does not come back empty by surprise)
    body = rag(ragd_lmdb, query="quantum chromodynamics of gluons").json()
    assert body["routing"]["none"] is True
    assert body["routing"]["fallback"] == "all_namespaces"
    assert sorted(body["namespaces"]) == ["nutrition", "strength"]
    assert body["context"] and body["search_strategy"].startswith("hybrid")
    # the fallback can be turned off: then an empty answer, as the router said
    body = rag(ragd_lmdb, query="quantum chromodynamics of gluons", route_fallback=False).json()
    assert body["context"] == [] and body["routing"]["none"] is True
    assert "fallback" not in body["routing"]
    assert body["search_strategy"] == "none"
    assert_error(ragd_lmdb.post("/api/v1/rag/query", json={"query": "x", "route_fallback": 1}),
                 400, "invalid_request")
    assert_error(ragd_lmdb.post("/api/v1/route", json={"query": "x", "k": 0}), 400)
    assert_error(ragd_lmdb.post("/api/v1/route", json={"k": 2}), 400)
    assert_error(ragd_lmdb.post("/api/v1/route", json={"query": "x", "threshold": 3}), 400)


def test_rerank_options_and_cross_encoder():
    s = Ragd(env={"RAGD_RERANK_MODEL_DIR": CE_DIR}).start()
    try:
        load(s)
        r = rag(s, query="protein after training", namespaces=["nutrition", "strength"])
        body = r.json()
        assert body["search_strategy"] == "hybrid+rerank+mmr"
        assert body["rerank"]["model"] == "ragd-test-cross-encoder"
        assert body["rerank"]["kind"] == "cross-encoder" and body["rerank"]["scored"] >= 4
        assert "fallback" not in body["rerank"]
        body = rag(s, query="protein after training", namespaces=["nutrition"],
                   rerank=False, mmr=False).json()
        assert body["search_strategy"] == "hybrid" and body["rerank"]["state"] == "off"
        body = rag(s, query="protein after training", namespaces=["nutrition"],
                   rerank={"depth": 1}).json()
        assert body["rerank"]["scored"] == 1
    finally:
        s.cleanup()


def test_bad_input(ragd_lmdb):
    load(ragd_lmdb)
    post = lambda **b: ragd_lmdb.post("/api/v1/rag/query", json=b)
    assert_error(post(namespaces=["strength"]), 400, "invalid_request")
    assert_error(post(query=""), 400)
    assert_error(post(query="x", namespaces=["nope"]), 404, "namespace_not_found")
    assert_error(post(query="x", namespaces=[]), 400)
    assert_error(post(query="x", namespaces="strength"), 400)
    assert_error(post(query="x", max_context_items=0), 400)
    assert_error(post(query="x", max_context_items=101), 400)
    assert_error(post(query="x", max_tokens=0), 400)
    assert_error(post(query="x", rerank={"depth": 0}), 400)
    assert_error(post(query="x", mmr=1.5), 400)
    assert_error(post(query="x", mmr={"threshold": 0}), 400)
    assert_error(post(query="x", format="xml"), 400)
    assert_error(post(query="x", search_type="fuzzy"), 400)
    assert_error(post(query="x", filter={"a": {"$regex": "x"}}), 400, "invalid_filter")
    assert_error(post(query="x", user_id=5), 400)
    assert_error(ragd_lmdb.post("/api/v1/rag/query", data=b"{"), 400, "invalid_json")
