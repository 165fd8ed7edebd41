"""The seeds' own flows end to end, field names as the seed contracts write them
(DESIGN.md §4): a coach app stores a user's workouts, goals and conversations through
embeddings/generate, lists, reads and deletes them, searches them by type through
search/hybrid, and asks rag/query with include_context ["workouts", "goals"] for only
that user's items of those types - nothing of another user's."""
import requests

from ragdtest import Ragd, assert_error

ITEMS = {
    "u1": [("workout", "Monday: back squat 5x5 at 100 kg, then Romanian deadlifts 3x8."),
           ("workout", "Thursday: bench press 5x5 at 70 kg and weighted pull-ups."),
           ("goal", "Goal: squat 140 kg by the end of the year and run a 10k under 50 minutes."),
           ("conversation", "Coach chat: my lower back felt tight after squats on Monday.")],
    "u2": [("workout", "Sunday: long run of 21 km at an easy pace, then squat mobility drills."),
           ("goal", "Goal: finish a marathon and squat my body weight.")],
}


def store(ragd, user, ctype, text, **extra):
    r = ragd.post("/api/v1/embeddings/generate",
                  json={"text": text, "user_id": user, "content_type": ctype,
                        "metadata": {"source_app": "coach"}, **extra})
    assert r.status_code == 200, r.text
    return r.json()


def load(ragd):
    ids = {}
    for user, items in ITEMS.items():
        for ctype, text in items:
            body = store(ragd, user, ctype, text)
            assert body["dimension"] == 384 and len(body["embedding"]) == 384
            assert body["model"] == "all-MiniLM-L6-v2" and body["stored"] is True
            ids[body["id"]] = (user, ctype, text)
    return ids


def test_items_are_stored_listed_read_and_deleted_per_user(ragd):
    ids = load(ragd)
    assert len(ids) == 6
    listing = ragd.get("/api/v1/users/u1/items").json()
    assert listing["total"] == 4
    assert {i["content"] for i in listing["items"]} == {t for _, t in ITEMS["u1"]}
    item = listing["items"][0]
    assert set(item) >= {"id", "user_id", "content", "content_type", "metadata", "created_at"}
    assert item["user_id"] == "u1" and item["metadata"] == {"source_app": "coach"}
    workouts = ragd.get("/api/v1/users/u1/items?content_type=workouts").json()
    assert workouts["total"] == 2 and {i["content_type"] for i in workouts["items"]} == {"workout"}
    page = ragd.get("/api/v1/users/u1/items?limit=1&offset=1").json()
    assert page["total"] == 4 and len(page["items"]) == 1
    u2_id = next(i for i, v in ids.items() if v[0] == "u2")
    got = ragd.get(f"/api/v1/users/u2/items/{u2_id}")
    assert got.status_code == 200 and got.json()["id"] == u2_id
    # another user's item is not found, not forbidden: ids reveal nothing
    assert_error(ragd.get(f"/api/v1/users/u1/items/{u2_id}"), 404, "not_found")
    assert_error(ragd.delete(f"/api/v1/users/u1/items/{u2_id}"), 404, "not_found")
    assert ragd.delete(f"/api/v1/users/u2/items/{u2_id}").json() == {"deleted": True, "id": u2_id}
    assert_error(ragd.get(f"/api/v1/users/u2/items/{u2_id}"), 404)
    assert ragd.get("/api/v1/users/u2/items").json()["total"] == 1


def test_store_false_and_bad_items(ragd_lmdb):
    body = ragd_lmdb.post("/api/v1/embeddings/generate",
                          json={"text": "just embed me", "user_id": "u1", "content_type": "note",
                                "store": False}).json()
    assert "id" not in body and len(body["embedding"]) == 384
    assert ragd_lmdb.get("/api/v1/users/u1/items").json() == {"items": [], "total": 0}
    # without content_type nothing is stored (the plain seed call)
    body = ragd_lmdb.post("/api/v1/embeddings/generate",
                          json={"text": "plain", "user_id": "u1"}).json()
    assert "id" not in body
    post = lambda **b: ragd_lmdb.post("/api/v1/embeddings/generate", json={"text": "x", **b})
    assert_error(post(user_id="u1", content_type="bad type!"), 400, "invalid_request")
    assert_error(post(user_id="u1", content_type="workout", metadata=[1]), 400, "invalid_request")
    assert_error(post(user_id="u1", content_type="workout", store="yes"), 400, "invalid_request")
    assert_error(post(content_type="workout", store=True), 400, "invalid_request")
    assert_error(ragd_lmdb.get("/api/v1/users/u1/items?limit=0"), 400, "invalid_request")
    assert ragd_lmdb.get("/api/v1/users/u1/items").json()["total"] == 0


def test_search_by_type_and_user(ragd):
    load(ragd)
    res = ragd.post("/api/v1/search/hybrid",
                    json={"query": "squat", "user_id": "u1", "search_type": "hybrid",
                          "limit": 10, "threshold": 0.0}).json()["results"]
    assert res and all(set(r) >= {"content", "score", "type", "metadata"} for r in res)
    texts = {t for _, t in ITEMS["u1"]}
    assert all(r["content"] in texts for r in res), "another user's item leaked"
    assert {r["type"] for r in res} <= {"workout", "goal", "conversation"}
    assert all(r["match"] in ("keyword", "semantic", "hybrid") for r in res)
    only = ragd.post("/api/v1/search/hybrid",
                     json={"query": "squat", "user_id": "u1", "content_type": ["workouts"],
                           "limit": 10}).json()["results"]
    assert only and {r["type"] for r in only} == {"workout"}
    assert all(r["content"] in texts for r in only)
    u2 = ragd.post("/api/v1/search/hybrid",
                   json={"query": "squat", "user_id": "u2", "content_type": "goal",
                         "limit": 10}).json()["results"]
    assert [r["content"] for r in u2] == [ITEMS["u2"][1][1]]
    assert_error(ragd.post("/api/v1/search/hybrid", json={"query": "x", "content_type": []}),
                 400, "invalid_request")


def test_rag_draws_only_on_the_users_items_of_those_types(ragd):
    ids = load(ragd)
    r = ragd.post("/api/v1/rag/query",
                  json={"query": "how is my squat training going", "user_id": "u1",
                        "include_context": ["workouts", "goals"], "max_context_items": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    for key in ("context", "embeddings_used", "search_strategy", "total_tokens",
                "processing_time_ms"):
        assert key in body, key
    ctx = body["context"]
    assert ctx and len(ctx) <= 5
    for c in ctx:
        assert set(c) >= {"source", "content", "relevance"}
        assert isinstance(c["source"], str) and isinstance(c["relevance"], (int, float))
        item_id = c["provenance"]["document_id"]
        user, ctype, text = ids[item_id]
        assert user == "u1" and ctype in ("workout", "goal"), c
        assert c["content"] == text and c["type"] == ctype
        assert c["source"] == f"{ctype}/{item_id}"
    assert {ids[c["provenance"]["document_id"]][1] for c in ctx} == {"workout", "goal"}
    assert isinstance(body["embeddings_used"], list)
    assert set(body["embeddings_used"]) == {c["provenance"]["document_id"] for c in ctx}
    assert isinstance(body["total_tokens"], int) and body["search_strategy"].startswith("hybrid")
    # max_context_items caps the entries
    body = ragd.post("/api/v1/rag/query",
                     json={"query": "squat", "user_id": "u1",
                           "include_context": ["workouts", "goals"],
                           "max_context_items": 1}).json()
    assert len(body["context"]) == 1
    # another user asking the same sees only their own
    body = ragd.post("/api/v1/rag/query",
                     json={"query": "squat", "user_id": "u2",
                           "include_context": ["workouts", "goals"]}).json()
    assert body["context"] and all(ids[c["provenance"]["document_id"]][0] == "u2"
                                   for c in body["context"])
    # content types need a user; entries must be names
    post = lambda **b: ragd.post("/api/v1/rag/query", json={"query": "squat", **b})
    assert_error(post(include_context=["workouts"]), 400, "invalid_request")
    assert_error(post(user_id="u1", include_context=[]), 400, "invalid_request")
    assert_error(post(user_id="u1", include_context=[5]), 400, "invalid_request")
    assert_error(post(user_id="u1", include_context="workouts"), 400, "invalid_request")


def test_include_context_mixes_namespaces_and_types(ragd_lmdb):
    ids = load(ragd_lmdb)
    assert ragd_lmdb.post("/api/v1/namespaces", json={"name": "strength"}).status_code == 201
    r = ragd_lmdb.post("/api/v1/namespaces/strength/documents", json={"documents": [
        {"id": "squat-guide", "text": "Squat technique: brace, knees out, hips below parallel."}]})
    assert r.status_code == 200, r.text
    body = ragd_lmdb.post("/api/v1/rag/query",
                          json={"query": "squat technique", "user_id": "u1",
                                "include_context": ["strength", "goals"],
                                "max_context_items": 10}).json()
    kinds = {c["type"] for c in body["context"]}
    assert kinds == {"strength", "goal"}
    for c in body["context"]:
        if c["type"] == "goal":
            assert ids[c["provenance"]["document_id"]][0] == "u1"
        else:
            assert c["source"] == "strength/squat-guide"
            assert "strength/squat-guide#0" in body["embeddings_used"]


def test_user_keys_reach_only_their_own_items():
    admin = "admin-secret-seed-0123456789"
    s = Ragd(env={"RAGD_ADMIN_KEY": admin}).start()
    try:
        def call(method, path, key, **kw):
            return getattr(requests, method)(s.url + path, headers={"X-API-Key": key},
                                             timeout=60, **kw)
        mk = lambda **spec: call("post", "/api/v1/keys", admin, json=spec).json()["key"]
        alice, bob = mk(scopes=["write"], user_id="alice"), mk(scopes=["write"], user_id="bob")
        reader = mk(scopes=["read"], user_id="carol")
        r = call("post", "/api/v1/embeddings/generate", alice,
                 json={"text": "alice deadlift 3x5", "content_type": "workout"})
        assert r.status_code == 200 and r.json()["stored"] is True
        item = r.json()["id"]
        assert call("get", "/api/v1/users/alice/items", alice).json()["total"] == 1
        assert_error(call("get", "/api/v1/users/alice/items", bob), 403)
        assert_error(call("get", f"/api/v1/users/bob/items/{item}", bob), 404)
        assert call("get", "/api/v1/users/bob/items", bob).json()["total"] == 0
        # a read-only key may embed but not store
        assert_error(call("post", "/api/v1/embeddings/generate", reader,
                          json={"text": "x", "content_type": "workout"}), 403, "forbidden")
        assert call("post", "/api/v1/embeddings/generate", reader,
                    json={"text": "x", "content_type": "workout", "store": False}).status_code == 200
        ctx = call("post", "/api/v1/rag/query", bob,
                   json={"query": "deadlift", "include_context": ["workouts"]}).json()["context"]
        assert ctx == []
    finally:
        s.cleanup()
