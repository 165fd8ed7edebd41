"""The standalone semantic-cache API (/api/v1/semantic-cache/{name}/...), RedisVL's
SemanticCache over HTTP: check/store with a cosine distance threshold, filters,
num_results, return_fields, TTL, delete by id or filter, clear; per-user isolation
and scopes; entries shared by instances on one Redis and kept across restarts; bad
inputs answered in ragd's error shape. Waits poll with a deadline; nothing asserts
a time."""
import os
import time
import uuid

import pytest
import redis as redis_py
import requests

from ragdtest import STORES, Ragd, assert_error, store_env, wait_for

MODEL_DIR = os.path.expanduser(os.environ.get("RAGD_MODEL_DIR", "~/.cache/ragd/models/all-MiniLM-L6-v2"))
pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(MODEL_DIR, "model.safetensors")),
                                reason="embedding model not installed")
ADMIN = "admin-secret-0123456789"
DIM = 384
DB = 12


def make_keys(s):
    keys = {}
    for name, spec in {"alice": {"user_id": "alice"}, "bob": {"user_id": "bob"},
                       "svc": {"service": True},
                       "reader": {"user_id": "alice", "scopes": ["read"]}}.items():
        body = dict({"scopes": ["read", "write"]}, **spec)
        r = requests.post(s.url + "/api/v1/keys", headers={"X-API-Key": ADMIN}, json=body,
                          timeout=10)
        assert r.status_code == 201, r.text
        keys[name] = {"X-API-Key": r.json()["key"]}
    return keys


@pytest.fixture(scope="module", params=STORES)
def srv(request):
    env = {"RAGD_ADMIN_KEY": ADMIN, "RAGD_MODEL_DIR": MODEL_DIR}
    env.update(store_env(request, DB))
    s = Ragd(env=env).start()
    s.keys = make_keys(s)
    yield s
    s.cleanup()


def api(s, who, method, path, **kw):
    return requests.request(method, s.url + "/api/v1/semantic-cache/" + path,
                            headers=s.keys[who], timeout=60, **kw)


def fresh():
    return "c" + uuid.uuid4().hex[:12]


def store(s, who, name, **body):
    r = api(s, who, "POST", name + "/store", json=body)
    assert r.status_code == 200, r.text
    return r.json()["id"]


def check(s, who, name, **body):
    r = api(s, who, "POST", name + "/check", json=body)
    assert r.status_code == 200, r.text
    return r.json()["hits"]


def unit(i):
    v = [0.0] * DIM
    v[i] = 1.0
    return v


def test_store_then_check_by_prompt(srv):
    name = fresh()
    eid = store(srv, "alice", name, prompt="How do I reset my password?",
                response="Use the 'forgot password' link.", metadata={"model": "m1"},
                filters={"lang": "en"})
    assert len(eid) == 32
    hits = check(srv, "alice", name, prompt="How do I reset my password?")
    assert len(hits) == 1
    h = hits[0]
    assert h["id"] == eid and h["response"] == "Use the 'forgot password' link."
    assert h["prompt"] == "How do I reset my password?"
    assert h["metadata"] == {"model": "m1"} and h["filters"] == {"lang": "en"}
    assert 0 <= h["vector_distance"] < 0.01
    assert h["inserted_at"] > 1.6e9 and h["updated_at"] >= h["inserted_at"]
    # A paraphrase is near; an unrelated prompt is not; a tight threshold refuses both.
    near = check(srv, "alice", name, prompt="How can I reset my password?", distance_threshold=0.3)
    assert [x["id"] for x in near] == [eid] and near[0]["vector_distance"] <= 0.3
    assert check(srv, "alice", name, prompt="What is the boiling point of water?",
                 distance_threshold=0.3) == []
    assert check(srv, "alice", name, prompt="How can I reset my password?",
                 distance_threshold=0.0) == []


def test_store_again_updates_the_same_entry(srv):
    name = fresh()
    a = store(srv, "alice", name, prompt="capital of France?", response="Paris")
    first = check(srv, "alice", name, prompt="capital of France?")[0]
    b = store(srv, "alice", name, prompt="capital of France?", response="Paris, France")
    assert a == b
    hits = check(srv, "alice", name, prompt="capital of France?", num_results=5)
    assert len(hits) == 1 and hits[0]["response"] == "Paris, France"
    assert hits[0]["inserted_at"] == first["inserted_at"]
    assert hits[0]["updated_at"] >= first["updated_at"]


def test_vectors_num_results_filters_and_return_fields(srv):
    name = fresh()
    near = unit(0)
    ids = {}
    for i, (lang, tier) in enumerate([("en", "free"), ("de", "free"), ("en", "pro")]):
        v = list(near)
        v[1 + i] = 0.05 * (i + 1)  # increasingly far from unit(0)
        ids[(lang, tier)] = store(srv, "alice", name, prompt=f"p{i}", response=f"r{i}",
                                  vector=v, filters={"lang": lang, "tier": tier})
    hits = check(srv, "alice", name, vector=near, num_results=3)
    assert [h["id"] for h in hits] == [ids[("en", "free")], ids[("de", "free")], ids[("en", "pro")]]
    assert hits[0]["vector_distance"] <= hits[1]["vector_distance"] <= hits[2]["vector_distance"]
    assert len(check(srv, "alice", name, vector=near)) == 1  # num_results defaults to 1
    en = check(srv, "alice", name, vector=near, num_results=5, filters={"lang": "en"})
    assert [h["id"] for h in en] == [ids[("en", "free")], ids[("en", "pro")]]
    pro = check(srv, "alice", name, vector=near, num_results=5,
                filters={"$and": [{"lang": "en"}, {"tier": {"$in": ["pro"]}}]})
    assert [h["id"] for h in pro] == [ids[("en", "pro")]]
    slim = check(srv, "alice", name, vector=near, return_fields=["response", "vector_distance"])
    assert set(slim[0]) == {"id", "response", "vector_distance"}
    # far away: no hit within the default distance (0.1)
    assert check(srv, "alice", name, vector=unit(7)) == []


def test_a_filtered_check_finds_an_entry_behind_many_nearer_ones(srv):
    # 300 entries of tenant A crowd the query; the one of tenant B lies within
    # the threshold but behind all of them: the filter is exact (RedisVL's
    # pre-filter), not applied to the nearest few only
    name = fresh()
    for i in range(300):
        v = unit(0)
        v[1] = 0.001 * i  # distances below 0.05
        store(srv, "alice", name, prompt=f"crowd {i}", response="A", vector=v,
              filters={"tenant": "A"})
    v = unit(0)
    v[1] = 0.6  # distance about 0.14
    lone = store(srv, "alice", name, prompt="lone", response="B", vector=v,
                 filters={"tenant": "B"})
    hits = check(srv, "alice", name, vector=unit(0), distance_threshold=0.2, num_results=3,
                 filters={"tenant": "B"})
    assert [h["id"] for h in hits] == [lone]
    assert check(srv, "alice", name, vector=unit(0), distance_threshold=0.1,
                 filters={"tenant": "B"}) == []
    nearest = check(srv, "alice", name, vector=unit(0), distance_threshold=0.2, num_results=2)
    assert [h["prompt"] for h in nearest] == ["crowd 0", "crowd 1"]

def test_delete_by_id_filter_and_clear(srv):
    name = fresh()
    a = store(srv, "alice", name, prompt="a", response="A", vector=unit(0), filters={"k": "x"})
    b = store(srv, "alice", name, prompt="b", response="B", vector=unit(1), filters={"k": "y"})
    c = store(srv, "alice", name, prompt="c", response="C", vector=unit(2), filters={"k": "y"})
    d = store(srv, "alice", name, prompt="d", response="D", vector=unit(3))
    r = api(srv, "alice", "DELETE", f"{name}/entries/{a}")
    assert r.status_code == 200 and r.json() == {"deleted": 1}
    assert_error(api(srv, "alice", "DELETE", f"{name}/entries/{a}"), 404, "not_found")
    assert check(srv, "alice", name, vector=unit(0)) == []
    r = api(srv, "alice", "POST", name + "/delete", json={"filters": {"k": "y"}})
    assert r.status_code == 200 and r.json() == {"deleted": 2}
    assert check(srv, "alice", name, vector=unit(1)) == [] and check(srv, "alice", name, vector=unit(2)) == []
    assert [h["id"] for h in check(srv, "alice", name, vector=unit(3))] == [d]
    e = store(srv, "alice", name, prompt="e", response="E", vector=unit(4))
    r = api(srv, "alice", "POST", name + "/delete", json={"ids": [e, b]})
    assert r.json() == {"deleted": 1}
    r = api(srv, "alice", "DELETE", name)
    assert r.status_code == 200 and r.json() == {"deleted": 1}
    assert check(srv, "alice", name, vector=unit(3)) == []
    assert c


def test_clearing_every_cache_entry_clears_the_semantic_caches(srv):
    name = fresh()
    store(srv, "alice", name, prompt="cleared", response="gone", vector=unit(10))
    assert len(check(srv, "alice", name, vector=unit(10))) == 1
    r = requests.delete(srv.url + "/api/v1/cache", headers={"X-API-Key": ADMIN}, timeout=30)
    assert r.status_code == 200, r.text
    assert check(srv, "alice", name, vector=unit(10)) == []


def test_isolation_between_user_keys(srv):
    name = fresh()
    eid = store(srv, "alice", name, prompt="alice's secret question", response="alice's answer")
    assert check(srv, "bob", name, prompt="alice's secret question") == []
    assert_error(api(srv, "bob", "DELETE", f"{name}/entries/{eid}"), 404, "not_found")
    assert api(srv, "bob", "DELETE", name).json() == {"deleted": 0}
    assert api(srv, "bob", "POST", name + "/delete", json={"ids": [eid]}).json() == {"deleted": 0}
    # naming another user is refused for a user-bound key; a service key may act for alice
    assert_error(api(srv, "bob", "POST", name + "/check",
                     json={"prompt": "alice's secret question", "user_id": "alice"}), 403)
    svc = check(srv, "svc", name, prompt="alice's secret question", user_id="alice")
    assert [h["id"] for h in svc] == [eid]
    assert check(srv, "svc", name, prompt="alice's secret question") == []  # shared cache
    # a read-only key checks but does not write
    assert len(check(srv, "reader", name, prompt="alice's secret question")) == 1
    assert_error(api(srv, "reader", "POST", name + "/store", json={"prompt": "p", "response": "r"}), 403)
    assert_error(api(srv, "reader", "DELETE", name), 403)
    assert len(check(srv, "alice", name, prompt="alice's secret question")) == 1


def test_ttl_expires_entries(srv):
    name = fresh()
    store(srv, "alice", name, prompt="short lived", response="soon gone", vector=unit(5), ttl=1)
    keep = store(srv, "alice", name, prompt="long lived", response="stays", vector=unit(6),
                 ttl=3600)
    wait_for(lambda: check(srv, "alice", name, vector=unit(5)) == [], "the entry to expire", timeout=20.0)
    assert [h["id"] for h in check(srv, "alice", name, vector=unit(6))] == [keep]


def test_metrics_and_stats_count_hits_and_misses(srv):
    name = fresh()
    before = srv.get("/api/v1/cache/stats", headers=srv.keys["svc"]).json()["gateway"]["semantic"]["api"]
    store(srv, "alice", name, prompt="x", response="y", vector=unit(8))
    check(srv, "alice", name, vector=unit(8))
    check(srv, "alice", name, vector=unit(9))
    after = srv.get("/api/v1/cache/stats", headers=srv.keys["svc"]).json()["gateway"]["semantic"]["api"]
    assert after["hits"] == before["hits"] + 1 and after["misses"] == before["misses"] + 1
    assert after["stores"] == before["stores"] + 1
    text = srv.get("/metrics", headers={"X-API-Key": ADMIN}).text
    assert 'ragd_semantic_cache_api_checks_total{result="hit"}' in text
    assert "ragd_semantic_cache_api_stores_total" in text


BAD = [
    ("store", {"response": "r"}, 400, "invalid_request"),
    ("store", {"prompt": "p"}, 400, "invalid_request"),
    ("store", {"prompt": "", "response": "r"}, 400, "invalid_request"),
    ("store", {"prompt": 5, "response": "r"}, 400, "invalid_request"),
    ("store", {"prompt": "p", "response": "r", "ttl": 0}, 400, "invalid_ttl"),
    ("store", {"prompt": "p", "response": "r", "ttl": 1.5}, 400, "invalid_ttl"),
    ("store", {"prompt": "p", "response": "r", "ttl": 10 ** 12}, 400, "invalid_ttl"),
    ("store", {"prompt": "p", "response": "r", "filters": ["a"]}, 400, "invalid_filters"),
    ("store", {"prompt": "p", "response": "r", "filters": {"a": {"b": 1}}}, 400, "invalid_filters"),
    ("store", {"prompt": "p", "response": "r", "filters": {"$a": "b"}}, 400, "invalid_filters"),
    ("store", {"prompt": "p", "response": "r", "vector": [1.0, 2.0]}, 400, "dimension_mismatch"),
    ("store", {"prompt": "p", "response": "r", "vector": [0.0] * DIM}, 400, "invalid_request"),
    ("store", {"prompt": "p", "response": "r", "vector": "abc"}, 400, "invalid_request"),
    ("store", {"prompt": "x" * 70000, "response": "r"}, 413, "invalid_request"),
    ("store", {"prompt": "p", "response": "r", "metadata": {"m": "x" * 70000}}, 413, "invalid_request"),
    ("check", {}, 400, "invalid_request"),
    ("check", {"prompt": "p", "num_results": 0}, 400, "invalid_request"),
    ("check", {"prompt": "p", "num_results": 101}, 400, "invalid_request"),
    ("check", {"prompt": "p", "distance_threshold": 2.5}, 400, "invalid_request"),
    ("check", {"prompt": "p", "distance_threshold": "0.1"}, 400, "invalid_request"),
    ("check", {"prompt": "p", "filters": {"a": {"$nope": 1}}}, 400, "invalid_filter"),
    ("check", {"prompt": "p", "filters": "a"}, 400, "invalid_filter"),
    ("check", {"prompt": "p", "return_fields": ["nope"]}, 400, "invalid_request"),
    ("check", {"vector": [1.0] * (DIM + 1)}, 400, "dimension_mismatch"),
    ("delete", {}, 400, "invalid_request"),
    ("delete", {"ids": ["short"]}, 400, "invalid_id"),
    ("delete", {"ids": "x"}, 400, "invalid_id"),
]


@pytest.mark.parametrize("op,body,status,code", BAD)
def test_bad_inputs(srv, op, body, status, code):
    assert_error(api(srv, "alice", "POST", f"bad/{op}", json=body), status, code)


def test_bad_names_ids_and_bodies(srv):
    assert_error(api(srv, "alice", "POST", "bad name!/check", json={"prompt": "p"}), 400, "invalid_name")
    assert_error(api(srv, "alice", "POST", "x" * 65 + "/store", json={"prompt": "p", "response": "r"}),
                 400, "invalid_name")
    assert_error(api(srv, "alice", "POST", "ok/check", data=b"{nope"), 400, "invalid_json")
    assert_error(api(srv, "alice", "POST", "ok/store", json=[1]), 400, "invalid_json")
    assert_error(api(srv, "alice", "DELETE", "ok/entries/XYZ"), 400, "invalid_id")
    assert_error(api(srv, "alice", "DELETE", "ok/entries/" + "A" * 32), 400, "invalid_id")


@pytest.fixture
def shared(redis_server):
    """Instances on one Redis db (flushed first); all cleaned up after."""
    redis_py.Redis(port=redis_server.port, db=DB + 1).flushdb()
    started = []

    def start(data_dir=None):
        s = Ragd(env={"RAGD_MODEL_DIR": MODEL_DIR, "REDIS_URL": redis_server.url(DB + 1)},
                 data_dir=data_dir).start()
        started.append(s)
        return s
    yield start
    for s in started:
        s.cleanup()


def open_call(s, method, path, **kw):
    return requests.request(method, s.url + "/api/v1/semantic-cache/" + path, timeout=60, **kw)


def test_second_instance_sees_a_stored_entry_and_a_clear(shared):
    a, b = shared(), shared()
    r = open_call(a, "POST", "faq/store", json={"prompt": "What are your opening hours?",
                                                "response": "9 to 5", "filters": {"shop": "x"}})
    assert r.status_code == 200, r.text

    def b_hits():
        r = open_call(b, "POST", "faq/check", json={"prompt": "What are your opening hours?"})
        return r.status_code == 200 and [h["response"] for h in r.json()["hits"]] == ["9 to 5"]
    wait_for(b_hits, "B to apply A's entry", timeout=20.0)
    assert open_call(b, "DELETE", "faq").json() == {"deleted": 1}

    def a_misses():
        r = open_call(a, "POST", "faq/check", json={"prompt": "What are your opening hours?"})
        return r.json()["hits"] == []
    wait_for(a_misses, "A to apply B's clear", timeout=20.0)


@pytest.mark.parametrize("backend", ["lmdb", "redis"])
def test_restart_keeps_entries(backend, redis_server):
    env = {"RAGD_MODEL_DIR": MODEL_DIR}
    if backend == "redis":
        redis_py.Redis(port=redis_server.port, db=DB + 2).flushdb()
        env["REDIS_URL"] = redis_server.url(DB + 2)
    s = Ragd(env=env).start()
    try:
        r = open_call(s, "POST", "kept/store", json={"prompt": "Where is the station?",
                                                     "response": "North", "ttl": 3600})
        assert r.status_code == 200, r.text
        s.restart()
        r = open_call(s, "POST", "kept/check", json={"prompt": "Where is the station?"})
        assert [h["response"] for h in r.json()["hits"]] == ["North"]
    finally:
        s.cleanup()


def test_unavailable_without_the_semantic_cache():
    s = Ragd(env={"RAGD_MODEL_DIR": MODEL_DIR, "RAGD_SEMANTIC_CACHE": "off"}).start()
    try:
        assert_error(open_call(s, "POST", "x/check", json={"prompt": "p"}), 503,
                     "semantic_cache_unavailable")
        assert_error(open_call(s, "DELETE", "x"), 503, "semantic_cache_unavailable")
    finally:
        s.cleanup()
