"""POST /api/v1/search/hybrid on both stores: the three search types, weighted and RRF
fusion with explain, fuzzy exercise names, user isolation, metadata filters that still
return `limit` results at low selectivity, several namespaces merged, custom vectors and
bad input."""
import pytest
import requests

from ragdtest import assert_error

NS = "/api/v1/namespaces"
EXERCISES = ["Bench Press", "Incline Bench Press", "Back Squat", "Front Squat", "Deadlift",
             "Romanian Deadlift", "Overhead Press", "Pull Up", "Bent Over Row", "Lunge"]


def setup_ns(ragd, name, docs):
    assert ragd.post(NS, json={"name": name}).status_code == 201
    r = ragd.post(f"{NS}/{name}/documents", json={"documents": docs})
    assert r.status_code == 200, r.text


def search(ragd, **body):
    r = ragd.post("/api/v1/search/hybrid", json=body)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def catalogue(ragd):
    setup_ns(ragd, "exercises", [
        {"id": f"ex{i}", "text": f"{name}: a strength exercise.", "metadata": {"i": i}}
        for i, name in enumerate(EXERCISES)])
    return ragd


def test_search_types_and_shape(catalogue):
    for st in ("keyword", "semantic", "hybrid"):
        body = search(catalogue, query="squat", search_type=st, limit=3, namespaces=["exercises"])
        res = body["results"]
        assert 1 <= len(res) <= 3 and body["search_type"] == st
        assert "Squat" in res[0]["content"]
        for k in ("content", "score", "type", "metadata", "namespace", "document_id", "chunk_id",
                  "offsets"):
            assert k in res[0]
        assert res[0]["namespace"] == "exercises"
        t = body["timings"]
        assert set(t) >= {"embed_ms", "keyword_ms", "semantic_ms", "fusion_ms", "total_ms"}
    kw = search(catalogue, query="squat", search_type="keyword", limit=10)["results"]
    # the seed's type is the content's (a knowledge-base chunk's namespace); the leg is "match"
    assert {r["match"] for r in kw} == {"keyword"} and len(kw) == 2
    assert {r["type"] for r in kw} == {"exercises"}


def test_fuzzy_exercise_names(catalogue):
    for q in ("benchpress", "bench pres", "dedlift"):
        exact = search(catalogue, query=q, search_type="keyword", limit=3)["results"]
        fuzzy = search(catalogue, query=q, search_type="keyword", fuzzy=True, limit=3)["results"]
        want = "Deadlift" if q == "dedlift" else "Bench Press"
        assert fuzzy and want in fuzzy[0]["content"], (q, fuzzy)
        if q == "benchpress":
            assert not exact


def test_explain_weighted_and_rrf(catalogue):
    w = search(catalogue, query="bench press", limit=3, explain=True, fusion="weighted", alpha=0.3)
    top = w["results"][0]
    assert top["content"].startswith("Bench Press")
    e = top["explain"]
    assert e["fusion"] == "weighted" and e["semantic"]["rank"] >= 1 and e["keyword"]["rank"] == 1
    assert {t["term"] for t in e["keyword"]["terms"]} == {"bench", "press"}
    want = 0.3 * e["semantic"]["normalized"] + 0.7 * e["keyword"]["normalized"]
    assert abs(top["score"] - want) < 1e-5
    r = search(catalogue, query="bench press", limit=3, explain=True, fusion="rrf", rrf_k=10)
    top = r["results"][0]
    e = top["explain"]
    want = sum(1.0 / (10 + e[leg]["rank"]) for leg in ("semantic", "keyword") if e[leg]["rank"])
    assert abs(top["score"] - want) < 1e-5 and r["fusion"] == "rrf"


def test_user_isolation(ragd):
    setup_ns(ragd, "notes", [
        {"id": "shared", "text": "knee rehab plan shared with everyone"},
        {"id": "alice", "text": "knee rehab plan for alice", "user_id": "alice"},
        {"id": "bob", "text": "knee rehab plan for bob", "user_id": "bob"}])
    for st in ("keyword", "semantic", "hybrid"):
        anon = search(ragd, query="knee rehab plan", search_type=st, limit=10)["results"]
        assert [r["document_id"] for r in anon] == ["shared"]
        alice = search(ragd, query="knee rehab plan", search_type=st, user_id="alice", limit=10)
        ids = {r["document_id"] for r in alice["results"]}
        assert ids == {"shared", "alice"}


def test_filters_fill_the_limit_at_low_selectivity(ragd):
    docs = []
    for i in range(1500):
        cat = "knee" if i % 100 == 7 else ["chest", "back", "legs"][i % 3]
        docs.append({"id": f"d{i}", "text": f"exercise note {i} about {cat} training and recovery",
                     "metadata": {"category": cat, "level": i % 4, "year": 1990 + i % 40}})
    assert ragd.post(NS, json={"name": "big"}).status_code == 201
    for at in range(0, len(docs), 500):
        assert ragd.post(f"{NS}/big/documents", json={"documents": docs[at:at + 500]}).status_code == 200
    flt = {"category": "knee", "level": {"$in": [3, 2]}, "year": {"$gte": 1990}}
    matching = [d for d in docs if d["metadata"]["category"] == "knee" and d["metadata"]["level"] in (2, 3)]
    assert len(matching) == 15  # 1% of the namespace
    for st in ("keyword", "semantic", "hybrid"):
        res = search(ragd, query="training and recovery", search_type=st, limit=10, filter=flt)["results"]
        assert len(res) == 10, (st, len(res))
        for r in res:
            md = r["metadata"]
            assert md["category"] == "knee" and md["level"] in (2, 3)
    res = search(ragd, query="training", search_type="semantic", limit=50, filter=flt)["results"]
    assert len(res) == 15
    assert_error(ragd.post("/api/v1/search/hybrid", json={"query": "x", "filter": {"a": {"$bad": 1}}}),
                 400, "invalid_filter")


def test_namespaces_merged_threshold_and_vector(catalogue):
    setup_ns(catalogue, "nutrition", [{"id": "n1", "text": "Protein helps muscles recover."},
                                      {"id": "n2", "text": "Squat day needs carbohydrates."}])
    res = search(catalogue, query="squat", namespaces=["exercises", "nutrition"], limit=10,
                 search_type="keyword")["results"]
    assert {r["namespace"] for r in res} == {"exercises", "nutrition"}
    only = search(catalogue, query="squat", namespaces=["nutrition"], limit=10)["results"]
    assert {r["namespace"] for r in only} == {"nutrition"}
    hi = search(catalogue, query="squat", search_type="semantic", limit=10, threshold=0.5)["results"]
    assert all(r["score"] >= 0.5 for r in hi)
    vec = catalogue.post("/v1/embeddings", json={"model": "all-MiniLM-L6-v2",
                                                  "input": "Deadlift: a strength exercise."}).json()
    v = vec["data"][0]["embedding"]
    res = search(catalogue, vector=v, search_type="semantic", limit=1, namespaces=["exercises"])
    assert res["results"][0]["document_id"] == "ex4" and res["results"][0]["score"] > 0.999
    res = search(catalogue, query="squat", namespaces=["exercises"], include_vectors=True, limit=1)
    assert len(res["results"][0]["vector"]) == 384


def test_bad_input(catalogue):
    p = "/api/v1/search/hybrid"
    assert_error(catalogue.post(p, json={"query": "x", "namespaces": ["nope"]}), 404, "namespace_not_found")
    assert_error(catalogue.post(p, json={"query": ""}), 400)
    assert_error(catalogue.post(p, json={"query": "   "}), 400)
    assert_error(catalogue.post(p, json={}), 400)
    err = assert_error(catalogue.post(p, json={"query": "x", "limit": 100000}), 400, "limit_too_large")
    assert "1000" in err["message"]
    assert_error(catalogue.post(p, json={"query": "x", "limit": 0}), 400)
    assert_error(catalogue.post(p, json={"query": "x", "search_type": "magic"}), 400)
    assert_error(catalogue.post(p, json={"query": "x", "fusion": "max"}), 400)
    assert_error(catalogue.post(p, json={"query": "x", "alpha": 2}), 400)
    err = assert_error(catalogue.post(p, json={"query": "x", "vector": [0.1, 0.2, 0.3]}), 422,
                       "dimension_mismatch")
    assert "384" in err["message"]
    assert_error(catalogue.post(p, json={"query": "x", "vector": ["a"]}), 400)
    assert_error(catalogue.post(p, data=b"not json"), 400, "invalid_json")
    r = requests.get(catalogue.url + p, timeout=10)
    assert r.status_code == 405


def test_user_keys_only_see_their_own_documents():
    """With auth on, a user-bound key searches, reads and deletes as its own user only;
    a service key upserts documents for any user."""
    from ragdtest import Ragd
    admin_key = "admin-secret-kb-0123456789"
    s = Ragd(env={"RAGD_ADMIN_KEY": admin_key}).start()
    try:
        def call(method, path, key, **kw):
            return getattr(requests, method)(s.url + path, headers={"X-API-Key": key}, timeout=60, **kw)

        def key(**spec):
            r = call("post", "/api/v1/keys", admin_key, json=spec)
            assert r.status_code in (200, 201), r.text
            return r.json()["key"]

        svc = key(scopes=["write"], service=True)
        alice, bob = key(scopes=["write"], user_id="alice"), key(scopes=["read"], user_id="bob")
        assert call("post", NS, admin_key, json={"name": "private"}).status_code == 201
        r = call("post", f"{NS}/private/documents", svc, json={"documents": [
            {"id": "a", "text": "alice knee rehab diary", "user_id": "alice"},
            {"id": "b", "text": "bob knee rehab diary", "user_id": "bob"},
            {"id": "s", "text": "shared knee rehab guide"}]})
        assert r.status_code == 200, r.text
        body = {"query": "knee rehab", "limit": 10}
        ids = {x["document_id"] for x in call("post", "/api/v1/search/hybrid", alice, json=body).json()["results"]}
        assert ids == {"a", "s"}
        assert_error(call("post", "/api/v1/search/hybrid", alice, json={**body, "user_id": "bob"}), 403)
        assert call("get", f"{NS}/private/documents/b", alice).status_code == 404
        assert call("get", f"{NS}/private/documents/a", alice).status_code == 200
        assert call("get", f"{NS}/private/documents/a", bob).status_code == 404
        # alice's own upsert is owned by alice even without user_id
        call("post", f"{NS}/private/documents", alice, json={"documents": [{"id": "a2", "text": "alice squat log"}]})
        assert call("get", f"{NS}/private/documents/a2", svc).json()["user_id"] == "alice"
        assert call("delete", f"{NS}/private/documents/b", alice).status_code == 404
        r = call("post", f"{NS}/private/documents/delete", alice, json={"filter": {}})
        assert r.json()["deleted"] == 2  # a and a2 only
        assert call("get", f"{NS}/private/documents/b", svc).status_code == 200
    finally:
        s.cleanup()


def test_identical_texts_collapse_with_their_sources(ragd_lmdb):
    text = "Box breathing: inhale four counts, hold four, exhale four, hold four."
    setup_ns(ragd_lmdb, "calm", [{"id": "a", "text": text}, {"id": "b", "text": text},
                                 {"id": "c", "text": "Nasal breathing while running easy."}])
    setup_ns(ragd_lmdb, "calm2", [{"id": "z", "text": text}])
    res = search(ragd_lmdb, query="box breathing", limit=10,
                 namespaces=["calm", "calm2"])["results"]
    same = [r for r in res if r["content"] == text]
    assert len(same) == 1, res
    top = same[0]
    where = {(top["namespace"], top["document_id"])} | {
        (d["namespace"], d["document_id"]) for d in top["duplicates"]}
    assert where == {("calm", "a"), ("calm", "b"), ("calm2", "z")}
    assert all(d["chunk_id"].endswith("#0") for d in top["duplicates"])
    assert "duplicates" not in next(r for r in res if r["content"] != text)
